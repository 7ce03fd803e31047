"""The MPM block means what its comment says, read back from the running httpd (2.4 event and 2.2
worker): the sized processes hold max_agents long-polls and still answer, and a graceful reload
starts new children while the old ones hold every worker thread."""

from __future__ import annotations

import asyncio
import time

import pytest

from blueprint.render import mpm_sizing
from lab.live import Fleet, open_polls, push_step, request
from tests.live.conftest import HTTPDS, start_lb

AGENTS = 150  # with 25% headroom: 188 workers needed -> 2 processes x 100 threads, ServerLimit 4
HOLD_S = 40


@pytest.fixture
def fleet():
    f = Fleet({"t1": {}})
    f.start()
    yield f
    f.stop()


def hold(lb, count: int, loop: asyncio.AbstractEventLoop) -> list[asyncio.StreamWriter]:
    writers, failed = loop.run_until_complete(open_polls(lb.port, count, HOLD_S))
    deadline = time.monotonic() + 15
    while lb.fleet.held_polls() < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert failed == 0 and lb.fleet.held_polls() == count, (failed, lb.fleet.held_polls())
    return writers


@pytest.mark.parametrize("held", ["max_agents", "every_worker"])
@pytest.mark.parametrize("httpd", list(HTTPDS))
def test_the_sized_processes_hold_the_polls_and_a_graceful_reload_starts_new_ones(tmp_path, pki, fleet, httpd, held):
    """max_agents polls: the sized processes hold them and the headroom answers. Either way (also
    with every worker thread holding a poll), a graceful reload starts new children that answer,
    while the old ones keep their polls."""
    lb = start_lb(tmp_path, fleet, ["t1"], pki, os_profile=HTTPDS[httpd], max_agents=AGENTS)
    m = mpm_sizing(AGENTS, lb.settings.httpd.headroom_percent)
    count = AGENTS if held == "max_agents" else m.max_request_workers
    loop = asyncio.new_event_loop()
    writers: list[asyncio.StreamWriter] = []
    try:
        writers = hold(lb, count, loop)
        before = lb.node.worker_processes()
        if held == "max_agents":
            assert request("GET", "/t1/rp/api/jobs", lb.port, timeout=3).status == 200  # the headroom answers
        assert len(before) >= m.processes and all(threads > m.threads_per_child for _, threads in before), before
        pushed = lb.node.push(push_step(lb.settings), lb.tls_pair)
        assert pushed.returncode == 0 and "graceful reload" in pushed.stdout, pushed.stdout + pushed.stderr
        assert request("GET", "/t1/rp/api/jobs", lb.port, timeout=3).status == 200
        new = [c for c in lb.node.worker_processes() if c[0] not in {pid for pid, _ in before}]
        print(f"\n{httpd}, {count} polls: children (pid, threads) {before}; new after the reload {new}")
        assert new and lb.fleet.held_polls() == count
    finally:
        for w in writers:
            w.close()
        loop.close()
        lb.node.shutdown()
