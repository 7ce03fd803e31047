"""A quorum device in the lab (stacks/Pulumi.lab-arbiter.yaml: lab-aws's AWS failover path plus an
arbiter box running corosync-qnetd on the lab switch), under a probe of the VIP every 100 ms.
Ground truth comes from corosync (quorum, votes), Pacemaker's log (fencing delays), the EC2
emulator's history (who was fenced, where the VIP went) and the probe (which node answered).
Downtime bounds are sanity limits; the measurements are bench failover's (docs/benchmarks.md)."""

from __future__ import annotations

import os
import time

import pytest
import yaml

from lab.boxes import Box, wait_for
from lab.probing import downtime
from lab.runner import Lab
from lab.topology import ARBITER

SANITY_S = 30
PACEMAKER_LOG = "/var/log/pacemaker/pacemaker.log"


@pytest.fixture(scope="module")
def lab():
    lab = Lab(f"cq{os.getpid()}", stack="lab-arbiter")
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def quorum(node: Box) -> dict[str, str]:
    """corosync-quorumtool's summary on `node` (Quorate, Total votes, Flags, ...)."""
    out = node.run("corosync-quorumtool", "-s").stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def other_than(lab: Lab, name: str) -> str:
    return next(n.name for n in lab.settings.cluster.nodes if n.name != name)


def instance_of(lab: Lab, name: str) -> str:
    world = lab.ec2_world
    assert world is not None
    return next(n["instance_id"] for n in world["nodes"] if n["name"] == name)


def log_size(node: Box) -> int:
    return int(node.run("stat", "-c", "%s", PACEMAKER_LOG, check=True).stdout)


def fencing_delays(node: Box, since: int) -> list[str]:
    """The fencer's "Delaying 'reboot' action ... for Ns" lines written after byte `since`."""
    tail = node.run("tail", "-c", f"+{since + 1}", PACEMAKER_LOG, check=True).stdout
    return [line for line in tail.splitlines() if "Delaying '" in line]


def serve_on(lab: Lab, name: str) -> None:
    """Moves the VIP group (and webserver with it) to node `name`, then forgets the move."""
    node = lab.running_node()
    node.run("pcs", "resource", "move", "virtual_ip", name, "--wait=60", check=True, timeout=90)
    node.run("pcs", "resource", "clear", "virtual_ip", check=True, timeout=60)
    wait_for(f"webserver on {name}", lambda: lab.where("webserver") == name, 60, 0.5)
    lab.wait_serving(30)


def test_the_arbiter_gives_the_third_vote_and_no_fencing_delay_is_set(lab):
    for node in lab.nodes:
        q = quorum(node)
        assert (q["Quorate"], q["Expected votes"], q["Total votes"]) == ("Yes", "3", "3"), q
        assert "Qdevice" in q["Flags"]
    clients = lab.box(ARBITER).run("corosync-qnetd-tool", "-l", check=True).stdout
    assert f'Cluster "{lab.settings.cluster.name}"' in clients and clients.count("Node ID") == 2
    prop = lab.running_node().run("pcs", "property", "config", "priority-fencing-delay", check=True).stdout
    assert "priority-fencing-delay: 0s" in prop
    webserver = lab.running_node().run("pcs", "resource", "config", "webserver", check=True).stdout
    assert "migration-threshold" in webserver and "priority" not in webserver  # no race to settle


def test_every_step_again_changes_nothing(lab):
    active = lab.where("webserver")
    probe = lab.start_probe(max_seconds=120)
    ran = lab.rerun_every_step()  # a new SSH key: every step runs again, the arbiter's too
    rows = probe.stop()
    assert "nothing to do" in ran["quorum-device"] and "corosync-qnetd runs" in ran["arbiter-prepare"]
    assert lab.where("webserver") == active
    assert len(rows) > 50 and [r for r in rows if r.status != 200] == []
    assert lab.apply(lab.stack_file) == {}


def test_a_changed_device_setting_reaches_both_nodes(lab, tmp_path):
    """timeout_ms 2000 -> 3000: the step replaces the device; qdevice's heartbeat (0.8 x timeout) on
    both nodes is read back."""
    doc = yaml.safe_load(lab.stack_file.read_text())
    doc["config"]["gir-lb:cluster"]["quorum_device"]["timeout_ms"] = 3000
    changed = tmp_path / lab.stack_file.name
    changed.write_text(yaml.safe_dump(doc))
    try:
        assert "quorum-device" in lab.apply(changed)
        for node in lab.nodes:
            assert "HB interval:\t\t3000ms" in node.run("corosync-qdevice-tool", "-sv", check=True).stdout
    finally:
        assert "quorum-device" in lab.apply(lab.stack_file)
    for node in lab.nodes:
        assert "HB interval:\t\t2000ms" in node.run("corosync-qdevice-tool", "-sv", check=True).stdout


def test_active_node_loss_fences_at_once_and_serves(lab):
    active = lab.where("webserver")
    survivor = other_than(lab, active)
    since = log_size(lab.box(survivor))
    result = lab.failover("node")
    assert result.serving_on == survivor
    assert result.downtime is not None and result.downtime < SANITY_S, result.downtime
    fenced = [e for e in result.ec2 if e["event"] == "stop"]
    assert [e["instance"] for e in fenced] == [instance_of(lab, active)]
    assert fencing_delays(lab.box(survivor), since) == []
    print(f"node loss with a quorum device: {result.downtime:.2f}s without service")


