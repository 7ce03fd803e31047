"""The gir-lb Pulumi program: validate the stack's settings (all problems at once, before any
resource is created), render the bundle, build the pair on its platform (AWS, or the local lab),
export what GIR needs. `__main__.py` runs it under the Python language host."""

from pathlib import Path

import pulumi

from blueprint.render import render_bundle
from blueprint.stack_config import SettingsError
from blueprint.stacks import stack_file
from components.stack_config import secrets_from_pulumi, settings_from_pulumi

# The language host's code for "the program showed the user an actionable error": with it the
# CLI prints the settings problems once. A RunError exits 1, and the CLI then adds
# "an unhandled error occurred: program exited with non-zero exit code: 1".
ERROR_SHOWN_EXIT_CODE = 32


class SettingsRefused(SystemExit):
    """The stack's settings problems, already logged as one error: the program stops here."""

    def __init__(self, message: str):
        super().__init__(ERROR_SHOWN_EXIT_CODE)
        self.message = message

    def __str__(self) -> str:
        return self.message


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
        pulumi.log.error(str(e))  # the key-path list, without a Python traceback
        raise SettingsRefused(str(e)) from None

    pulumi.export("vip", str(settings.network.vip))
    pulumi.export("base_url", settings.base_url)
    pulumi.export("tenant_urls", settings.tenant_urls)
    if qd := settings.cluster.quorum_device:  # the arbiter gir-lb made, or the existing one it votes with
        pulumi.export("arbiter_address", str(qd.address))
