"""The token trade-off: brings a lab up (`--stack`) and, for each point of `--points`
(token:knet_ping_interval:knet_ping_timeout in ms, applied live through the plan), measures
1. node-loss downtime: `--runs` times the active node loses power under a 100 ms probe;
2. a CPU-stress soak: stress-ng on every core for `--soak-s` seconds under the same probe, counting
   the membership changes corosync made (each node's join count of its peer: with fencing, every
   one is a node fenced), failed probes and moves of the node that answers;
3. the network hiccup it rides out: the link between the nodes is cut for each of `--blackouts`
   seconds in turn (both nodes stay up) until one of them makes corosync change the membership.
Writes them as CSV, their picture (tradeoff.png) and a Markdown summary to `--out`."""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lab.runner import Lab, LabError

from . import machine_line, on_a_lab, with_cluster
from .plot import token_tradeoff

TIMERS = ("token_ms", "knet_ping_interval_ms", "knet_ping_timeout_ms")
DEFAULT_POINTS = "500:60:250,1000:125:250,2000:250:500,3000:375:750"


@dataclass(frozen=True)
class Point:
    token_ms: int
    ping_interval_ms: int
    ping_timeout_ms: int

    @classmethod
    def parse(cls, text: str) -> Point:
        token, interval, timeout = (int(x) for x in text.split(":"))
        return cls(token, interval, timeout)

    @property
    def timers(self) -> tuple[int, int, int]:
        return self.token_ms, self.ping_interval_ms, self.ping_timeout_ms

    @property
    def label(self) -> str:
        return f"{self.token_ms}:{self.ping_interval_ms}:{self.ping_timeout_ms}"


@dataclass(frozen=True)
class Soak:
    seconds: float
    membership_changes: int  # peer (re)joins seen by the nodes, summed
    probes: int
    failed: int
    moves: int  # changes of the node that proxied consecutive answers


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench token", description=__doc__)
    parser.add_argument("--stack", default="lab")
    parser.add_argument("--points", default=DEFAULT_POINTS, help="comma-separated token:ping_interval:ping_timeout (ms)")
    parser.add_argument("--runs", type=int, default=5, help="node losses per point")
    parser.add_argument("--soak-s", type=float, default=600)
    parser.add_argument("--blackouts", default="0.25,0.5,1,1.5,2,3,5", help="comma-separated seconds, shortest first")
    parser.add_argument("--out", type=Path, default=Path("bench/results/token"))
    parser.add_argument("--name", default=f"bench{os.getpid()}", help="lab name")
    args = parser.parse_args(argv)
    points = [Point.parse(p) for p in args.points.split(",")]
    blackouts = [float(b) for b in args.blackouts.split(",")]
    return on_a_lab(args.name, args.stack, lambda lab: measure(lab, points, args.runs, args.soak_s, blackouts, args.out))


def peer_joins(lab: Lab) -> int:
    """Sum over the nodes of corosync's join count of every member (it grows on each membership
    change that brings a member back)."""
    total = 0
    for node in lab.nodes:
        out = node.run("corosync-cmapctl", "-b", "runtime.members", check=True).stdout
        total += sum(int(line.rsplit("=", 1)[1]) for line in out.splitlines() if ".join_count " in line)
    return total


def running_token(lab: Lab) -> int:
    out = lab.running_node().run("corosync-cmapctl", "-g", "runtime.config.totem.token", check=True).stdout
    return int(out.rsplit("=", 1)[1])


def soak(lab: Lab, seconds: float) -> Soak:
    """stress-ng on every core (a child of this process, stopped by its PID) under the probe."""
    before = peer_joins(lab)
    probe = lab.start_probe(max_seconds=seconds + 30)
    stress = subprocess.Popen(
        ["stress-ng", "--cpu", str(os.cpu_count()), "--timeout", f"{int(seconds)}s", "--quiet"],
        stdout=subprocess.DEVNULL,
    )
    try:
        stress.wait(timeout=seconds + 30)
    finally:
        if stress.poll() is None:
            stress.kill()
            stress.wait()
        rows = probe.stop()
    answered = [r.via for r in rows if r.status == 200]
    moves = sum(1 for a, b in zip(answered, answered[1:], strict=False) if a != b)
    return Soak(seconds, peer_joins(lab) - before, len(rows), sum(1 for r in rows if r.status != 200), moves)


