"""Test harnesses that the tests and the benchmarks both use (pulumi_mocks: the Pulumi program
under pulumi.runtime mocks)."""
