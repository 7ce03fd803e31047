"""Holds long-polls through the balancer for `python -m bench capacity`, in a process of their own:
a process cannot open more files than its hard RLIMIT_NOFILE (20,000 on this machine, and raising
it needs CAP_SYS_RESOURCE), so 20,000 polls are spread over several of these.

    python -m bench.hold_polls PORT FIRST COUNT HOLD_S

Prints "<opened> <failed>" once every connect is done, then keeps the polls open until its stdin
is closed (or it is killed)."""

from __future__ import annotations

import asyncio
import resource
import sys

from lab.live import open_polls


async def hold(port: int, first: int, count: int, hold_s: float) -> None:
    writers, failed = await open_polls(port, count, hold_s, first)
    print(f"{len(writers)} {failed}", flush=True)
    await asyncio.to_thread(sys.stdin.read)  # returns when the parent closes stdin
    for w in writers:
        w.close()


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(hold(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
