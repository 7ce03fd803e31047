"""The gir-lb:awsvip agent's monitor and start, run for real (bash, curl, the host's ocf-shellfuncs)
against the lab's metadata service on 127.0.0.1: the monitor says "running" exactly when the node's
ENI lists the VIP, "not running" when it does not, and an error, never a guess, when the metadata
does not answer; it never calls the EC2 API (no endpoint exists here at all). The start asks the
metadata first, assigns through the AWS CLI (a stand-in here that records its arguments) and returns
once the metadata lists the VIP. Stop is the stock awsvip's, run on the lab-aws nodes
(tests/lab/test_lab_aws.py)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from blueprint.render import render_bundle
from blueprint.stack_config import load_stack
from lab.ec2_emulator import Identity, imds_server
from tests.conftest import REPO

VIP = "198.18.0.100"
OCF_SUCCESS, OCF_ERR_GENERIC, OCF_NOT_RUNNING = 0, 1, 7


@pytest.fixture
def agent(tmp_path):
    script = tmp_path / "awsvip"
    script.write_text(render_bundle(load_stack(str(REPO / "stacks/Pulumi.lab-aws.yaml"))).scripts["gir-lb-awsvip.sh"])
    script.chmod(0o755)
    return script


@pytest.fixture
def metadata(tmp_path):
    """The lab's metadata service on a free loopback port; `held` is what the ENI holds, and the
    VIP once the AWS CLI stand-in (fake_aws) assigned it, 0.5 s later (the metadata may lag)."""
    who = Identity("i-0123456789abcdef0", "02:00:c6:12:00:0b", "eni-0123456789abcdef0", "198.18.0.11")
    held = ["198.18.0.11"]
    assigned = tmp_path / "assigned"

    def addresses(_who: Identity) -> list[str]:
        late = assigned.exists() and time.time() - assigned.stat().st_mtime > 0.5
        return [*held, VIP] if late else list(held)

    server = imds_server(("127.0.0.1", 0), lambda _addr: who, lambda _entry: None, addresses=addresses)
    yield f"http://127.0.0.1:{server.server_address[1]}", held, server
    server.shutdown()


def monitor(agent, url: str, vip: str = VIP) -> tuple[int, str, float]:
    env = {**os.environ, "GIR_LB_METADATA_URL": url, "OCF_ROOT": "/usr/lib/ocf", "OCF_RESKEY_secondary_private_ip": vip}
    began = time.monotonic()
    done = subprocess.run([str(agent), "monitor"], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr, time.monotonic() - began


def test_the_monitor_follows_the_addresses_the_metadata_lists(agent, metadata):
    url, held, _ = metadata
    assert monitor(agent, url)[0] == OCF_NOT_RUNNING
    held.append(VIP)
    assert monitor(agent, url)[0] == OCF_SUCCESS
    held.remove(VIP)
    held.append(VIP + "0")  # 198.18.0.1000 is not the VIP: whole lines only
    assert monitor(agent, url)[0] == OCF_NOT_RUNNING


def test_metadata_that_does_not_answer_is_an_error_after_its_retries_inside_the_timeout(agent, metadata):
    url, _, server = metadata
    server.shutdown()
    server.server_close()
    code, stderr, took = monitor(agent, url)
    assert code == OCF_ERR_GENERIC and "metadata service does not answer" in stderr
    assert 3 <= took < 30  # two waits of 1 s and 2 s between three tries, inside the 30 s monitor timeout


def test_other_actions_are_the_stock_agents(agent):
    done = subprocess.run(
        [str(agent), "meta-data"], env={**os.environ, "OCF_ROOT": "/usr/lib/ocf"}, capture_output=True, text=True
    )
    assert done.returncode == 0 and '<resource-agent name="awsvip"' in done.stdout and "secondary_private_ip" in done.stdout


@pytest.fixture
def fake_aws(tmp_path, metadata):
    """An AWS CLI stand-in: records its arguments and marks the VIP assigned (see metadata), or
    refuses like EC2 when told to."""
    url = metadata[0]
    calls = tmp_path / "aws-calls"
    script = tmp_path / "aws"
    script.write_text(
        f"#!/bin/bash\nprintf '%s\\n' \"$*\" >> {calls}\n"
        f"[ -e {tmp_path}/refuse ] && {{ echo 'An error occurred (UnauthorizedOperation)' >&2; exit 254; }}\n"
        f"touch {tmp_path}/assigned\n"
    )
    script.chmod(0o755)
    return url, script, calls, tmp_path


def start(agent, url: str, aws) -> tuple[int, str]:
    env = {
        **os.environ,
        "GIR_LB_METADATA_URL": url,
        "OCF_ROOT": "/usr/lib/ocf",
        "OCF_RESKEY_secondary_private_ip": VIP,
        "OCF_RESKEY_awscli": str(aws),
        "__OCF_ACTION": "start",
    }
    done = subprocess.run([str(agent), "start"], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stderr


def test_start_assigns_to_this_enis_id_and_returns_once_the_metadata_lists_the_vip(agent, fake_aws):
    url, aws, calls, _ = fake_aws
    assert start(agent, url, aws)[0] == OCF_SUCCESS
    assert calls.read_text().splitlines() == [
        f"--profile default ec2 assign-private-ip-addresses --network-interface-id eni-0123456789abcdef0"
        f" --private-ip-addresses {VIP} --allow-reassignment"
    ]
    assert monitor(agent, url)[0] == OCF_SUCCESS
    assert start(agent, url, aws)[0] == OCF_SUCCESS  # already here: no second call
    assert len(calls.read_text().splitlines()) == 1


def test_a_refused_assignment_is_a_failed_start(agent, fake_aws):
    url, aws, _, folder = fake_aws
    (folder / "refuse").touch()
    code, stderr = start(agent, url, aws)
    assert code == OCF_ERR_GENERIC and "EC2 refused to assign" in stderr
