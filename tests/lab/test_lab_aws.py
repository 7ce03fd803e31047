"""The AWS failover path in the lab (stacks/Pulumi.lab-aws.yaml): awsvip + IPaddr2 and fence_aws,
unmodified, on the lab nodes against the EC2 emulator (lab/ec2.py), under a probe of the VIP every
100 ms. Ground truth comes from the emulator (its history of VIP assignments and power changes)
and from the probe (which node proxied each answer). Downtime bounds are sanity limits; the
printed figures are the measurements (medians: bench/failover.py)."""

from __future__ import annotations

import itertools
import os
import time

import pytest

from blueprint.render import render_bundle
from lab import ec2
from lab.boxes import wait_for
from lab.probing import downtime
from lab.runner import Lab

# node loss pays detection (~2 s), the priority fencing delay (5 s in lab-aws), Pacemaker's
# election, fence_aws and awsvip's assignment: ~9.5 s measured
SANITY_NODE_LOSS_S = 30
SANITY_HTTPD_S = 10


@pytest.fixture(scope="module")
def lab():
    lab = Lab(f"ca{os.getpid()}", stack="lab-aws")
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def node_ip(lab: Lab, name: str) -> str:
    return str(next(n.ip for n in lab.settings.cluster.nodes if n.name == name))


def eni_of(lab: Lab, name: str) -> str:
    return next(n["eni"] for n in lab.ec2_world["nodes"] if n["name"] == name)


def instance_of(lab: Lab, name: str) -> str:
    return next(n["instance_id"] for n in lab.ec2_world["nodes"] if n["name"] == name)


def imds(lab: Lab, node: str, path: str, token: bool = True) -> tuple[str, str]:
    """(HTTP status, body) of one metadata request made on `node`, as the agents make it."""
    script = (
        'h=(); if [ "$1" = yes ]; then t=$(curl -sf -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60"'
        ' http://169.254.169.254/latest/api/token) || exit 1; h=(-H "X-aws-ec2-metadata-token: $t"); fi;'
        ' curl -s -m 5 -w "\\n%{http_code}" "${h[@]}" "http://169.254.169.254/latest/meta-data/$2"'
    )
    out = lab.box(node).run("bash", "-c", script, "imds", "yes" if token else "no", path, check=True).stdout
    body, _, status = out.rpartition("\n")
    return status, body


def test_the_lab_differs_from_aws_only_by_the_listed_lab_only_parts(lab):
    s = lab.settings
    on_aws = s.model_copy(update={"platform": "aws"})  # the same settings as an AWS stack would hold
    mine, theirs = render_bundle(s), render_bundle(on_aws)
    assert mine.scripts["resources.sh"] == theirs.scripts["resources.sh"]
    assert mine.user_data == theirs.user_data  # /root/.aws/config: the region, no endpoint
    assert "198.18.0.240" not in mine.scripts["resources.sh"]
    # what the nodes get on top, all of it from lab/ec2.py (LAB_ONLY says why)
    node = lab.box("lab-a")
    for path, (content, _mode) in ec2.node_files(s).items():
        assert node.run("cat", path, check=True).stdout == content
    pacemaker_env = node.run("cat", "/etc/default/pacemaker", check=True).stdout
    assert f"AWS_ENDPOINT_URL={ec2.endpoint(s)}" in pacemaker_env


def test_each_node_has_its_own_imdsv2_identity(lab):
    world = lab.ec2_world
    for n in world["nodes"]:
        assert imds(lab, n["name"], "instance-id", token=False)[0] == "401"  # IMDSv2: a token first
        assert imds(lab, n["name"], "instance-id") == ("200", n["instance_id"])
        mac = lab.box(n["name"]).run("ip", "-br", "link", "show", "eth0", net_only=True, check=True).stdout.split()[2]
        assert imds(lab, n["name"], "mac") == ("200", mac) and mac == n["mac"]
        assert imds(lab, n["name"], f"network/interfaces/macs/{mac}/interface-id") == ("200", n["eni"])
        assert imds(lab, n["name"], "iam/security-credentials/") == ("200", ec2.ROLE)


