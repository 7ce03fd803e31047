"""httpd crash downtime against Pacemaker's monitor interval: brings a lab up (`--stack`), and for
each of `--intervals` (seconds) applies `cluster.httpd_monitor_s` through the plan (a live CIB
change, no restart), then SIGKILLs httpd on the active node `--runs` times under a 100 ms probe.
Writes the downtimes (CSV), their picture (PNG) and a Markdown summary to `--out`."""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from lab.runner import Lab

from . import machine_line, on_a_lab, with_cluster
from .plot import downtime_by_setting


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench httpd-monitor", description=__doc__)
    parser.add_argument("--stack", default="lab")
    parser.add_argument("--intervals", default="1,2,5,10", help="comma-separated seconds")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/httpd-monitor"))
    parser.add_argument("--name", default=f"bench{os.getpid()}", help="lab name")
    args = parser.parse_args(argv)
    intervals = [int(i) for i in args.intervals.split(",")]
    return on_a_lab(args.name, args.stack, lambda lab: measure(lab, intervals, args.runs, args.out))


def measure(lab: Lab, intervals: list[int], runs: int, out: Path) -> str:
    """On a running lab (left with its own stack applied again): the downtimes per interval."""
    out.mkdir(parents=True, exist_ok=True)
    downtimes: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for seconds in intervals:
                lab.apply(with_cluster(lab.stack_file, Path(tmp), httpd_monitor_s=seconds))
                downtimes[seconds] = []
                for _ in range(runs):
                    # A random phase: otherwise every kill lands at the same point of the monitor cycle.
                    time.sleep(random.uniform(0, seconds))
                    downtimes[seconds].append(lab.failover("httpd").downtime or float("inf"))
        finally:
            lab.apply(lab.stack_file)
    with open(out / "downtimes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["httpd_monitor_s", "run", "downtime_s"])
        for seconds, values in downtimes.items():
            writer.writerows([seconds, run, f"{value:.2f}"] for run, value in enumerate(values, 1))
    title = "httpd SIGKILL: downtime against the monitor interval"
    downtime_by_setting(downtimes, out / "downtimes.png", title, "httpd_monitor_s (s)")
    lines = [
        "# httpd crash: downtime against the monitor interval",
        "",
        machine_line(),
        f"- method: `python -m bench httpd-monitor --stack {lab.stack} --intervals {','.join(map(str, intervals))}"
        f" --runs {runs}`:"
        " each interval applied live through the plan, then httpd SIGKILLed on the active node (after a random wait of up"
        " to one interval, so the kill lands anywhere in the monitor cycle) under one request every"
        " 100 ms (1 s timeout); downtime = last answer before the first failure to the first answer after it",
        "",
        "| httpd_monitor_s | median (s) | min (s) | max (s) | every run (s) |",
        "|---|---|---|---|---|",
    ]
    for seconds, values in downtimes.items():
        every = ", ".join(f"{v:.1f}" for v in values)
        lines.append(f"| {seconds} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} | {every} |")
    lines += ["", "![downtime against the monitor interval](downtimes.png)"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)
