"""Tenant changes under a probe: the added latency of every request while the plan's httpd-push
steps reload the active node (docs/reload.md). Brings a lab up, applies `--changes` tenant changes
(the lab stack and its smaller variant, alternately) under one request every 50 ms with a 5 s
timeout, and writes every probe row (CSV) and a Markdown summary to `--out`. `--held N` keeps N
RWS long-polls open meanwhile (each re-polls when answered, as agents do), so that every httpd
worker process holds requests when it is told to reload, as in production."""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from lab.runner import Lab

from . import machine_line, on_a_lab

PROBE_INTERVAL_S, PROBE_TIMEOUT_S = 0.05, 5.0
POLL_HOLD_S = 10

POLL_HOLDER = Path(__file__).resolve().parent / "poll_holder.py"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench reload", description=__doc__)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("bench/results/reload"))
    parser.add_argument("--name", default=f"bench{os.getpid()}", help="lab name")
    parser.add_argument("--held", type=int, default=0, help="RWS long-polls held open during the changes")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between the end of a change and the next")
    args = parser.parse_args(argv)
    return on_a_lab(args.name, None, lambda lab: measure(lab, args.changes, args.held, args.out, args.gap))


def measure(lab: Lab, changes: int, held: int, out: Path, gap: float = 0.5) -> str:
    """Runs the scenario on a running lab (left as it was found); writes probes.csv and summary.md
    to `out` and returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    variants = [lab.smaller_stack(work), lab.stack_file]
    windows: list[tuple[float, int]] = []  # (start, wake-ups) of each change
    holders = None
    try:
        if held:
            vip, tenant = str(lab.settings.network.vip), lab.settings.tenants[0].id
            holder_argv = [vip, f"/{tenant}/api/poll", str(held), str(work / "stop"), str(work / "polls")]
            holder_argv += [str(changes * (10 + gap) + 60), str(POLL_HOLD_S)]
            holders = subprocess.Popen([*lab.box("client").enter("-n"), "/usr/bin/python3", str(POLL_HOLDER), *holder_argv])
            time.sleep(3)  # every agent's first poll is held
        probe = lab.start_probe(max_seconds=changes * (10 + gap) + 30, interval=PROBE_INTERVAL_S, timeout=PROBE_TIMEOUT_S)
        time.sleep(1)
        for i in range(changes):
            began = time.time()
            output = "".join(lab.apply(variants[i % 2]).values())
            windows.append((began, sum(int(n) for n in re.findall(r"\((\d+) wake-up", output))))
            time.sleep(gap)
        if changes % 2:
            lab.apply(lab.stack_file)  # leave the lab as it was
        time.sleep(1)
        rows = probe.stop()
        polls = "none held"
        if holders:
            (work / "stop").touch()
            holders.wait(timeout=POLL_HOLD_S + 30)
            answered, cut = map(int, (work / "polls").read_text().split())
            polls = f"{held} held: {answered} answered, {cut} cut"
    finally:
        if holders and holders.poll() is None:
            holders.kill()
            holders.wait()
        shutil.rmtree(work, ignore_errors=True)
    baseline = statistics.median(r.latency for r in rows if r.at < windows[0][0])
    starts = [lo for lo, _ in windows] + [float("inf")]
    with open(out / "probes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sent_epoch_s", "status", "latency_s", "change"])
        for r in rows:
            change = next((i + 1 for i in range(len(windows)) if starts[i] <= r.at < starts[i + 1]), "")
            writer.writerow([f"{r.at:.3f}", r.status, f"{r.latency:.4f}", change])
    per_change = []
    for i, (_, wakeups) in enumerate(windows):
        window = [r for r in rows if starts[i] <= r.at < starts[i + 1]]
        per_change.append((max(r.latency for r in window) - baseline, sum(r.status != 200 for r in window), wakeups))
    worst = max(added for added, _, _ in per_change)
    summary = [
        "# Tenant changes under a 50 ms probe",
        "",
        machine_line(),
        f"- method: `python -m bench reload --changes {changes} --held {held} --gap {gap}`: a lab (`stacks/Pulumi.lab.yaml`), "
        f"{changes} tenant changes through the plan's httpd-push steps (standby, then active), one request "
        f"to the VIP every {PROBE_INTERVAL_S * 1000:.0f} ms on a new connection, {PROBE_TIMEOUT_S:.0f} s timeout",
        f"- RWS long-polls (each held {POLL_HOLD_S} s, re-polled when answered): {polls}",
        f"- requests: {len(rows)}, failed: {sum(r.status != 200 for r in rows)}; "
        f"baseline latency (median before the first change): {baseline * 1000:.1f} ms",
        f"- worst added latency over all changes: **{worst * 1000:.0f} ms**; "
        f"reload wake-ups needed: {sum(w for _, _, w in per_change)}",
        "",
        "| change | worst added latency (ms) | failed | wake-ups |",
        "|---|---|---|---|",
        *(f"| {i + 1} | {added * 1000:.0f} | {failed} | {w} |" for i, (added, failed, w) in enumerate(per_change)),
    ]
    (out / "summary.md").write_text("\n".join(summary) + "\n")
    return "\n".join(summary)
