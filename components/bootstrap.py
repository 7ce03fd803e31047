"""The step plan over SSH with pulumi-command: one `remote.Command` per step, on AWS and in the lab
alike (the platforms differ only in the machines they hand over). Triggers are content hashes of
what each step applies; secrets travel on stdin only; no step has a delete command, so tearing a
stack down never waits on an unreachable host; every connection pins the node's host key."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from blueprint.plan import Step, encode_stdin
from blueprint.settings import Settings


@dataclass
class Machine:
    """What the bootstrap needs of one node, whatever made it."""

    resource: pulumi.Resource  # made before any step runs on it
    host: pulumi.Input[str]  # where SSH reaches it
    host_key: pulumi.Input[str]  # its public host key (OpenSSH format): no other key is accepted
    identity: pulumi.Input[str]  # new when the machine is replaced: re-runs the steps of its node
    instance_id: pulumi.Input[str]  # its name in the fence map (fence_aws)
    port: int = 22


@dataclass
class Access:
    """How the bootstrap logs in: the user, its private key, and an optional jump host."""

    user: str
    private_key: pulumi.Input[str]
    proxy: remote.ProxyConnectionArgs | None = None


def _remote_command(step: Step, instance_ids: list[str]) -> str:
    wait = "sudo cloud-init status --wait >/dev/null || true; " if step.waits_for_first_boot else ""
    return wait + step.command(instance_ids)


class Bootstrap(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        s: Settings,
        steps: list[Step],
        machines: list[Machine],
        access: Access,
        hacluster_password: pulumi.Input[str],
        tls_pair: tuple[pulumi.Input[str], pulumi.Input[str]] | None,
        opts: pulumi.ResourceOptions | None = None,
        ready: Sequence[pulumi.Resource] = (),
    ):
        """`ready`: what every step waits for besides its machine (the VIP's reservation or routes:
        a component's depends_on does not reach its children)."""
        super().__init__("gir-lb:bootstrap:Bootstrap", name, None, opts)
        secret_of: dict[str | None, pulumi.Output | None] = {
            "hacluster_password": pulumi.Output.secret(hacluster_password),
            "tls": pulumi.Output.secret(pulumi.Output.all(*tls_pair).apply(tuple)) if tls_pair else None,
            None: None,
        }
        # The nodes' (the fence map names them); not the arbiter's: a step would then wait for it.
        instance_ids = [m.instance_id for m in machines[: len(s.cluster.nodes)]]
        self.commands: dict[str, remote.Command] = {}
        for step in steps:
            machine = machines[step.node]
            connection = remote.ConnectionArgs(
                host=machine.host,
                port=machine.port,
                host_key=machine.host_key,
                user=access.user,
                private_key=access.private_key,
                proxy=access.proxy,
            )
            create = pulumi.Output.all(*instance_ids).apply(functools.partial(_remote_command, step))
            secret = secret_of[step.stdin]
            # A step with a secret gets it after its payload: all of its stdin is then secret.
            stdin = secret.apply(functools.partial(encode_stdin, step)) if secret is not None else encode_stdin(step) or None
            self.commands[step.name] = remote.Command(
                f"{name}-{step.name}",
                connection=connection,
                create=create,
                stdin=stdin,
                triggers=[step.trigger, *(machines[i].identity for i in step.reruns_on_replace_of)],  # a new machine re-runs it
                logging=remote.Logging.STDERR if secret is not None else remote.Logging.STDOUT_AND_STDERR,
                add_previous_output_in_env=False,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[machine.resource, *ready, *[self.commands[a] for a in step.after]],
                    additional_secret_outputs=["stdout", "stdin"] if secret is not None else None,
                ),
            )
        self.register_outputs({})
