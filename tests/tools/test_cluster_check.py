"""The rendered cluster-check scripts (both cluster stacks) against cluster configurations like
the ones a running cluster has, in a private mount namespace whose /etc is an overlay (nothing on
the host changes). The live refusal on a running cluster is in tests/lab/."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from blueprint.render import render_bundle
from blueprint.stack_config import parse_settings
from tests.conftest import base_config

COROSYNC_CONF = """totem {
    version: 2
    cluster_name: %(name)s
    transport: knet
    token: 1000

    interface {
        knet_ping_interval: 125
        knet_ping_timeout: 250
        linknumber: 0
    }
}

nodelist {
    node {
        ring0_addr: 10.0.1.11
        name: lb-a
        nodeid: 1
    }

    node {
        ring0_addr: %(b_addr)s
        name: lb-b
        nodeid: 2
    }
}
"""

CLUSTER_CONF = """<cluster config_version="1" name="%(name)s">
  <fence_daemon/>
  <clusternodes>
    <clusternode name="lb-a" nodeid="1"/>
    <clusternode name="lb-b" nodeid="2"/>
  </clusternodes>
  <cman expected_votes="1" transport="udpu" two_node="1"/>
  <totem token="%(token)s"/>
</cluster>
"""


def run_check(tmp_path: Path, profile: str, conf_path: str | None, conf: str = "") -> subprocess.CompletedProcess:
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = render_bundle(parse_settings(base_config(profile))).scripts["cluster-check.sh"]
    (tmp_path / "check.sh").write_text(script)
    for d in ("upper", "work"):
        (tmp_path / d).mkdir()
    if conf_path:
        target = tmp_path / "upper" / conf_path.removeprefix("/etc/")
        target.parent.mkdir(parents=True)
        target.write_text(conf)
    # a fresh machine: no cluster configuration but the one given (Debian's package ships a sample)
    fresh = "" if conf_path else "rm -f /etc/corosync/corosync.conf /etc/cluster/cluster.conf && "
    inner = (
        f"mount -t overlay overlay -o lowerdir=/etc,upperdir={tmp_path}/upper,workdir={tmp_path}/work /etc && "
        f"{fresh}bash {tmp_path}/check.sh"
    )
    unshare = ["unshare", "--mount", "--propagation", "private"]
    return subprocess.run([*unshare, "bash", "-c", inner], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("profile", ["rhel9", "rhel6"])
def test_no_cluster_yet_passes(tmp_path, profile):
    done = run_check(tmp_path, profile, None)
    assert done.returncode == 0 and "no cluster" in done.stdout


def test_corosync3_same_identity_passes_and_a_rename_or_moved_node_is_refused(tmp_path):
    conf = "/etc/corosync/corosync.conf"
    ok = run_check(tmp_path / "ok", "rhel9", conf, COROSYNC_CONF % {"name": "gir-lb-test", "b_addr": "10.0.1.12"})
    assert ok.returncode == 0, ok.stderr
    bad = run_check(tmp_path / "bad", "rhel9", conf, COROSYNC_CONF % {"name": "old", "b_addr": "10.0.1.13"})
    assert bad.returncode == 1
    assert "gir-lb:cluster.name: the running cluster is named 'old'" in bad.stderr
    assert "gir-lb:cluster.nodes: the running cluster has 'lb-a=10.0.1.11 lb-b=10.0.1.13'" in bad.stderr


def test_cman_refuses_a_token_change_it_cannot_take_live(tmp_path):
    # rhel6's default token is cman's own 10000 ms: a cluster built with another token is refused
    ok = run_check(tmp_path / "ok", "rhel6", "/etc/cluster/cluster.conf", CLUSTER_CONF % {"name": "gir-lb-test", "token": 10000})
    assert ok.returncode == 0, ok.stderr
    bad = run_check(tmp_path / "bad", "rhel6", "/etc/cluster/cluster.conf", CLUSTER_CONF % {"name": "gir-lb-test", "token": 3000})
    assert bad.returncode == 1 and "gir-lb:cluster.token_ms: the running cluster has 3000" in bad.stderr
