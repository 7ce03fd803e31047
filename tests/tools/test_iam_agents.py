"""Least privilege, proven: the real awsvip and aws-vpc-move-ip (resource-agents) and fence_aws
(fence-agents) run against moto with IAM enforced, as users whose only permissions are the
program's policy (blueprint.iam.agent_policy: of base_config's vip_mode aws stack, and of
stacks/Pulumi.dev-multi-az.yaml's vip_mode overlay with moto's IDs), and fail visibly when one
action is taken away.

tests/iam_world.py does the work inside an empty network namespace (only lo, and a veth pair as the
overlay nodes' interfaces) with a sysfs of its own: moto in-process, an IMDSv2 stand-in per node
reached through http_proxy, the agents as subprocesses. Here we read its JSON. moto 5.2 judges
the action set only: it checks EC2 calls against Resource "*" (so an ARN-scoped Allow never
applies) and treats Condition keys it has no value for as met. The users therefore hold the
program's statements with Resource "*" and no Condition ("granted", "overlay-granted"); the
verbatim documents and the scoping are checked separately, below.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from blueprint.iam import CLUSTER_TAG, agent_policy
from blueprint.stack_config import parse_settings
from tests.conftest import REPO, base_config, stack_config

AGENTS = [
    Path("/usr/lib/ocf/resource.d/heartbeat/awsvip"),
    Path("/usr/lib/ocf/resource.d/heartbeat/aws-vpc-move-ip"),
    Path("/usr/sbin/fence_aws"),
]
# The run takes ~65 s (aws-vpc-move-ip pauses 1 s per route table and call, its steps one after
# the other); every agent call inside it has its own 60 s limit.
RUN_TIMEOUT = 240
ACCOUNT = "123456789012"


def _missing() -> str | None:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return "needs root, unshare and ip for the empty network namespace"
    if missing := [str(p) for p in AGENTS if not p.exists()]:
        return f"not installed: {missing}"
    try:
        import moto  # noqa: F401
    except ImportError:
        return "moto is not installed (requirements-dev.txt)"
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    if why := _missing():
        pytest.skip(why)
    out = tmp_path_factory.mktemp("iam") / "world.json"
    # -m and a fresh sysfs: aws-vpc-move-ip reads its interface's MAC from /sys/class/net, which
    # otherwise shows the host's interfaces (the mount is private to the namespace)
    script = f"mount -t sysfs sysfs /sys && ip link set lo up && exec {sys.executable} {REPO / 'tests' / 'iam_world.py'} {out}"
    proc = subprocess.Popen(
        ["unshare", "-n", "-m", "--", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: stopped by our child's id below
    )
    try:
        log, _ = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, log[-4000:]
    return json.loads(out.read_text())


def step(world: dict, name: str) -> dict:
    return world["steps"][name]


def test_setup_was_the_only_unchecked_traffic(world):
    assert world["setup_calls"] == 45  # INITIAL_NO_AUTH_ACTION_COUNT in iam_world.py
    unlisted = step(world, "granted/unlisted-call")
    assert unlisted["refused"] and "AccessDenied" in unlisted["error"] and "ec2:DescribeVpcs" in unlisted["error"]


def test_the_users_hold_the_programs_policy(world):
    cfg = base_config("rhel9")
    cfg["network"]["subnet_id"] = world["subnet"]
    assert world["policies"]["verbatim"] == agent_policy(parse_settings(cfg, source="test"), "123456789012")
    granted = world["policies"]["granted"]
    for theirs, ours in zip(granted["Statement"], world["policies"]["verbatim"]["Statement"], strict=True):
        assert theirs["Action"] == ours["Action"] and theirs["Resource"] == "*" and "Condition" not in theirs


def test_awsvip_moves_the_vip_with_only_the_policy(world):
    # node B's ENI is used by the controls at the same time: only node A's is asserted here
    expect = [
        ("monitor-before", 7, False),
        ("start", 0, True),
        ("monitor-started", 0, True),
        ("stop", 0, False),
        ("monitor-stopped", 7, False),
    ]
    for name, rc, on_a in expect:
        got = step(world, f"granted/awsvip-{name}")
        assert (got["rc"], "lb-a" in got["vip_on"]) == (rc, on_a), (name, got["output"])


def test_fence_aws_powers_the_peer_off_and_on_with_only_the_policy(world):
    expect = [("status-before", 0, "running"), ("off", 0, "stopped"), ("status-off", 2, "stopped"), ("on", 0, "running")]
    for name, rc, state in expect:
        got = step(world, f"granted/fence-{name}")
        assert (got["rc"], got["target_state"]) == (rc, state), (name, got["output"])
    assert "Success: Powered OFF" in step(world, "granted/fence-off")["output"]


def test_the_agents_read_identity_from_the_imds_stand_in_with_a_token(world):
    for node in ("lb-a", "lb-b"):
        seen = world["imds"][node]
        assert seen and all(r["target"].startswith("http://169.254.169.254/") for r in seen)  # proxy form: via http_proxy
        assert {r["status"] for r in seen} == {200}  # never a request without a valid token
    first = world["imds"]["lb-b"][0]  # lb-b's stand-in serves only awsvip, which asks for a token first
    assert (first["method"], first["target"], first["status"]) == ("PUT", "http://169.254.169.254/latest/api/token", 200)


def test_without_stop_instances_fencing_fails_and_the_peer_keeps_running(world):
    got = step(world, "no-stop/fence-off")
    assert got["rc"] != 0 and got["target_state"] == "running"
    assert "AccessDenied" in got["output"] and "ec2:StopInstances" in got["output"]
    assert "Timed out waiting to power OFF" in got["output"]


def test_without_assign_the_vip_does_not_start(world):
    got = step(world, "no-assign/awsvip-start")
    assert got["rc"] == 7 and "lb-b" not in got["vip_on"]  # OCF_NOT_RUNNING: pacemaker sees a failed start
    assert "AccessDenied" in got["output"] and "ec2:AssignPrivateIpAddresses" in got["output"]


def test_without_unassign_the_vip_does_not_stop(world):
    assert step(world, "no-unassign/awsvip-start")["rc"] == 0
    got = step(world, "no-unassign/awsvip-stop")
    assert got["rc"] == 7 and "lb-b" in got["vip_on"]  # a failed stop: pacemaker must fence the node
    assert "AccessDenied" in got["output"] and "ec2:UnassignPrivateIpAddresses" in got["output"]
    cleanup = step(world, "granted/awsvip-stop-cleanup")
    assert cleanup["rc"] == 0 and "lb-b" not in cleanup["vip_on"]


def test_moto_cannot_judge_the_scoped_statements(world):
    """The verbatim document: Describe (Resource "*", no Condition) passes; every ARN-scoped action
    is refused, because moto checks EC2 calls against Resource "*" only, which no ARN pattern
    matches. If a moto upgrade changes this, this test fails: then run the verbatim document."""
    assert step(world, "verbatim/fence-status")["rc"] == 0  # DescribeInstances
    start, off = step(world, "verbatim/awsvip-start"), step(world, "verbatim/fence-off")
    assert start["rc"] == 7 and "AccessDenied" in start["output"] and "lb-b" not in start["vip_on"]
    assert off["rc"] != 0 and "AccessDenied" in off["output"] and off["target_state"] == "running"


def test_why_moto_refuses_the_scoped_statements_and_ignores_conditions(world):
    """moto's own evaluator (run in iam_world.py). The ARN-scoped statements never apply (NEUTRAL:
    not allowed). A Condition is never evaluated for EC2: moto has no request values for
    ec2:Subnet or aws:ResourceTag, and a key without a value counts as met, so even a Condition
    naming another subnet or cluster allows."""
    verbatim, wrong = world["moto_verdicts"]["verbatim"], world["moto_verdicts"]["wrong-conditions"]
    assert verbatim.pop("ec2:DescribeInstances") == "PERMITTED"
    assert set(verbatim.values()) == {"NEUTRAL"} and len(verbatim) == 4
    assert set(wrong.values()) == {"PERMITTED"}


def test_the_scoping_names_the_resources_the_agents_touch(world):
    """What moto cannot judge, checked against the world it built: the VIP's ENIs are in the
    subnet the MoveVip Condition names, and the fenced instance carries the Fence Condition's tag."""
    policy = {st["Sid"]: st for st in world["policies"]["verbatim"]["Statement"]}
    arn = "arn:aws:ec2:eu-west-1:123456789012"
    assert policy["MoveVip"]["Resource"] == f"{arn}:network-interface/*"
    assert policy["MoveVip"]["Condition"] == {"StringEquals": {"ec2:Subnet": f"{arn}:subnet/{world['subnet']}"}}
    assert {n["subnet"] for n in world["nodes"]} == {world["subnet"]}
    assert policy["Fence"]["Resource"] == f"{arn}:instance/*"
    assert policy["Fence"]["Condition"] == {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": "gir-lb-test"}}
    assert all(n["tags"].get(CLUSTER_TAG) == "gir-lb-test" for n in world["nodes"])


# --- vip_mode overlay: aws-vpc-move-ip (stacks/Pulumi.dev-multi-az.yaml with moto's IDs) ------------


def overlay_step(world: dict, name: str) -> dict:
    """A step of the overlay track, with its routes as one set of node names (or ENIs) per step."""
    got = step(world, name)
    assert set(got["routes"]) == set(world["overlay"]["route_tables"]), got["routes"]  # read back from every named table
    return got | {"routed_to": set(got["routes"].values())}


def names(world: dict) -> tuple[dict, dict]:
    return tuple(world["overlay"]["nodes"])  # type: ignore[return-value]


def test_the_overlay_users_hold_the_overlay_stacks_policy(world):
    overlay = world["overlay"]
    cfg = stack_config("dev-multi-az")
    cfg["network"].update(subnet_id=overlay["subnets"][0], route_table_ids=overlay["route_tables"])
    cfg["network"]["second_subnet"]["id"] = overlay["subnets"][1]
    policies = overlay["policies"]
    assert policies["overlay-verbatim"] == agent_policy(parse_settings(cfg, source="test"), ACCOUNT)
    verbatim, granted = policies["overlay-verbatim"]["Statement"], policies["overlay-granted"]["Statement"]
    for theirs, ours in zip(granted, verbatim, strict=True):
        assert theirs["Action"] == ours["Action"] and theirs["Resource"] == "*" and "Condition" not in theirs

    def actions(name: str) -> set[str]:
        sts = policies[name]["Statement"]
        return {a for st in sts for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}

    assert actions("overlay-granted") == {
        "ec2:DescribeInstances", "ec2:DescribeRouteTables", "ec2:ReplaceRoute", "ec2:StopInstances", "ec2:StartInstances",
    }  # fmt: skip
    assert actions("no-replace") == actions("overlay-granted") - {"ec2:ReplaceRoute"}
    assert actions("no-describe-routes") == actions("overlay-granted") - {"ec2:DescribeRouteTables"}
    a, b = names(world)
    assert (a["subnet"], b["subnet"]) == tuple(overlay["subnets"])  # one node per subnet (two AZs)


def test_aws_vpc_move_ip_moves_the_overlay_vip_with_only_the_policy(world):
    a, b = names(world)
    assert overlay_step(world, "overlay/deployed")["routed_to"] == {"lb-dev-a"}  # the program's routes
    assert overlay_step(world, "overlay/reset")["routed_to"] == {"lb-dev-a"} and not step(world, "overlay/reset")["vip_local"]
    expect = [  # (step, rc, where every table routes the VIP after it, the nodes holding it on an interface)
        ("monitor-before", 7, {"lb-dev-a"}, []),
        ("start", 0, {"lb-dev-b"}, ["lb-dev-b"]),
        ("monitor-started", 0, {"lb-dev-b"}, ["lb-dev-b"]),
        ("monitor-node-a", 7, {"lb-dev-b"}, ["lb-dev-b"]),
        ("stop", 0, {"lb-dev-b"}, []),  # a stop drops the address only: the next start moves the routes
        ("monitor-stopped", 7, {"lb-dev-b"}, []),
    ]
    for name, rc, routed_to, local in expect:
        got = overlay_step(world, f"overlay-granted/move-ip-{name}")
        assert (got["rc"], got["routed_to"], got["vip_local"]) == (rc, routed_to, local), (name, got["output"])
        assert "AccessDenied" not in got["output"], (name, got["output"])
    # not running where the routes are not this ENI's: before the start on B, and on A after it
    for name, node, routed in (("monitor-before", b, a), ("monitor-node-a", a, b)):
        out = step(world, f"overlay-granted/move-ip-{name}")["output"]
        for table in world["overlay"]["route_tables"]:
            assert f"not routed to this interface ({node['eni']}) but to interface {routed['eni']} on {table}" in out, name
    assert (
        "IP 192.168.20.50 not assigned to running interface" in step(world, "overlay-granted/move-ip-monitor-stopped")["output"]
    )


def test_aws_vpc_move_ip_finds_its_eni_from_its_interfaces_mac(world):
    for node in names(world):
        seen = world["imds"][node["name"]]
        assert seen and all(r["target"].startswith("http://169.254.169.254/") for r in seen)
        assert {r["status"] for r in seen} == {200}
        asked = {r["target"].removeprefix("http://169.254.169.254/latest/") for r in seen if r["method"] == "GET"}
        assert asked == {"meta-data/instance-id", f"meta-data/network/interfaces/macs/{node['mac']}/interface-id"}, node


def test_without_replace_route_the_overlay_vip_does_not_move(world):
    got = overlay_step(world, "no-replace/move-ip-start")
    assert got["rc"] == 1 and got["routed_to"] == {"lb-dev-a"} and got["vip_local"] == []  # OCF_ERR_GENERIC: a failed start
    assert "AccessDenied" in got["output"] and "ec2:ReplaceRoute" in got["output"]
    assert "EC2 did not route 192.168.20.50 to" in got["output"]  # gir-lb's start: no address added


def test_without_describe_route_tables_the_overlay_vip_is_never_seen_running(world):
    """The stock monitor reads an empty route for a refused DescribeRouteTables ("<unknown>") and
    reports not running even while the VIP is routed to this node and on its interface; gir-lb's
    start moves the routes and adds the address, then fails its own check of the routes; the
    stock stop that follows finds it "already down" and succeeds, leaving the address on the
    interface."""
    unknown = [f"but to interface <unknown> on {t}" for t in world["overlay"]["route_tables"]]
    monitor = overlay_step(world, "no-describe-routes/move-ip-monitor-started")
    assert monitor["rc"] == 7 and monitor["routed_to"] == {"lb-dev-b"} and monitor["vip_local"] == ["lb-dev-b"]
    start = overlay_step(world, "no-describe-routes/move-ip-start")
    assert start["rc"] == 1 and start["routed_to"] == {"lb-dev-b"} and start["vip_local"] == ["lb-dev-b"]
    assert "the route tables do not all route 192.168.20.50 to" in start["output"]
    stop = overlay_step(world, "no-describe-routes/move-ip-stop-after-start")
    assert stop["rc"] == 0 and "already down" in stop["output"] and stop["vip_local"] == ["lb-dev-b"]
    for got in (monitor, start, stop):
        assert "AccessDenied" in got["output"] and "ec2:DescribeRouteTables" in got["output"]
    for got in (monitor, stop):  # the stock monitor's words (the stop runs it first)
        assert all(line in got["output"] for line in unknown), got["output"]


def test_moto_cannot_judge_the_overlay_route_table_scoping(world):
    """The verbatim overlay document: its Describe statement (Resource "*") passes, ReplaceRoute on
    the route-table ARNs never applies, so the start is refused and the routes stay."""
    verbatim, wrong = world["overlay"]["moto_verdicts"]["verbatim"], world["overlay"]["moto_verdicts"]["wrong-conditions"]
    assert {a: verbatim.pop(a) for a in ("ec2:DescribeInstances", "ec2:DescribeRouteTables")} == dict.fromkeys(
        ("ec2:DescribeInstances", "ec2:DescribeRouteTables"), "PERMITTED"
    )
    assert verbatim == dict.fromkeys(("ec2:ReplaceRoute", "ec2:StopInstances", "ec2:StartInstances"), "NEUTRAL")
    assert set(wrong.values()) == {"PERMITTED"}
    got = overlay_step(world, "overlay-verbatim/move-ip-start")
    assert got["rc"] == 1 and got["routed_to"] == {"lb-dev-a"} and got["vip_local"] == []
    assert "AccessDenied" in got["output"] and "ec2:ReplaceRoute" in got["output"]


def test_the_overlay_scoping_names_exactly_the_route_tables_the_agent_rewrites(world):
    """What moto cannot judge: ReplaceRoute only on the named tables' ARNs (those the start moved
    the VIP's route in), and no action that could create or delete a route, under any pattern."""
    overlay = world["overlay"]
    policy = {st["Sid"]: st for st in overlay["policies"]["overlay-verbatim"]["Statement"]}
    arn = "arn:aws:ec2:eu-west-1:123456789012"
    assert policy["MoveVip"]["Action"] == "ec2:ReplaceRoute" and "Condition" not in policy["MoveVip"]
    assert policy["MoveVip"]["Resource"] == [f"{arn}:route-table/{t}" for t in overlay["route_tables"]]
    assert set(step(world, "overlay-granted/move-ip-start")["routes"]) == set(overlay["route_tables"])
    for st in overlay["policies"]["overlay-verbatim"]["Statement"]:
        patterns = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        for denied in ("ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ReplaceRoute"):
            if any(fnmatchcase(denied.lower(), p.lower()) for p in patterns):
                assert denied == "ec2:ReplaceRoute" and st["Sid"] == "MoveVip", (denied, st)
        assert st["Sid"] == "Describe" or all(r.startswith(f"{arn}:") for r in resources), st
    assert policy["Fence"]["Condition"] == {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": "gir-lb-dev-az"}}