def test_the_nodes_credentials_hold_only_the_programs_policy(lab):
    """The role the metadata service hands out: what the agents need works, anything else is
    refused by the emulator's IAM."""
    node = lab.box("lab-a")
    env = "set -a; . /etc/default/pacemaker; set +a; "
    allowed = node.run("bash", "-c", env + "aws --profile default ec2 describe-instances --output text", timeout=60)
    assert allowed.returncode == 0, allowed.stderr
    refused = node.run("bash", "-c", env + "aws --profile default ec2 describe-vpcs", timeout=60)
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr and "ec2:DescribeVpcs" in refused.stderr
    policy = lab.ec2_world["policy"]
    assert [st["Sid"] for st in policy["Statement"]] == ["Describe", "MoveVip", "Fence"]
    assert policy["Statement"][1]["Condition"]["StringEquals"]["ec2:Subnet"].endswith(lab.ec2_world["subnet"])


def test_the_vip_is_assigned_to_the_active_nodes_eni(lab):
    active = lab.where("webserver")
    assigned = [e for e in lab.ec2_history() if e["event"] == "assign"]
    assert assigned and assigned[-1]["holders"] == {str(lab.settings.network.vip): [eni_of(lab, active)]}


def test_every_step_again_changes_nothing_on_the_fencing_path(lab):
    """Every command again (a new SSH key on AWS), on the running lab-aws pair: the same CIB, which
    holds the fencing the stack says (read back on the node), nobody fenced, the VIP not moved, no
    failed request."""
    s = lab.settings
    cib_before = lab.running_node().run("pcs", "cluster", "cib", check=True).stdout
    assert f'name="priority-fencing-delay" value="{s.cluster.fencing.delay_s}s"' in cib_before
    ids = [n["instance_id"] for n in lab.ec2_world["nodes"]]
    host_map = ";".join(f"{n.name}:{i}" for n, i in zip(s.cluster.nodes, ids, strict=True))
    assert f'name="pcmk_host_map" value="{host_map}"' in cib_before
    events_before = len(lab.ec2_history())
    probe = lab.start_probe(max_seconds=180)
    time.sleep(0.5)
    lab.rerun_every_step()
    time.sleep(1)
    rows = probe.stop()
    assert len(rows) > 50 and [r for r in rows if r.status != 200] == []
    assert lab.ec2_history()[events_before:] == []  # no stop, no start, no VIP move
    config = lambda cib: cib.split("<configuration>")[1].split("</configuration>")[0]  # noqa: E731
    assert config(lab.running_node().run("pcs", "cluster", "cib", check=True).stdout) == config(cib_before)


def test_httpd_killed_restarts_locally_and_nobody_is_fenced(lab):
    f = lab.failover("httpd")
    print(f"\nlab-aws httpd SIGKILL: downtime {f.downtime:.2f}s")
    assert f.serving_on == f.active
    assert f.downtime is not None and f.downtime < SANITY_HTTPD_S
    assert [e for e in f.ec2 if e["event"] in ("stop", "start", "assign", "unassign")] == []


def fail_counts(lab: Lab) -> str:
    """The failures `crm_mon --failcounts` still holds against a node (its "Migration Summary"), one
    "node: resource fail-count" line each; empty when none is."""
    out = lab.running_node().run("crm_mon", "-1", "--failcounts", check=True).stdout
    if "Migration Summary:" not in out:
        return ""
    held, node = [], ""
    for line in itertools.takewhile(lambda x: x.startswith(" "), out.split("Migration Summary:", 1)[1].splitlines()[1:]):
        if "Node:" in line:
            node = line.split("Node:", 1)[1].strip().rstrip(":")
        elif "fail-count=" in line:
            held.append(f"{node}: {line.strip()}")
    return "\n".join(held)


def test_the_ec2_api_unreachable_for_120s_costs_no_request_and_moves_nothing(lab):
    """Both nodes healthy, the API gone for 120 s: the VIP's monitor reads the instance metadata, so
    nothing is stopped or moved and nobody is fenced; `status` says the API does not answer. The
    fence device's own monitor fails meanwhile (it asks the API) and is ignored: the device is still
    there to fence once the API answers (the node-loss tests below fence through it)."""
    active = lab.where("webserver")
    probe = lab.start_probe(max_seconds=200)
    time.sleep(1)
    at = time.time()
    lab.topology.set_ec2_reachable(False)
    try:
        time.sleep(60)
        why = " ".join(lab.status()["why"])
        assert "does not answer" in why and "keeps serving" in why, why
        time.sleep(60)
    finally:
        lab.topology.set_ec2_reachable(True)
    time.sleep(2)
    rows = probe.stop()
    failed = [r for r in rows if r.status != 200]
    print(f"\nlab-aws EC2 API unreachable 120 s: {len(rows)} probes, {len(failed)} failed")
    assert len(rows) > 1000 and failed == []
    assert lab.ec2_moves(at) == [] and lab.where("webserver") == active and lab.where("virtual_ip") == active
    mon = lab.running_node().run("crm_mon", "-1", check=True).stdout
    assert "fence_nodes" in mon and "Stopped" not in mon, mon
    assert lab.status()["why"] == []