def rides_out(lab: Lab, seconds: float) -> bool:
    """Cuts the link between the nodes for `seconds`, then waits for corosync to settle (2 tokens plus
    consensus); False if the membership changed (then waits until both nodes serve again)."""
    before = peer_joins(lab)
    lab.cut_cluster_link()
    time.sleep(seconds)
    lab.cut_cluster_link(False)
    time.sleep(3.2 * running_token(lab) / 1000 + 1)
    if peer_joins(lab) == before and lab.where("webserver"):
        return True
    lab.wait_both_online()
    lab.wait_serving(60)
    return False


def longest_ridden_out(lab: Lab, blackouts: list[float]) -> tuple[float, float | None]:
    """The longest cut the membership survived, and the shortest that changed it (None: none did)."""
    survived = 0.0
    for seconds in blackouts:
        if not rides_out(lab, seconds):
            return survived, seconds
        survived = seconds
    return survived, None


def measure(lab: Lab, points: list[Point], runs: int, soak_s: float, blackouts: list[float], out: Path) -> str:
    """On a running lab (left with its own stack applied again): per point, a soak, node-loss
    downtimes and the network hiccup the membership rides out."""
    out.mkdir(parents=True, exist_ok=True)
    downtimes: dict[Point, list[float]] = {}
    soaks: dict[Point, Soak] = {}
    hiccups: dict[Point, tuple[float, float | None]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for point in points:
                lab.apply(
                    with_cluster(
                        lab.stack_file,
                        Path(tmp),
                        token_ms=point.token_ms,
                        knet_ping_interval_ms=point.ping_interval_ms,
                        knet_ping_timeout_ms=point.ping_timeout_ms,
                    )
                )
                if running_token(lab) != point.token_ms:
                    raise LabError(f"token {point.token_ms} did not reach corosync: it runs {running_token(lab)}")
                soaks[point] = soak(lab, soak_s)
                downtimes[point] = [lab.failover("node").downtime or float("inf") for _ in range(runs)]
                hiccups[point] = longest_ridden_out(lab, blackouts)
        finally:
            lab.apply(lab.stack_file)
    with open(out / "node-loss.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*TIMERS, "run", "downtime_s"])
        for p, values in downtimes.items():
            writer.writerows([*p.timers, run, f"{v:.2f}"] for run, v in enumerate(values, 1))
    with open(out / "soak.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*TIMERS, "soak_s", "membership_changes", "probes", "failed", "moves", "cut_survived_s", "cut_split_s"])
        for p, s in soaks.items():
            survived, split = hiccups[p]
            row = [s.seconds, s.membership_changes, s.probes, s.failed, s.moves, survived, "" if split is None else split]
            writer.writerow([*p.timers, *row])
    token_tradeoff(
        {p.token_ms: v for p, v in downtimes.items()},
        {p.token_ms: survived for p, (survived, _) in hiccups.items()},
        {p.token_ms: s.membership_changes for p, s in soaks.items()},
        out / "tradeoff.png",
        f"stack {lab.stack}: node loss and the link cut ridden out against the token; membership changes in a {soak_s:.0f} s"
        " CPU-stress soak",
    )
    lines = [
        "# The token trade-off: node-loss downtime against spurious membership changes",
        "",
        machine_line(),
        f"- method: `python -m bench token --stack {lab.stack} --points {','.join(p.label for p in points)} --runs {runs}"
        f" --soak-s {soak_s:.0f}`: each point applied live through the plan (read back from corosync), then a soak:"
        f" `stress-ng --cpu {os.cpu_count()}` for {soak_s:.0f} s with one request to the VIP every 100 ms (1 s timeout),"
        " counting corosync's peer joins on both nodes (membership changes), failed probes and changes of the answering"
        " node; then the active node loses power, `--runs` times, under the same probe (downtime = last answer before"
        " the first failure to the first answer after it); then the link between the nodes is cut for"
        f" {', '.join(f'{b:g}' for b in blackouts)} s in turn, until a cut changes the membership",
        "",
        "| token:ping_interval:ping_timeout (ms) | node loss median (s) | min–max (s) | every run (s) |"
        " soak membership changes | soak failed probes | soak moves | link cut ridden out | cut that split |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        values, s, (survived, split) = downtimes[p], soaks[p], hiccups[p]
        every = ", ".join(f"{v:.1f}" for v in values)
        lines.append(
            f"| {p.label} | {statistics.median(values):.1f} | {min(values):.1f}–{max(values):.1f} | {every} |"
            f" {s.membership_changes} | {s.failed} of {s.probes} | {s.moves} | {survived:g} s |"
            f" {'none' if split is None else f'{split:g} s'} |"
        )
    lines += ["", "![token trade-off](tradeoff.png)"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)
