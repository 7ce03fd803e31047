"""A rolling tenant change under keep-alive load: brings a lab up, holds `--connections` HTTP/1.1
keep-alive connections to the VIP (each sends a request every 50 ms and reopens a connection the
server closed: bench/keepalive_client.py), first for a baseline window with no change, then while
`--changes` tenant changes go through the plan's httpd-push steps (standby, then active). Counts
failed requests and connections the server closed, idle or under a request. Writes counts.csv,
counts.png and summary.md to `--out`."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from lab.runner import Lab

from . import machine_line, on_a_lab
from .plot import counts_by_phase

CLIENT = Path(__file__).resolve().parent / "keepalive_client.py"
INTERVAL_S = 0.05
KEYS = ("ok", "failed", "closed_idle", "closed_busy", "connections")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench rolling", description=__doc__)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results/rolling"))
    parser.add_argument("--name", default=f"bench{os.getpid()}", help="lab name")
    args = parser.parse_args(argv)
    return on_a_lab(args.name, None, lambda lab: measure(lab, args.changes, args.connections, args.out))


def under_load(lab: Lab, connections: int, work, seconds_hint: float, folder: Path) -> dict[str, int]:
    """Runs work() while the keep-alive clients run; their counts."""
    stop, out = folder / f"stop-{time.time_ns()}", folder / f"counts-{time.time_ns()}.json"
    argv = [str(lab.settings.network.vip), f"/{lab.settings.tenants[0].id}/api/probe", str(connections)]
    argv += [str(INTERVAL_S), str(stop), str(out), str(seconds_hint + 60)]
    clients = subprocess.Popen([*lab.box("client").enter("-n"), "/usr/bin/python3", str(CLIENT), *argv])
    try:
        time.sleep(1)
        work()
        time.sleep(1)
    finally:
        stop.touch()
        clients.wait(timeout=30)
    return json.loads(out.read_text())


def measure(lab: Lab, changes: int, connections: int, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        variants = [lab.smaller_stack(folder), lab.stack_file]
        took: list[float] = []

        def change_all() -> None:
            for i in range(changes):
                began = time.monotonic()
                lab.apply(variants[i % 2])
                took.append(time.monotonic() - began)
            if changes % 2:
                lab.apply(lab.stack_file)  # leave the lab as it was

        during = under_load(lab, connections, change_all, changes * 10, folder)
        window = sum(took)
        baseline = under_load(lab, connections, lambda: time.sleep(window), window, folder)
    phases = {"baseline": baseline, f"{changes} changes": during}
    with open(out / "counts.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["phase", *KEYS])
        writer.writerows([phase, *(counts[k] for k in KEYS)] for phase, counts in phases.items())
    counts_by_phase(
        {"baseline": baseline, f"{changes} changes": during},
        ["failed", "closed_idle", "closed_busy"],
        out / "counts.png",
        "Keep-alive clients during tenant changes",
    )
    lines = [
        "# A rolling tenant change under keep-alive load",
        "",
        machine_line(),
        f"- method: `python -m bench rolling --changes {changes} --connections {connections}`: {connections} HTTP/1.1 keep-alive"
        f" connections to the VIP, a request on each every {INTERVAL_S * 1000:.0f} ms; {changes} tenant changes through the"
        f" plan (httpd-push on the standby, then the active node: a graceful reload each), {window:.0f} s in all; then a"
        " baseline window of the same length without a change",
        "",
        "| phase | answered | failed | closed by the server while idle | closed under a request | connections opened |",
        "|---|---|---|---|---|---|",
        *(f"| {phase} | " + " | ".join(str(counts[k]) for k in KEYS) + " |" for phase, counts in phases.items()),
        "",
        "![counts](counts.png)",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)
