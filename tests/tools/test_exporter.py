"""gir-lb-exporter's cluster metrics from what the real `crm_mon --output-as=xml` prints about a CIB
that the real `pcs -f` built from the rendered resources and `crm_simulate` ran: both nodes up, a
failed httpd monitor (restarted in place), a VIP failure that bans the VIP from its node."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from blueprint import exporter
from blueprint.stack_config import parse_settings
from tests import real_programs
from tests.conftest import stack_config, write_tree

FAKE_IDS = ("i-0123456789abcdef0", "i-0fedcba9876543210")


def metrics(cib: Path, vip: str = "virtual_ip") -> dict[tuple, float]:
    xml = subprocess.run(
        ["crm_mon", "--output-as=xml", "--include=all", "--fence-history=2"],
        capture_output=True, text=True, check=True, env={**os.environ, "CIB_file": str(cib)},
    ).stdout  # fmt: skip
    return {(name, labels): value for name, labels, value in exporter.cluster_state(xml, vip)}


def value(found: dict[tuple, float], name: str, **labels: str) -> float:
    return found[(name, tuple(sorted(labels.items())))]


@pytest.fixture(params=["lab", "lab-aws"])
def running(request, tmp_path):
    """The stack's CIB with both nodes up (the active node first)."""
    s = parse_settings(stack_config(request.param))
    tree = write_tree(s, tmp_path / "tree")
    cib = tmp_path / "cib.xml"
    done = real_programs.pcs_build(tree / "cluster/resources.sh", cib, *(FAKE_IDS if s.fencing else ()))
    assert done.returncode == 0, done.stderr
    nodes = [n.name for n in s.cluster.nodes]
    up = real_programs.crm_simulate(cib, "--in-place", *[f"--node-up={n}" for n in nodes], shadow_dir=tmp_path / "shadow")
    assert up.returncode == 0, up.stderr
    active = real_programs.placement(up.stdout)["webserver"]
    return s, cib, [active, *[n for n in nodes if n != active]]


def test_both_nodes_up_the_vip_on_the_active_node_and_nothing_failed(running):
    s, cib, (active, standby) = running
    on_active = metrics(cib)
    assert value(on_active, "gir_lb_cluster_vip_on", node=active) == 1
    assert value(on_active, "gir_lb_cluster_vip_on", node=standby) == 0
    vip_parts = ["vip_aws", "vip_addr"] if s.network.vip_mode == "aws" else ["virtual_ip"]
    for resource in [*vip_parts, "webserver"]:
        assert value(on_active, "gir_lb_cluster_resource_running", resource=resource, node=active) == 1
        assert value(on_active, "gir_lb_cluster_resource_running", resource=resource, node=standby) == 0
    for node in (active, standby):
        assert value(on_active, "gir_lb_cluster_node_online", node=node) == 1
        assert value(on_active, "gir_lb_cluster_fail_count", resource="webserver", node=node) == 0
    assert value(on_active, "gir_lb_cluster_failed_actions") == 0
    assert value(on_active, "gir_lb_cluster_fencing_failed") == 0 == value(on_active, "gir_lb_cluster_fencing_pending")


def test_a_failed_httpd_monitor_counts_and_a_failed_vip_is_banned_from_its_node(running, tmp_path):
    s, cib, (active, standby) = running
    shadow = tmp_path / "shadow"
    restarted = real_programs.crm_simulate(
        cib, "--in-place", f"--op-inject=webserver_monitor_{s.cluster.httpd_monitor_s * 1000}@{active}=7", shadow_dir=shadow
    )
    assert restarted.returncode == 0, restarted.stderr
    found = metrics(cib)
    assert value(found, "gir_lb_cluster_fail_count", resource="webserver", node=active) == 1
    assert value(found, "gir_lb_cluster_resource_banned", resource="webserver", node=active) == 0  # threshold 10
    assert value(found, "gir_lb_cluster_failed_actions") == 1 and value(found, "gir_lb_cluster_vip_on", node=active) == 1

    vip = "vip_addr" if s.network.vip_mode == "aws" else "virtual_ip"
    moved = real_programs.crm_simulate(
        cib, "--in-place", f"--op-inject={vip}_monitor_{s.cluster.vip_monitor_s * 1000}@{active}=7", shadow_dir=shadow
    )
    assert moved.returncode == 0, moved.stderr
    on_active = metrics(cib)
    assert value(on_active, "gir_lb_cluster_resource_banned", resource=vip, node=active) == 1  # migration-threshold 1
    assert value(on_active, "gir_lb_cluster_resource_banned", resource=vip, node=standby) == 0
    assert value(on_active, "gir_lb_cluster_vip_on", node=active) == 0
    assert value(on_active, "gir_lb_cluster_vip_on", node=standby) == 1


def test_a_stopped_node_is_offline_and_the_partition_without_dc_is_not_quorate(running, tmp_path):
    _, cib, (active, standby) = running
    down = real_programs.crm_simulate(cib, "--in-place", f"--node-down={standby}", shadow_dir=tmp_path / "shadow")
    assert down.returncode == 0, down.stderr
    found = metrics(cib)
    assert value(found, "gir_lb_cluster_node_online", node=standby) == 0
    assert value(found, "gir_lb_cluster_node_online", node=active) == 1
    # A CIB file has no DC (no live cluster): the exporter must not call that quorate.
    assert value(found, "gir_lb_cluster_quorate") == 0


def test_the_exporter_keeps_to_python_3_6():
    """RHEL 8 runs it with platform-python 3.6: its grammar must parse as 3.6."""
    source = Path(exporter.__file__).read_text()
    ast.parse(source, feature_version=(3, 6))
    assert "from __future__ import annotations" not in source  # 3.7+
    assert "dataclass" not in source and "capture_output" not in source  # 3.7+
