"""The gir-lb:awsvip agent's monitor, run for real (bash, curl, the host's ocf-shellfuncs) against
the lab's metadata service on 127.0.0.1: "running" exactly when the node's ENI lists the VIP, "not
running" when it does not, and an error, never a guess, when the metadata does not answer. It never
calls the EC2 API (no endpoint exists here at all). Start and stop are the stock awsvip's, run on
the lab-aws nodes (tests/lab/test_lab_aws.py)."""

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
def metadata():
    """The lab's metadata service on a free loopback port; `held` is what the ENI holds."""
    who = Identity("i-0123456789abcdef0", "02:00:c6:12:00:0b", "eni-0123456789abcdef0", "198.18.0.11")
    held = ["198.18.0.11"]
    server = imds_server(("127.0.0.1", 0), lambda _addr: who, lambda _entry: None, addresses=lambda _who: list(held))
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
