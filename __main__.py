"""gir-lb Pulumi program: validate the stack's settings (all problems at once, before any
resource is created), render the bundle, build the pair, export what GIR needs."""

import pulumi

from blueprint.render import render_bundle
from components.aws import LoadBalancerPair
from components.stack_config import secrets_from_pulumi, settings_from_pulumi

settings = settings_from_pulumi()
secrets = secrets_from_pulumi(settings)
for warning in settings.warnings():
    pulumi.log.warn(warning)
pair = LoadBalancerPair("gir-lb", settings, render_bundle(settings), secrets)

pulumi.export("vip", str(settings.network.vip))
pulumi.export("base_url", settings.base_url)
pulumi.export("instance_ids", [i.id for i in pair.hosts.instances])
pulumi.export("private_ips", [i.private_ip for i in pair.hosts.instances])
pulumi.export("tenant_urls", settings.tenant_urls)
