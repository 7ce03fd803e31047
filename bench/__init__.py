"""Benchmarks: measurements of the running pair, written down with how they were taken. Not tests."""
