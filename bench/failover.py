"""Failover downtime seen by a client: brings a lab up from `--stack` (lab: IPaddr2 alone, no
fencing; lab-aws: awsvip + IPaddr2 and fence_aws against the EC2 emulator; lab-arbiter: lab-aws
with a quorum device instead of the priority fencing delay; lab-overlay: aws-vpc-move-ip and
fence_aws, the nodes in two subnets behind the lab's VPC router), then `--runs` times
each of `--kinds` (node: the active node loses power; httpd: SIGKILL of its httpd; split: the link
between the nodes is cut; az, overlay only: the active node loses power and its subnet is cut off
at the router at the same moment), each under one request to the VIP every 100 ms (new
connection, 1 s timeout). Writes every probe row (CSV: run, kind, sent at, status, latency, the node that
proxied it), their picture (timelines.png) and a Markdown summary (medians and spread) to `--out`."""

from __future__ import annotations

import argparse
import csv
import os
import statistics
from pathlib import Path

from lab.runner import Failover, Lab

from . import machine_line, on_a_lab
from .plot import failover_timelines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench failover", description=__doc__)
    parser.add_argument("--stack", default="lab", help="stacks/Pulumi.<stack>.yaml: lab, lab-aws, lab-arbiter or lab-overlay")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kinds", default="node,httpd", help="comma-separated: node, httpd, split, az")
    parser.add_argument("--out", type=Path, help="default: bench/results/failover-<stack>")
    parser.add_argument("--name", default=f"bench{os.getpid()}", help="lab name")
    args = parser.parse_args(argv)
    out = args.out or Path(f"bench/results/failover-{args.stack}")
    return on_a_lab(args.name, args.stack, lambda lab: measure(lab, args.runs, args.kinds.split(","), out))


def measure(lab: Lab, runs: int, kinds: list[str], out: Path) -> str:
    """Runs the failovers on a running lab (each one ends with both nodes back and serving);
    writes probes.csv and summary.md to `out` and returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    done: dict[str, list[Failover]] = {kind: [] for kind in kinds}
    for _ in range(runs):
        for kind in kinds:
            done[kind].append(lab.failover(kind))
    names = {str(n.ip): n.name for n in lab.settings.cluster.nodes}
    with open(out / "probes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "kind", "sent_after_failure_s", "status", "latency_s", "via"])
        for kind, results in done.items():
            for run, result in enumerate(results, 1):
                for r in result.rows:
                    writer.writerow([run, kind, f"{r.at - result.at:.3f}", r.status, f"{r.latency:.4f}", names.get(r.via, r.via)])
    s = lab.settings
    qd = s.cluster.quorum_device
    race = f"quorum device (arbiter {qd.address}, {qd.algorithm}, timeout {qd.timeout_ms} ms)" if qd else None
    fencing = f"fence_aws, {race or f'priority-fencing-delay {s.cluster.fencing.delay_s} s'}" if s.fencing else "off"
    summary = [
        f"# Failover downtime, `{lab.stack}` lab",
        "",
        machine_line(),
        f"- method: `python -m bench failover --stack {lab.stack} --runs {runs} --kinds {','.join(kinds)}`: one request to the"
        " VIP every 100 ms on a new connection (1 s timeout); downtime = last answer before the first failure to the first"
        " answer after it (0 when nothing failed)",
        f"- settings: VIP mode {s.network.vip_mode}, fencing {fencing}, token {s.cluster.token_ms} ms, "
        f"httpd monitor {s.cluster.httpd_monitor_s} s, VIP monitor {s.cluster.vip_monitor_s} s",
        "",
        "| failure | runs | median (s) | min (s) | max (s) | every run (s) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, results in done.items():
        times = [r.downtime if r.downtime is not None else float("inf") for r in results]
        every = ", ".join("not recovered" if t == float("inf") else f"{t:.1f}" for t in times)
        spread = f"{statistics.median(times):.1f} | {min(times):.1f} | {max(times):.1f}"
        summary.append(f"| {kind} | {len(times)} | {spread} | {every} |")
    summary += ["", "Every probe of every run (coloured by the node that answered, red: failed):", ""]
    summary.append("![timelines](timelines.png)")
    failover_timelines(out / "probes.csv", out / "timelines.png", f"{lab.stack}: failover as the client sees it")
    (out / "summary.md").write_text("\n".join(summary) + "\n")
    return "\n".join(summary)
