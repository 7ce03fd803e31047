"""The gir-lb Pulumi program: validate the stack's settings (all problems at once, before any
resource is created), render the bundle, build the pair on its platform (AWS, or the local lab),
export what GIR needs. `__main__.py` runs it under the Python language host."""

from pathlib import Path

import pulumi

from blueprint.render import render_bundle
from blueprint.stack_config import SettingsError
from blueprint.stacks import stack_file
from components.stack_config import secrets_from_pulumi, settings_from_pulumi


def run() -> None:
    try:
        settings = settings_from_pulumi()
        problems = settings.deploy_problems()
        secrets: dict = {}
        if settings.platform == "aws":
            try:
                secrets = secrets_from_pulumi(settings)
            except SettingsError as e:
                problems += e.problems
        if problems:
            raise SettingsError(problems, source=f"stack {pulumi.get_stack()}")
        for warning in settings.warnings():
            pulumi.log.warn(warning)
        bundle = render_bundle(settings)
        if settings.platform == "lab":
            from components.lab import LabPair  # the lab's pieces only where they run

            config_file = stack_file(pulumi.get_stack(), project=Path.cwd())
            LabPair("gir-lb", settings, bundle, config_file)
        else:
            from components.aws import LoadBalancerPair

            # The pair checks the subnet and the address pool against AWS before it registers anything.
            pair = LoadBalancerPair("gir-lb", settings, bundle, secrets)
            pulumi.export("instance_ids", [i.id for i in pair.hosts.instances])
            pulumi.export("private_ips", [i.private_ip for i in pair.hosts.instances])
    except SettingsError as e:
        raise pulumi.RunError(str(e)) from None  # the key-path list, without a Python traceback

    pulumi.export("vip", str(settings.network.vip))
    pulumi.export("base_url", settings.base_url)
    pulumi.export("tenant_urls", settings.tenant_urls)