def test_ec2_api_throttling_costs_no_request_and_no_recovery(lab):
    """Every second EC2 call answered RequestLimitExceeded for 150 s (the benchmark runs 10 min):
    the agents' calls are throttled for real and nothing is recovered, moved or failed."""
    active = lab.where("webserver")
    probe = lab.start_probe(max_seconds=200)
    at = time.time()
    lab.throttle_ec2(2)
    try:
        time.sleep(150)
    finally:
        lab.throttle_ec2(None)
    rows = probe.stop()
    throttled = [e for e in lab.ec2_history() if e["t"] >= at and e["event"] == "throttled"]
    print(f"\nlab-aws EC2 throttled 150 s: {len(throttled)} calls refused, {sum(r.status != 200 for r in rows)} failed probes")
    assert throttled  # the agents did call, and were refused
    assert [r for r in rows if r.status != 200] == [] and lab.ec2_moves(at) == []
    assert lab.where("webserver") == active and fail_counts(lab) == ""


def test_a_vip_taken_away_by_hand_comes_back_and_failures_heal_without_a_cleanup(lab):
    """The VIP unassigned from the active node's ENI (the API answering): its monitor sees it gone
    within two intervals and the group moves; the failure bans that node only for failure_timeout_s.
    The same on the other node afterwards moves the group back, which a ban without a timeout would
    have forbidden (the VIP allowed nowhere), and then no fail count is left: nobody ran a cleanup."""
    s = lab.settings
    interval = s.cluster.vip_monitor_s
    first = lab.where("webserver")
    second = next(n.name for n in s.cluster.nodes if n.name != first)
    for taken_from, moves_to in ((first, second), (second, first)):
        probe = lab.start_probe(max_seconds=180)
        time.sleep(1)
        at = time.time()
        lab.take_vip_away(taken_from)
        wait_for(f"the VIP group on {moves_to}", lambda n=moves_to: lab.where("webserver") == n, 60, 0.5)
        lab.wait_serving(60)
        rows = probe.stop()
        assigned = next(e for e in lab.ec2_moves(at) if e["event"] == "assign")
        noticed = assigned["t"] - at
        down = downtime(rows, at)
        print(f"\nVIP taken from {taken_from}: back on {moves_to}'s ENI after {noticed:.1f}s, {down}s without service")
        assert noticed < 2 * interval + 10  # two monitor intervals, the agent's retries and its assignment
        assert assigned["holders"] == {str(s.network.vip): [eni_of(lab, moves_to)]}
        assert taken_from in fail_counts(lab)
        wait_for("the failure forgotten", lambda: fail_counts(lab) == "", s.cluster.failure_timeout_s + 60, 2)
    assert lab.where("webserver") == first and lab.tenant_health()["t1"]["rws"].startswith("t1-rws-")


def test_node_loss_the_survivor_fences_it_and_takes_the_vip(lab):
    f = lab.failover("node")
    survivor = f.serving_on
    print(f"\nlab-aws node loss: downtime {f.downtime:.2f}s")
    assert survivor and survivor != f.active
    assert f.downtime is not None and f.downtime < SANITY_NODE_LOSS_S
    events = [(e["event"], e.get("instance") or e.get("holders")) for e in f.ec2 if e["event"] != "booted"]
    lost = instance_of(lab, f.active)
    vip = str(lab.settings.network.vip)
    # fenced (reboot: stop, then start) before the VIP moved to the survivor's ENI
    assert events == [("stop", lost), ("start", lost), ("assign", {vip: [eni_of(lab, survivor)]})]
    served_by = {r.via for r in f.rows if r.status == 200 and r.at > f.at + f.downtime}
    assert served_by == {node_ip(lab, survivor)}


