"""The lab, for real: two namespace nodes running corosync/pacemaker/pcsd and Apache, bootstrapped
by the same bundle and step plan as AWS, fake members behind them, probes from a client box.
The downtime bounds are generous sanity limits; the printed figures are the measurements."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from lab.boxes import LabError
from lab.runner import SHIMS, Lab, leftovers

pytestmark = pytest.mark.lab
SANITY_DOWNTIME_S = 15
BOXES = ("lab-a", "lab-b", "backends", "client", "switch")


@pytest.fixture(scope="module")
def lab():
    lab = Lab(f"ci{os.getpid()}")
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def test_every_tenant_route_reaches_that_tenants_members(lab):
    health = lab.tenant_health()
    assert set(health) == {"t1", "t2"}
    for tid, services in health.items():
        for svc, member in services.items():
            assert member.startswith(f"{tid}-{svc}-"), (tid, svc, member)
    status, body = lab.get("/t2/rcs/api/keys")
    assert status == 200 and body["member"].startswith("t2-rcs-") and body["path"] == "/rcs/api/keys"


def test_root_namespace_has_no_interface_in_the_lab_subnet(lab):
    addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "198.18.0." not in addrs


def test_a_tenant_change_through_the_plan_loses_no_request(lab, tmp_path):
    doc = yaml.safe_load(lab.stack_file.read_text())
    doc["config"]["gir-lb:tenants"][1]["rp"]["members"].pop()  # t2 loses its second RP member
    changed = tmp_path / "Pulumi.lab.yaml"
    changed.write_text(yaml.safe_dump(doc))
    probe = lab.start_probe(max_seconds=30)
    time.sleep(1.5)
    output = lab.apply_tenant_change(changed)
    time.sleep(1.5)
    rows = probe.stop()
    assert "graceful reload" in output and "config tested only" in output  # active node reloaded, standby tested
    failed = [row for row in rows if row[1] != 200]
    print(f"\ntenant change under probes: {len(rows)} requests, {len(failed)} failed")
    assert len(rows) > 10 and failed == []
    members = {lab.get("/t2/rp/api/x")[1]["member"] for _ in range(4)}
    assert members == {"t2-rp-1"}


def test_httpd_killed_recovers(lab):
    downtime = lab.failover("httpd")
    print(f"\nhttpd SIGKILL: downtime {downtime:.2f}s")
    assert downtime < SANITY_DOWNTIME_S
    assert lab.tenant_health()["t1"]["rws"].startswith("t1-rws-")


def test_active_node_killed_the_other_serves(lab):
    before = lab.where("webserver")
    downtime = lab.failover("node")
    print(f"\nnode loss: downtime {downtime:.2f}s")
    assert downtime < SANITY_DOWNTIME_S
    assert lab.where("webserver") not in (None, before)
    assert "Online: [ lab-a lab-b ]" in lab.live_node().run("crm_mon", "-1").stdout  # it rejoined


def test_a_second_lab_does_not_collide(lab):
    second = Lab(f"cj{os.getpid()}")
    try:
        second.up()
        assert second.tenant_health()["t1"]["rp"].startswith("t1-rp-")
        assert lab.tenant_health()["t2"]["rp"].startswith("t2-rp-")
        assert second.state != lab.state
    finally:
        second.down()
    assert leftovers(second) == []
    assert lab.tenant_health()["t1"]["rws"].startswith("t1-rws-")  # the first lab is untouched


def test_killall_stand_in_refuses_outside_a_node(tmp_path):
    shim = tmp_path / "killall"
    shim.write_text((SHIMS / "killall").read_text().replace("@HOST_PID_NAMESPACE@", os.readlink("/proc/self/ns/pid")))
    done = subprocess.run(["/usr/bin/python3", str(shim), "-9", "no-such-process-gir-lb"], capture_output=True, text=True)
    assert done.returncode == 1 and "refusing" in done.stderr


def test_down_leaves_nothing_behind():
    lab = Lab(f"cd{os.getpid()}")
    lab.up()
    pids = [lab.box(b).pid for b in BOXES]
    assert all(pids)
    lab.down()
    lab.down()  # idempotent
    assert leftovers(lab) == []
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    lsns = subprocess.run(["lsns", "-rn", "-o", "PID"], capture_output=True, text=True).stdout.split()
    assert not set(map(str, pids)) & set(lsns)
    with pytest.raises(LabError):
        lab.status()
