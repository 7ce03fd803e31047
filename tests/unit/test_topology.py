"""The topology picture (docs/topology.png) is drawn from text generated from the dev stack, so
it stays current: the committed DOT must equal what the generator makes now."""

from __future__ import annotations

from blueprint.stack_config import load_stack
from blueprint.topology import topology_dot
from tests.conftest import REPO


def dev_dot() -> str:
    return topology_dot(load_stack(str(REPO / "stacks" / "Pulumi.dev.yaml")), "dev")


def test_the_committed_topology_is_current():
    assert (REPO / "docs" / "topology.dot").read_text() == dev_dot(), "run scripts/topology.sh"


def test_the_topology_shows_the_vip_the_nodes_every_member_and_the_ssh_path():
    s = load_stack(str(REPO / "stacks" / "Pulumi.dev.yaml"))
    dot = dev_dot()
    assert f"VIP {s.network.vip}" in dot and all(str(n.ip) in dot for n in s.cluster.nodes)
    assert all(m.url in dot for t in s.tenants for _, _, m in t.members)
    assert "SSH: step plan" in dot and "corosync" in dot
