"""Capacity: one held RWS long-poll per logged-in agent. With the MPM sized from max_agents the
balancer holds them all and still answers a short request; with Debian's default MPM it cannot."""

from __future__ import annotations

import asyncio
import time

import pytest

from lab.live import Fleet, open_polls, request
from tests.live.conftest import start_lb

AGENTS = 2000
HOLD_S = 20


def measure(lb, agents: int) -> tuple[int, float | None]:
    """Opens the polls, waits (bounded) for them to reach the members, then times a short request."""
    loop = asyncio.new_event_loop()
    try:
        writers, _ = loop.run_until_complete(open_polls(lb.port, agents, HOLD_S))
        deadline = time.monotonic() + 15
        count = lb.fleet.held_polls()
        while count < agents and time.monotonic() < deadline:
            time.sleep(0.5)
            count = lb.fleet.held_polls()
        try:
            short = request("GET", "/t1/rp/api/jobs", lb.port, timeout=3).elapsed
        except TimeoutError:
            short = None
        for w in writers:
            w.close()
        return count, short
    finally:
        loop.close()


@pytest.fixture
def fleet():
    f = Fleet({"t1": {}})
    f.start()
    yield f
    f.stop()


@pytest.mark.parametrize("sized", [True, False], ids=["mpm-sized-for-2000", "debian-default-mpm"])
def test_long_poll_capacity(tmp_path, pki, fleet, sized):
    lb = start_lb(tmp_path, fleet, ["t1"], pki, drop_conf=() if sized else ("gir-lb-mpm.conf",), max_agents=AGENTS)
    try:
        count, short = measure(lb, AGENTS)
        answer = f"{short:.3f}s" if short is not None else "no answer within 3 s"
        print(f"\n{'sized' if sized else 'default'} MPM: {count} of {AGENTS} polls held; short request: {answer}")
        if sized:
            assert count == AGENTS and short is not None and short < 1.0
        else:
            assert count < AGENTS / 2 and short is None
    finally:
        lb.node.shutdown()
