"""The gir-lb Pulumi program: validate the stack's settings (all problems at once, before any
resource is created), render the bundle, build the pair, export what GIR needs. `__main__.py`
runs it under the Python language host; `python -m engine` runs the same function through the
Pulumi CLI as an inline Automation API program."""

import pulumi

from blueprint.render import render_bundle
from blueprint.stack_config import SettingsError
from components.aws import LoadBalancerPair
from components.stack_config import secrets_from_pulumi, settings_from_pulumi


def run() -> None:
    try:
        settings = settings_from_pulumi()
        problems = settings.deploy_problems()
        try:
            secrets = secrets_from_pulumi(settings)
        except SettingsError as e:
            problems += e.problems
        if problems:
            raise SettingsError(problems, source=f"stack {pulumi.get_stack()}")
        for warning in settings.warnings():
            pulumi.log.warn(warning)
        # The pair checks the subnet and the address pool against AWS before it registers anything.
        pair = LoadBalancerPair("gir-lb", settings, render_bundle(settings), secrets)
    except SettingsError as e:
        raise pulumi.RunError(str(e)) from None  # the key-path list, without a Python traceback

    pulumi.export("vip", str(settings.network.vip))
    pulumi.export("base_url", settings.base_url)
    pulumi.export("instance_ids", [i.id for i in pair.hosts.instances])
    pulumi.export("private_ips", [i.private_ip for i in pair.hosts.instances])
    pulumi.export("tenant_urls", settings.tenant_urls)
