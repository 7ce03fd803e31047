"""EC2 API trouble on a healthy pair (lab-aws: awsvip + IPaddr2, fence_aws, the EC2 emulator),
each under one request to the VIP every 100 ms (new connection, 1 s timeout): the API unreachable
for `--outage-s`, then every second EC2 call answered RequestLimitExceeded for `--throttle-s`, then
the VIP unassigned from the active node's ENI by hand (the API answering), which the cluster must
notice and repair. Writes every probe (CSV, as bench failover), their picture and a summary with
failed requests, what EC2 did (VIP moves, power changes, refused calls) and how long the repair took."""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

from lab.boxes import wait_for
from lab.probing import ProbeRow, downtime
from lab.runner import Lab

from . import machine_line, on_a_lab
from .plot import failover_timelines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ec2-trouble", description=__doc__)
    parser.add_argument("--outage-s", type=int, default=120)
    parser.add_argument("--throttle-s", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("bench/results/ec2-trouble"))
    parser.add_argument("--name", default=f"bench{os.getpid()}", help="lab name")
    args = parser.parse_args(argv)
    return on_a_lab(args.name, "lab-aws", lambda lab: measure(lab, args.outage_s, args.throttle_s, args.out))


def measure(lab: Lab, outage_s: int, throttle_s: int, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    runs: list[tuple[str, float, list[ProbeRow], str]] = []  # kind, at, probes, what EC2 did

    def under_probe(kind: str, seconds: float, cause, undo) -> None:
        probe = lab.start_probe(max_seconds=seconds + 90)
        time.sleep(1)
        at = time.time()
        cause()
        try:
            time.sleep(seconds)
        finally:
            undo()
        time.sleep(2)
        rows = probe.stop()
        events = lab.ec2_moves(at)
        refused = sum(e["event"] == "throttled" and e["t"] >= at for e in lab.ec2_history())
        did = ", ".join(f"{e['event']}" for e in events) or "nothing"
        runs.append((kind, at, rows, did + (f"; {refused} calls refused" if refused else "")))

    under_probe(
        f"API unreachable {outage_s}s",
        outage_s,
        lambda: lab.topology.set_ec2_reachable(False),
        lambda: lab.topology.set_ec2_reachable(True),
    )
    under_probe(f"API throttled {throttle_s}s", throttle_s, lambda: lab.throttle_ec2(2), lambda: lab.throttle_ec2(None))
    active = lab.where("webserver")
    assert active, "webserver runs nowhere after the API trouble"
    other = next(n.name for n in lab.settings.cluster.nodes if n.name != active)
    probe = lab.start_probe(max_seconds=120)
    time.sleep(1)
    at = time.time()
    lab.take_vip_away(active)
    wait_for(f"the VIP group on {other}", lambda: lab.where("webserver") == other, 60, 0.5)
    lab.wait_serving(60)
    time.sleep(2)
    rows = probe.stop()
    assigned = next(e for e in lab.ec2_moves(at) if e["event"] == "assign")
    runs.append(("VIP taken away by hand", at, rows, f"unassign (by hand), assign to {other} after {assigned['t'] - at:.1f}s"))

    names = {str(n.ip): n.name for n in lab.settings.cluster.nodes}
    with open(out / "probes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["run", "kind", "sent_after_failure_s", "status", "latency_s", "via"])
        for kind, at, rows, _ in runs:
            writer.writerows([1, kind, f"{r.at - at:.3f}", r.status, f"{r.latency:.4f}", names.get(r.via, r.via)] for r in rows)
    s = lab.settings
    summary = [
        "# EC2 API trouble on a healthy pair, `lab-aws`",
        "",
        machine_line(),
        f"- method: `python -m bench ec2-trouble --outage-s {outage_s} --throttle-s {throttle_s}`: one request to the VIP every"
        " 100 ms on a new connection (1 s timeout); EC2's side from the emulator's history",
        f"- settings: VIP monitor {s.cluster.vip_monitor_s} s (gir-lb:awsvip: from the instance metadata), fence device"
        f" monitor 60 s on-fail=ignore, failure-timeout {s.cluster.failure_timeout_s} s, token {s.cluster.token_ms} ms",
        "",
        "| trouble | probes | failed | without service (s) | what EC2 did |",
        "|---|---|---|---|---|",
    ]
    for kind, at, rows, did in runs:
        failed = sum(r.status != 200 for r in rows)
        down = downtime(rows, at)
        summary.append(f"| {kind} | {len(rows)} | {failed} | {'not recovered' if down is None else f'{down:.1f}'} | {did} |")
    summary += ["", "Every probe (coloured by the node that answered, red: failed):", "", "![timelines](timelines.png)"]
    failover_timelines(out / "probes.csv", out / "timelines.png", "lab-aws: EC2 API trouble as the client sees it")
    (out / "summary.md").write_text("\n".join(summary) + "\n")
    return "\n".join(summary)