def test_a_cut_cluster_link_leaves_exactly_one_node_holding_the_vip(lab):
    f = lab.failover("split")
    print(f"\nlab-aws split: downtime {f.downtime:.2f}s; fenced {[e['instance'] for e in f.ec2 if e['event'] == 'stop']}")
    standby = next(n.name for n in lab.settings.cluster.nodes if n.name != f.active)
    stops = [e["instance"] for e in f.ec2 if e["event"] == "stop"]
    # the priority fencing delay: the node running webserver fences first, so the standby goes
    assert stops == [instance_of(lab, standby)]
    assert f.serving_on == f.active
    # one owner throughout: EC2 never gave the VIP to a second ENI, and every answer came through one node
    assert all(len(h) <= 1 for e in f.ec2 if e["event"] in ("assign", "unassign") for h in e["holders"].values())
    assert not [e for e in f.ec2 if e["event"] == "assign"]
    assert {r.via for r in f.rows if r.status == 200} == {node_ip(lab, f.active)}
    assert f.downtime == 0.0


def test_without_the_ec2_api_the_survivor_waits_fenced_start_then_fails_over(lab):
    """The EC2 API unreachable during a node loss: fencing cannot complete, so the survivor must not
    start the resources (the lost node may still hold the VIP and write); `lab status` says why.
    When the API answers again, fencing and the failover complete."""
    active = lab.where("webserver")
    survivor = next(n.name for n in lab.settings.cluster.nodes if n.name != active)
    vip = str(lab.settings.network.vip)
    probe = lab.start_probe(max_seconds=170)
    time.sleep(1)
    lab.topology.set_ec2_reachable(False)
    at = time.time()
    try:
        lab.power_cut(active)
        # past detection, the priority delay and several fence attempts
        wait_for("fencing to fail", lambda: lab.fencing_report() and "UNCLEAN" in " ".join(lab.fencing_report()), 60, 1)
        time.sleep(15)
        report = lab.status()
        assert lab.where("webserver") in (None, active)  # not started on the survivor
        assert lab.box(survivor).run("ip", "-o", "addr", "show", "to", vip, net_only=True).stdout == ""
        assert not [e for e in lab.ec2_history() if e["t"] >= at and e["event"] in ("stop", "assign")]
        why = " ".join(report["why"])
        assert f"{active} is UNCLEAN" in why and "does not answer" in why, report["why"]
    finally:
        lab.topology.set_ec2_reachable(True)
    back = time.time()
    wait_for(f"webserver on {survivor}", lambda: lab.where("webserver") == survivor, 120, 1)
    lab.wait_serving(60)
    rows = probe.stop()
    history = [e for e in lab.ec2_history() if e["t"] >= at]
    events = [(e["event"], e.get("instance") or e.get("holders")) for e in history if e["event"] != "booted"]
    lost = instance_of(lab, active)
    assert events == [("stop", lost), ("start", lost), ("assign", {vip: [eni_of(lab, survivor)]})]
    assert not [r for r in rows if r.status == 200 and at + 1 < r.at < back]  # no answer while unfenced
    first_ok = next(r.at for r in rows if r.status == 200 and r.at > back)
    print(f"\nlab-aws node loss with EC2 unreachable: served again {first_ok - back:.1f}s after the API returned")
    lab.wait_both_online()
    assert lab.fencing_report() == []



def test_the_failover_benchmark_writes_its_rows_and_summary(lab, tmp_path):
    """Not a measurement (that is `python -m bench failover`): one httpd run, and its files."""
    from bench.failover import measure

    summary = measure(lab, 1, ["httpd"], tmp_path)
    rows = (tmp_path / "probes.csv").read_text().splitlines()
    assert rows[0] == "run,kind,sent_after_failure_s,status,latency_s,via" and len(rows) > 20
    assert "| httpd | 1 |" in summary and (tmp_path / "summary.md").read_text().strip() == summary
    assert (tmp_path / "timelines.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_ec2_trouble_benchmark_writes_its_rows_picture_and_summary(lab, tmp_path):
    """Not a measurement (that is `python -m bench ec2-trouble`): 5 s of each trouble."""
    from bench.ec2_trouble import measure

    summary = measure(lab, 5, 5, tmp_path)
    rows = (tmp_path / "probes.csv").read_text().splitlines()
    assert rows[0] == "run,kind,sent_after_failure_s,status,latency_s,via" and len(rows) > 60
    assert "| API unreachable 5s |" in summary and "| VIP taken away by hand |" in summary
    assert (tmp_path / "timelines.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
