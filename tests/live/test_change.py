"""Change safety: the plan's httpd push step (install, configtest, graceful) under live traffic."""

from __future__ import annotations

import threading
import time

import pytest

from live.conftest import live_settings, push_step, start_lb, tls_stdin
from live.harness import Fleet, request

pytestmark = pytest.mark.tools
PATHS = ["/t1/api/me", "/t1/rp/api/j", "/t2/rcs/api/k", "/t2/recordings/a", "/t1/interactionreceiver/e"]


class ClientLoop:
    """Requests through the balancer from 4 threads until stopped, bounded by count (20,000) and
    time (30 s). Records (time, status)."""

    def __init__(self, port: int, paths: list[str]):
        self.port, self.paths = port, paths
        self.results: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(4)]

    def run(self, offset: int) -> None:
        deadline = time.monotonic() + 30
        i = offset
        while not self.stop.is_set() and time.monotonic() < deadline and len(self.results) < 20000:
            try:
                status = request("GET", self.paths[i % len(self.paths)], self.port, timeout=10).status
            except OSError as exc:
                status = -1
                print("client error:", exc)
            self.results.append((time.monotonic(), status))
            i += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=40)


@pytest.fixture
def fleet():
    f = Fleet({"t1": {}, "t2": {}, "t3": {}})
    f.start()
    yield f
    f.stop()


def test_tenant_change_under_load_and_a_refused_broken_config(tmp_path, pki, fleet):
    lb = start_lb(tmp_path, fleet, ["t1", "t2"], pki)
    try:
        pid = lb.node.httpd_pid()
        changed = live_settings(fleet, ["t1", "t2", "t3"], lb.node.http_port, lb.node.https_port, pki)
        with ClientLoop(lb.port, PATHS) as load:
            time.sleep(1)
            began = time.monotonic()
            pushed = lb.node.push(push_step(changed), tls_stdin(pki))
            ended = time.monotonic()
            time.sleep(1)
        assert pushed.returncode == 0 and "graceful reload" in pushed.stdout, pushed.stdout + pushed.stderr
        bad = [s for _, s in load.results if not 200 <= s < 300]
        during = sum(began <= at <= ended + 1 for at, _ in load.results)
        print(
            f"\nreload under load: {len(load.results)} requests ({during} during the push and the second after), "
            f"{len(bad)} non-2xx"
        )
        assert during > 20 and any(at < began for at, _ in load.results) and bad == []
        assert request("GET", "/t3/api/me", lb.port).json()["member"].startswith("t3-rws-")  # the new tenant serves
        assert lb.node.httpd_pid() == pid  # graceful: the same parent, no restart

        only_t1 = live_settings(fleet, ["t1"], lb.node.http_port, lb.node.https_port, pki)
        broken = push_step(only_t1, edit=lambda p, t: t.replace("</Proxy>", "</Proxv>", 1) if p.endswith("_t1.conf") else t)
        corrupted = push_step(only_t1).replace("printf %s ", "printf %s X", 1)  # a damaged transfer
        refused = lb.node.push(broken, tls_stdin(pki))
        assert refused.returncode != 0 and "Syntax error" in refused.stderr, refused.stderr
        assert "previous files restored, nothing reloaded" in refused.stderr
        damaged = lb.node.push(corrupted, tls_stdin(pki))
        assert damaged.returncode != 0 and "previous files restored" in damaged.stderr, damaged.stderr
        assert lb.node.httpd_pid() == pid
        for tid in ("t1", "t2", "t3"):  # the old config keeps serving every tenant
            assert request("GET", f"/{tid}/rp/api/j", lb.port).status == 200
        again = lb.node.run("apache2ctl", "-t")
        assert again.returncode == 0, again.stderr  # and the files on disk are the good ones again
    finally:
        lb.node.shutdown()
