"""gir-lb Pulumi program: validate the stack's settings (all problems at once, before any
resource is created), render the bundle, and build the pair."""

import pulumi

from components.render import render_bundle
from components.stack_config import settings_from_pulumi

settings = settings_from_pulumi()
for warning in settings.warnings():
    pulumi.log.warn(warning)
bundle = render_bundle(settings)
# The AWS resources and the bootstrap steps are built from `settings` and `bundle` (issue 3).
pulumi.export("vip", str(settings.network.vip))
pulumi.export("tenants", [t.id for t in settings.tenants])