def test_a_split_keeps_the_serving_side_even_against_the_tie_breaker(lab):
    # tie_breaker lowest favours nodes[0]: serve from nodes[1], so only the heuristic (the node
    # holding the VIP passes) can make the arbiter vote for the serving side.
    high = lab.settings.cluster.nodes[1].name
    serve_on(lab, high)
    result = lab.failover("split")
    assert result.downtime == 0, downtime(result.rows, result.at)
    assert result.serving_on == high
    assert {r.via for r in result.rows if r.status == 200} == {str(lab.settings.cluster.nodes[1].ip)}
    fenced = [e["instance"] for e in result.ec2 if e["event"] == "stop"]
    assert fenced == [instance_of(lab, other_than(lab, high))]


def test_the_arbiter_down_changes_nothing_and_status_says_so(lab):
    lab.stop_arbiter()
    try:
        probe = lab.start_probe(max_seconds=120)
        wait_for("qdevice to notice", lambda: "UNREACHABLE" in (lab.quorum_device_report() or ""), 60, 1)
        # both nodes' exporters say the arbiter's vote is gone; the alert fires after its 30 s
        fired = lambda: {a.get("node") for a in lab.watch.alerts() if a["alertname"] == "GirLbArbiterUnreachable"}  # noqa: E731
        wait_for("GirLbArbiterUnreachable for both nodes", lambda: fired() == {n.name for n in lab.settings.cluster.nodes}, 90, 2)
        rows = probe.stop()
        assert rows and all(r.status == 200 for r in rows), [r for r in rows if r.status != 200][:3]
        for node in lab.nodes:
            assert quorum(node)["Quorate"] == "Yes"  # two votes of three
        report = lab.status()
        assert "UNREACHABLE" in report["arbiter"]
    finally:
        lab.start_arbiter()
    wait_for("the arbiter to vote again", lambda: "connected" in (lab.quorum_device_report() or ""), 60, 1)


def test_with_the_arbiter_down_a_lost_node_stops_the_service_until_the_arbiter_returns(lab):
    """Safe, not available: the survivor has one vote of three, so it cannot tell a dead peer from
    a split and neither fences nor serves; with the arbiter back it fences the lost node and
    serves."""
    active = lab.where("webserver")
    survivor = other_than(lab, active)
    lab.stop_arbiter()
    wait_for("qdevice to notice", lambda: "UNREACHABLE" in (lab.quorum_device_report() or ""), 60, 1)
    at = time.time()
    try:
        lab.power_cut(active)
        box = lab.box(survivor)
        wait_for(f"{survivor} to lose quorum", lambda: quorum(box).get("Quorate") == "No", 30, 0.5)
        time.sleep(10)
        assert quorum(box).get("Quorate") == "No"
        # Pacemaker still counts the service on the lost node, which it could not fence: UNCLEAN
        assert lab.where("webserver") == active and "UNCLEAN" in box.run("crm_mon", "-1").stdout
        vip = f"{lab.settings.network.vip}/32"
        assert box.run("ip", "-o", "-4", "addr", "show", "to", vip, net_only=True, check=True).stdout == ""
        assert [e for e in lab.ec2_moves(at) if e["event"] in ("stop", "assign")] == []  # no fencing, no VIP move
        assert lab.get("/t1/api/probe", timeout=1)[0] != 200
    finally:
        lab.start_arbiter()
    wait_for(f"webserver on {survivor}", lambda: lab.where("webserver") == survivor, 60, 0.5)
    lab.wait_serving(60)
    assert [e["instance"] for e in lab.ec2_moves(at) if e["event"] == "stop"] == [instance_of(lab, active)]
    lab.wait_both_online()


def test_after_a_full_outage_one_node_serves_alone_once_the_arbiter_votes(lab):
    first, second = (n.name for n in lab.settings.cluster.nodes)
    for name in (first, second):
        lab.power_cut(name)
    at = time.time()
    lab.topology.boot_node(0)
    wait_for(f"{first} to serve", lambda: lab.where("webserver") == first, 120, 1)
    lab.wait_serving(60)
    q = quorum(lab.box(first))
    assert q["Quorate"] == "Yes" and "Qdevice" in q["Flags"]
    # It had quorum alone (its vote and the arbiter's), so it fenced the node it could not see:
    # on EC2 that reboot is what brings the second node back.
    assert instance_of(lab, second) in [e["instance"] for e in lab.ec2_moves(at) if e["event"] == "stop"]
    lab.wait_both_online()


def test_a_new_arbiter_gets_the_nodes_certificates_again(lab):
    """A replaced arbiter (fresh disk: a new qnetd certificate authority) cannot check the nodes'
    old certificates: the quorum-device step sees the device disconnected and sets it up again."""
    ran = lab.replace_node(ARBITER)
    assert {"arbiter-prepare", "quorum-device"} <= set(ran), sorted(ran)
    assert "connected" in (lab.quorum_device_report() or "")
    for node in lab.nodes:
        assert quorum(node)["Total votes"] == "3"
