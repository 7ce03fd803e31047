"""CrossGuard entry point: `pulumi preview --policy-pack policy` (the CLI runs this directory,
so `guardrails` imports as a top-level module)."""

from guardrails import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="gir-lb-guardrails", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
