"""The lab's EC2 as the rest of the lab sees it: which stacks need it, where its API and metadata
service answer, and what a lab node gets on its disk to reach them (LAB_ONLY). The emulator itself
(moto extended, the metadata service, the process in the ec2 box) is lab/ec2_emulator.py."""

from __future__ import annotations

import importlib.util
import ipaddress
import sys
from pathlib import Path

from blueprint.settings import Settings

API_PORT = 5000
IMDS_IP = "169.254.169.254"
ROLE = "gir-lb-agents"  # the role whose credentials the metadata service hands the nodes
VENV = Path(sys.prefix)

# Everything a lab node gets from here that an EC2 instance has by itself: the only differences
# between the lab-aws stack and an AWS stack of the same settings (resources.sh is the same file).
LAB_ONLY = {
    "EC2 API endpoint": f"moto at http://<.240 of services_subnet>:{API_PORT}, handed to the agents as AWS_ENDPOINT_URL"
    " in /etc/default/pacemaker (Pacemaker's environment file; the agents inherit it)",
    "instance metadata": f"IMDSv2 at {IMDS_IP} (token required) served from the ec2 box, reached by an on-link"
    " route on each node (vip_mode overlay: through the lab's VPC router); it tells each node its own instance"
    " id, MAC, ENI and role credentials",
    "aws CLI": "/usr/bin/aws on the node runs awscli v1 from requirements-lab.txt: Debian 12's awscli 2.9"
    " ignores endpoint settings",
    "boto3 for fence_aws": "PYTHONPATH in /etc/default/pacemaker puts the venv's boto3 first: Debian 12's"
    " boto3 1.26 ignores AWS_ENDPOINT_URL (fence_aws has no endpoint option)",
    "power": "StopInstances kills the node's box at once; on AWS a forced stop takes seconds to minutes",
}


def routed(s: Settings) -> bool:
    """vip_mode overlay: the nodes in two subnets and the lab's boxes in a third, joined by the lab's
    VPC router (lab/topology.py), instead of one L2 segment."""
    return s.network.vip_mode == "overlay"


def services_subnet(s: Settings) -> ipaddress.IPv4Network:
    """Where the client, the fake members and the EC2 emulator live: the nodes' subnet, or on a
    routed lab the first of client_cidrs (a subnet of its own, like the GIR servers' on AWS)."""
    return s.network.client_cidrs[0] if routed(s) else s.network.subnet_cidr


def api_ip(s: Settings) -> str:
    return str(services_subnet(s).network_address + 240)


def endpoint(s: Settings) -> str:
    return f"http://{api_ip(s)}:{API_PORT}"


def emulated(s: Settings) -> bool:
    """A lab stack that needs the EC2 emulator."""
    return s.network.vip_mode != "l2" or s.fencing


def missing() -> str | None:
    """What the emulator and the nodes' agents need that this Python has not."""
    if importlib.util.find_spec("moto") is None or not (VENV / "bin" / "aws").exists():
        return "moto and awscli are not installed: scripts/lab.sh installs them (requirements-lab.txt)"
    return None


def node_files(s: Settings) -> dict[str, tuple[str, int]]:
    """path -> (content, mode) written on a lab node's disk (LAB_ONLY)."""
    site_packages = next(VENV.glob("lib/python3*/site-packages"))
    pacemaker_env = (
        "# gir-lb lab (lab/ec2.py): the EC2 emulator stands in for the EC2 API\n"
        f"AWS_ENDPOINT_URL={endpoint(s)}\n"
        f"PYTHONPATH={site_packages}\n"
    )
    aws = f'#!/bin/sh\n# gir-lb lab (lab/ec2.py): awscli v1, which honours AWS_ENDPOINT_URL\nexec {VENV}/bin/aws "$@"\n'
    return {"/etc/default/pacemaker": (pacemaker_env, 0o644), "/usr/bin/aws": (aws, 0o755)}


def imds_route(node_ip: str, via: str | None = None) -> list[str]:
    """The route a node reaches the metadata service by (from its own address): on-link, or on a
    routed lab through the router's address on the node's segment (`via`)."""
    gateway = ["via", via] if via else []
    return ["ip", "route", "replace", f"{IMDS_IP}/32", *gateway, "dev", "eth0", "src", node_ip]
