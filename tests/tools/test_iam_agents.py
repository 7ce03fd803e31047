"""Least privilege, proven: the real awsvip (resource-agents) and fence_aws (fence-agents) run
against moto with IAM enforced, as users whose only permissions are the program's policy
(blueprint.iam.agent_policy), and fail visibly when one action is taken away.

tests/iam_world.py does the work inside an empty network namespace (only lo): moto in-process,
an IMDSv2 stand-in per node reached through http_proxy, the agents as subprocesses. Here we read
its JSON. moto 5.2 judges the action set only: it checks EC2 calls against Resource "*" (so an
ARN-scoped Allow never applies) and treats Condition keys it has no value for as met. The users
therefore hold the program's statements with Resource "*" and no Condition ("granted"); the
verbatim document and the scoping are checked separately, below.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from blueprint.iam import CLUSTER_TAG, agent_policy
from blueprint.stack_config import parse_settings
from tests.conftest import REPO, base_config

AGENTS = [Path("/usr/lib/ocf/resource.d/heartbeat/awsvip"), Path("/usr/sbin/fence_aws")]
RUN_TIMEOUT = 240  # the run takes ~20 s; every agent call inside it has its own 60 s limit


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
    script = f"ip link set lo up && exec {sys.executable} {REPO / 'tests' / 'iam_world.py'} {out}"
    proc = subprocess.Popen(
        ["unshare", "-n", "--", "sh", "-c", script],
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
    assert world["setup_calls"] == 23  # INITIAL_NO_AUTH_ACTION_COUNT in iam_world.py
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
