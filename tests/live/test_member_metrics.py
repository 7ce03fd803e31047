"""Per-tenant member health as gir-lb-exporter reports it: the real exporter script reading the real
httpd 2.4's status page (`ProxyStatus On`, rendered) while fake members are stopped and started."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from blueprint import exporter
from blueprint.render import exporter_args
from blueprint.services import SERVICES
from lab.live import Fleet, request
from tests.conftest import metric_values
from tests.live.conftest import start_lb


def scrape(lb) -> dict[tuple, float]:
    """One `--once` run of the exporter with the command line the stack renders for its unit (no
    cluster here: crm_mon fails)."""
    args = exporter_args(lb.settings, "")[2:]  # without the node's interpreter and path
    done = subprocess.run([sys.executable, exporter.__file__, "--once", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return metric_values(done.stdout)


def usable(found, tenant: str, service: str) -> float:
    return found[f'gir_lb_service_usable_members{{service="{service}",tenant="{tenant}"}}']


@pytest.fixture
def lb(tmp_path, pki):
    fleet = Fleet({"t1": {}, "t2": {}})
    fleet.start()
    running = start_lb(tmp_path, fleet, ["t1", "t2"], pki)
    yield running
    running.node.shutdown()
    fleet.stop()


def test_members_down_show_per_tenant_and_service_and_come_back(lb):
    at_rest = scrape(lb)
    assert at_rest["gir_lb_httpd_up"] == 1 and at_rest["gir_lb_cluster_up"] == 0
    assert at_rest['gir_lb_collect_error{source="crm_mon"}'] == 1  # no cluster on this machine: said, not hidden
    for tenant in ("t1", "t2"):
        for svc in SERVICES:
            assert usable(at_rest, tenant, svc.key) == 2, (tenant, svc.key)
    rcs = [m for (t, s, _), m in lb.fleet.members.items() if (t, s) == ("t1", "rcs")]
    for m in rcs:
        m.stop()
    for _ in range(4):  # Apache learns a member is down from the requests it sends there
        request("GET", "/t1/rcs/api/x", lb.port, timeout=10)
    down = scrape(lb)
    assert usable(down, "t1", "rcs") == 0
    assert usable(down, "t2", "rcs") == 2 and usable(down, "t1", "rp") == 2
    for m in rcs:
        assert down[f'gir_lb_member_usable{{member="{m.url}",service="rcs",tenant="t1"}}'] == 0
    for m in rcs:
        m.start()
    time.sleep(2.5)  # the members' retry_s (2 s): then Apache tries them again
    deadline = time.monotonic() + 15
    while usable(scrape(lb), "t1", "rcs") < 2 and time.monotonic() < deadline:
        request("GET", "/t1/rcs/api/x", lb.port, timeout=10)
    assert usable(scrape(lb), "t1", "rcs") == 2


def test_the_hot_standby_in_use_is_named(lb):
    webdav = {i: m for (t, s, i), m in lb.fleet.members.items() if (t, s) == ("t1", "webdav")}
    standby = [m for i, m in webdav.items() if lb.settings.tenants[0].webdav.members[i].hot_standby]
    regular = [m for i, m in webdav.items() if not lb.settings.tenants[0].webdav.members[i].hot_standby]
    assert len(standby) == 1 and regular
    key = f'{{member="{standby[0].url}",service="webdav",tenant="t1"}}'
    at_rest = scrape(lb)
    assert at_rest[f"gir_lb_member_standby{key}"] == 1 and at_rest[f"gir_lb_standby_in_use{key}"] == 0
    for m in regular:
        m.stop()
    for _ in range(4):  # the first ones find the regular member down, then the standby answers
        request("GET", "/t1/recordings/x.mp3", lb.port, timeout=10)
    found = scrape(lb)
    assert found[f"gir_lb_standby_in_use{key}"] == 1
    assert usable(found, "t1", "webdav") == 1 and usable(found, "t2", "webdav") == 2
