"""Where the lab's SSH gateway listens for each node: a loopback address of its own per lab (from
its name, so several labs run side by side) and a port per node. Pure: the Pulumi program puts it
in each step's connection, the lab's world starts the listeners on it (Topology.start_gateway)."""

from __future__ import annotations

import hashlib

BASE_PORT = 2201


def address(lab: str) -> str:
    """127.<a>.<b>.1 from the lab's name: inside 127.0.0.0/8, never 127.0.0.1."""
    digest = hashlib.sha256(lab.encode()).digest()
    return f"127.{1 + digest[0] % 254}.{digest[1]}.1"


def port(index: int) -> int:
    return BASE_PORT + index
