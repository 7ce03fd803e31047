"""The safety settings of the cluster, read from the CIB that the rendered resources.sh builds with
the real `pcs -f` and from the transition `crm_simulate` runs on it, never from the script's text:
the monitor intervals of httpd and the VIP, the fencing priority (the node running httpd is
fenced last in a split; with a quorum device no delay and no priority: the arbiter settles a
split), the VIP's address and netmask, and the VIP started before httpd."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from blueprint.stack_config import parse_settings
from tests import real_programs
from tests.conftest import STACK_NAMES, base_config, stack_config, write_tree

FAKE_IDS = ("i-0123456789abcdef0", "i-0fedcba9876543210")

CASES = {
    **{f"stack-{n}": stack_config(n) for n in STACK_NAMES},
    "rhel9-timers": base_config("rhel9", cluster={
        "name": "gir-lb-test", "nodes": [{"name": "lb-a", "ip": "10.0.1.11"}, {"name": "lb-b", "ip": "10.0.1.12"}],
        "httpd_monitor_s": 7, "vip_monitor_s": 3, "fencing": {"mode": "fence_aws", "delay_s": 42},
    }),
    "rhel6-l2": base_config("rhel6"),
    "debian12-l2": base_config("debian12"),
}  # fmt: skip


def with_arbiter(cfg: dict, address: str) -> dict:
    cfg["cluster"]["fencing"] = {"mode": "fence_aws"}  # no priority-fencing-delay beside a device
    cfg["cluster"]["quorum_device"] = {"address": address, "create": True}
    return cfg


# With a quorum device whose arbiter gir-lb makes: an aws stack (rhel9) and the lab-aws stack (debian12).
CASES["rhel9-quorum-device"] = with_arbiter(base_config("rhel9"), "10.0.1.20")
CASES["lab-aws-quorum-device"] = with_arbiter(stack_config("lab-aws"), "198.18.0.30")


class Cib:
    def __init__(self, path: Path):
        self.root = ET.parse(path).getroot()

    def primitive(self, rid: str) -> ET.Element:
        found = self.root.find(f".//primitive[@id='{rid}']")
        assert found is not None, rid
        return found

    def monitor_interval(self, rid: str) -> str:
        ops = [op.get("interval") for op in self.primitive(rid).iter("op") if op.get("name") == "monitor"]
        assert len(ops) == 1, ops
        return str(ops[0])

    def params(self, rid: str, kind: str = "instance_attributes") -> dict[str, str]:
        blocks = self.primitive(rid).iter(kind)
        return {nv.get("name", ""): nv.get("value", "") for block in blocks for nv in block.iter("nvpair")}

    def property(self, name: str) -> str | None:
        found = [nv.get("value") for nv in self.root.iter("nvpair") if nv.get("name") == name]
        found = [v for v in found if v is not None]
        assert len(found) <= 1, found
        return found[0] if found else None


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The settings and the CIB of a case, built once per module (pcs takes a second or two)."""
    cache: dict[str, tuple] = {}

    def build(case: str):
        if case not in cache:
            folder = tmp_path_factory.mktemp(case)
            s = parse_settings(CASES[case])
            tree = write_tree(s, folder / "tree")
            cib = folder / "cib.xml"
            done = real_programs.pcs_build(tree / "cluster/resources.sh", cib, *(FAKE_IDS if s.fencing else ()))
            assert done.returncode == 0, done.stderr
            cache[case] = (s, cib)
        return cache[case]

    return build


@pytest.mark.parametrize("case", CASES)
def test_monitors_fencing_priority_and_the_vip_come_from_the_settings(built, case):
    s, path = built(case)
    cib = Cib(path)
    assert cib.monitor_interval("webserver") == f"{s.cluster.httpd_monitor_s}s"
    ip_resource = "vip_addr" if s.network.vip_mode == "aws" else "virtual_ip"
    assert cib.monitor_interval(ip_resource) == f"{s.cluster.vip_monitor_s}s"
    if s.network.vip_mode == "overlay":  # one agent routes the VIP and adds it to eth0
        assert cib.primitive("virtual_ip").get("type") == "aws-vpc-move-ip"
        assert cib.params("virtual_ip") == {
            "ip": str(s.network.vip), "routing_table": ",".join(s.network.route_table_ids), "interface": "eth0",
            "monapi": "true", "lookup_type": "NetworkInterfaceId", "region": s.network.region,
        }  # fmt: skip
    else:
        assert cib.params(ip_resource) == {**cib.params(ip_resource), "ip": str(s.network.vip),
                                           "cidr_netmask": str(s.network.subnet_cidr.prefixlen)}  # fmt: skip
    if s.network.vip_mode == "aws":
        assert cib.monitor_interval("vip_aws") == f"{s.cluster.vip_monitor_s}s"
        assert cib.params("vip_aws")["secondary_private_ip"] == str(s.network.vip)
    priority = cib.params("webserver", "meta_attributes").get("priority")
    if s.fencing and s.cluster.quorum_device is not None:  # the arbiter settles a split: no race to delay
        assert cib.property("stonith-enabled") == "true"
        assert cib.property("priority-fencing-delay") == "0s" and priority is None
    elif s.fencing:
        assert cib.property("stonith-enabled") == "true"
        assert cib.property("priority-fencing-delay") == f"{s.cluster.fencing.delay_s}s" and priority == "1"
    else:
        assert cib.property("stonith-enabled") == "false" and priority is None


