"""The lab as a Pulumi platform: its boxes are `command.local.Command` resources (`python -m lab
world|node …`, run as root on this machine), and the same Bootstrap as on AWS runs the step plan
over SSH, through the lab's loopback SSH gateway, pinning each node's host key.

What differs from AWS and why, in one place: the pulumi-random and pulumi-tls providers cannot be
built here (bridged Terraform providers), so the lab makes its hacluster password and SSH keys with
`local.Command`s (ssh-keygen, Python's secrets) whose output is a Pulumi secret."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pulumi
from pulumi_command import local

from blueprint.plan import build_plan
from blueprint.render import Bundle
from blueprint.settings import Settings
from components.bootstrap import Access, Bootstrap, Machine
from lab.gateway import address as gateway_address
from lab.gateway import port as gateway_port
from lab.topology import machines as lab_machines

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
KEY_PAIR = 'd=$(mktemp -d) && ssh-keygen -q -t ed25519 -N "" -C gir-lb-lab -f "$d/k" && cat "$d/k.pub" "$d/k" && rm -rf "$d"'
PASSWORD = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


def _lab_command(*args: str) -> str:
    return shlex.join([str(PYTHON if PYTHON.exists() else Path(sys.executable)), "-m", "lab", *args])


def _split_pair(stdout: str) -> tuple[str, str]:
    """(public key line, private key) from KEY_PAIR's output."""
    public, _, private = stdout.partition("\n")
    return public.strip(), private


class KeyPair(pulumi.ComponentResource):
    """An ed25519 key pair from ssh-keygen: the public half as plain text, the private one a secret."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gir-lb:lab:KeyPair", name, None, opts)
        made = local.Command(
            name,
            create=KEY_PAIR,
            logging=local.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stdout"]),
        )
        pair = made.stdout.apply(_split_pair)
        self.resource = made
        self.public_key: pulumi.Output[str] = pulumi.Output.unsecret(pair.apply(lambda p: p[0]))
        self.private_key: pulumi.Output[str] = pulumi.Output.secret(pair.apply(lambda p: p[1]))
        self.register_outputs({"public_key": self.public_key})


class LabPair(pulumi.ComponentResource):
    def __init__(self, name: str, s: Settings, bundle: Bundle, config_file: Path, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gir-lb:lab:LabPair", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        lab = pulumi.get_stack()
        password = local.Command(
            f"{name}-hacluster-password",
            create=PASSWORD,
            logging=local.Logging.NONE,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stdout"]),
        )
        client_key = KeyPair(f"{name}-ssh-key", child)
        # The switch, client, fake members, EC2 emulator (lab-aws) and the SSH gateway. The fake
        # members are started from the stack's members when the lab is made; like real GIR servers
        # they are not the balancer's to change (a member added later: lab.topology.start_member).
        world = local.Command(
            f"{name}-world",
            create=_lab_command("world", "up", "--name", lab, "--config", str(config_file)),
            delete=_lab_command("world", "down", "--name", lab),
            opts=child,
        )
        machines = []
        for index, (box_name, _) in enumerate(lab_machines(s)):  # the nodes, then the arbiter
            host_key = KeyPair(f"{name}-{box_name}-host-key", child)
            keys: pulumi.Output[str] = pulumi.Output.secret(
                pulumi.Output.all(host_key.private_key, client_key.public_key).apply(
                    lambda k: json.dumps({"host_key": k[0], "authorized_key": k[1]})
                )
            )
            box = local.Command(
                f"{name}-{box_name}",
                create=_lab_command("node", "up", "--name", lab, "--index", str(index)),
                update=_lab_command("node", "keys", "--name", lab, "--index", str(index)),
                delete=_lab_command("node", "down", "--name", lab, "--index", str(index)),
                stdin=keys,
                logging=local.Logging.STDERR,
                # a new machine keeps the node's name and IP: the old one must be gone first
                opts=pulumi.ResourceOptions(parent=self, depends_on=[world], delete_before_replace=True),
            )
            booted = box.stdout.apply(json.loads)
            machines.append(
                Machine(
                    resource=box,
                    host=gateway_address(lab),
                    port=gateway_port(index),
                    host_key=host_key.public_key,
                    identity=booted.apply(lambda b: b["machine_id"]),
                    instance_id=booted.apply(lambda b: b["instance_id"]),
                )
            )
        self.bootstrap = Bootstrap(
            f"{name}-boot",
            s,
            build_plan(s, bundle),
            machines,
            Access(user="root", private_key=client_key.private_key),  # a lab node has no other user
            password.stdout.apply(str.strip),
            None,
            child,
        )
        self.register_outputs({})