def starts_and_their_prerequisites(graph: Path) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """For each start in crm_simulate's transition graph, (resource, node) -> every start that must
    finish before it (its inputs, followed to the end). The graph holds only the orderings the
    constraints make; the order in which the simulator happened to print actions proves nothing."""
    root = ET.parse(graph).getroot()
    inputs: dict[str, set[str]] = {}
    names: dict[str, tuple[str, str]] = {}
    for synapse in root.iter("synapse"):
        action = synapse.findall("action_set/*")[0]
        inputs[action.get("id", "")] = {op.get("id", "") for trigger in synapse.iter("trigger") for op in trigger}
        key = action.get("operation_key", "")
        if action.tag == "rsc_op" and action.get("operation") == "start":
            names[action.get("id", "")] = (key.removesuffix("_start_0"), action.get("on_node", ""))

    def before(aid: str, seen: set[str]) -> set[str]:
        for parent in inputs.get(aid, set()) - seen:
            seen.add(parent)
            before(parent, seen)
        return seen

    return {name: {names[a] for a in before(aid, set()) if a in names} for aid, name in names.items()}


@pytest.mark.parametrize("case", CASES)
def test_the_vip_is_up_before_httpd_starts_and_after_it_stops(built, tmp_path, case):
    """crm_simulate plans both nodes coming up, then the active one failing: each time httpd's start
    waits for the start of every VIP resource, on the same node (read from the transition graph)."""
    s, built_cib = built(case)
    cib = tmp_path / "cib.xml"
    cib.write_bytes(built_cib.read_bytes())  # --in-place changes it
    vip = ["vip_aws", "vip_addr"] if s.network.vip_mode == "aws" else ["virtual_ip"]
    nodes = [n.name for n in s.cluster.nodes]
    shadow, graph = tmp_path / "shadow", tmp_path / "graph.xml"
    up = real_programs.crm_simulate(
        cib, "--in-place", *[f"--node-up={n}" for n in nodes], "--save-graph", str(graph), shadow_dir=shadow
    )
    assert up.returncode == 0, up.stderr
    (httpd_start,) = [k for k in starts_and_their_prerequisites(graph) if k[0] == "webserver"]
    active = httpd_start[1]
    assert {(r, active) for r in vip} <= starts_and_their_prerequisites(graph)[httpd_start], up.stdout
    failed = real_programs.crm_simulate(cib, f"--node-fail={active}", "--save-graph", str(graph), shadow_dir=shadow)
    assert failed.returncode == 0, failed.stderr
    plan = starts_and_their_prerequisites(graph)
    (survivor,) = set(nodes) - {active}
    assert {(r, survivor) for r in vip} <= plan[("webserver", survivor)], failed.stdout


def test_the_quorum_device_cases_build_a_cib_without_delay_or_priority(built):
    """The cases above include stacks with a device (a stack file may too): both reach the branch."""
    for case in ("rhel9-quorum-device", "lab-aws-quorum-device"):
        s, path = built(case)
        cib = Cib(path)
        assert s.cluster.quorum_device is not None and s.fencing
        assert cib.property("priority-fencing-delay") == "0s" and "priority" not in cib.params("webserver", "meta_attributes")


def test_a_changed_vip_mode_leaves_none_of_the_old_modes_resources(tmp_path):
    """resources.sh of one VIP mode run on the CIB another mode built (as `pulumi up` after a
    change of network.vip_mode): only the new mode's VIP resources remain, and the CIB verifies."""
    aws = stack_config("dev")
    overlay = stack_config("dev-multi-az")
    cib = tmp_path / "cib.xml"
    for step, cfg in enumerate((aws, overlay, aws)):
        s = parse_settings(cfg)
        tree = write_tree(s, tmp_path / f"tree-{step}")
        done = real_programs.pcs_build(tree / "cluster/resources.sh", cib, *FAKE_IDS)
        assert done.returncode == 0, done.stderr
        primitives = {p.get("id"): p.get("type") for p in ET.parse(cib).getroot().iter("primitive")}
        expected_vip = (
            {"virtual_ip": "aws-vpc-move-ip"} if s.network.vip_mode == "overlay" else {"vip_aws": "awsvip", "vip_addr": "IPaddr2"}
        )
        assert primitives == {"webserver": "apache", "fence_nodes": "fence_aws", **expected_vip}, step
        verified = real_programs.crm_verify(cib)
        assert verified.returncode == 0, verified.stdout + verified.stderr
