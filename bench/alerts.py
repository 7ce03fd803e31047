"""From a member failure to an alert and back, as the lab's Prometheus saw it: brings a lab up
(`--stack`), kills tenant t1's RCS members while a client keeps asking t1's RCS (Apache learns a
member is down from the requests it sends there), waits for `GirLbServiceWithoutMember` to fire,
starts the members again and waits for it to resolve. The timeline (usable members and the
alert's state, from Prometheus' own series) goes to `--out` as CSV, PNG and a Markdown summary."""

from __future__ import annotations

import argparse
import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lab.boxes import LabError
from lab.runner import Lab
from lab.watch import INTERVAL_S

from . import machine_line, on_a_lab
from .plot import alert_timeline

ALERT = "GirLbServiceWithoutMember"
TENANT, SERVICE = "t1", "rcs"


@dataclass
class AlertRun:
    killed: float  # epoch seconds
    emptied: float  # the first scrape that saw no usable member
    fired: float  # the first evaluation that found the alert firing
    restarted: float
    resolved: float  # the first evaluation after that without the alert
    labels: list[dict[str, str]]  # every alert firing at its peak (this one, and any other)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench alerts", description=__doc__)
    parser.add_argument("--stack", default="lab")
    parser.add_argument("--out", type=Path, default=Path("bench/results/alerts"))
    parser.add_argument("--name", default=f"bench{os.getpid()}", help="lab name")
    args = parser.parse_args(argv)
    return on_a_lab(args.name, args.stack, lambda lab: summary(measure(lab, args.out), lab, args.out))


def first(lab: Lab, expr: str, start: float, end: float) -> float | None:
    """The first moment (to 0.5 s: finer than the 2 s evaluations) the expression had a value."""
    times = [float(at) for r in lab.watch.query_range(expr, start, end, step=0.5) for at, _ in r["values"]]
    return min(times) if times else None


def ask_until(lab: Lab, done, timeout: float) -> None:
    """t1's RCS asked every 0.5 s (bounded) until done() is true."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise LabError(f"not within {timeout:.0f}s")
        lab.get(f"/{TENANT}/{SERVICE}/api/x")
        time.sleep(0.5)


def measure(lab: Lab, out: Path) -> AlertRun:
    """On a running lab (its members running again afterwards): one run, its timeline written."""
    lab.watch.wait_targets_up()
    lab.watch.wait_quiet()
    time.sleep(3 * INTERVAL_S)  # calm before the kill, in the series too
    hold_s = lab.settings.monitoring.no_member_for_s
    killed = time.time()
    stopped = lab.stop_members(TENANT, SERVICE)
    try:
        ask_until(lab, lambda: any(a["alertname"] == ALERT for a in lab.watch.alerts()), hold_s + 60)
        labels = lab.watch.alerts()
        time.sleep(3 * INTERVAL_S)  # the firing state, seen for a few evaluations
    finally:
        lab.start_members(SERVICE, stopped)
    restarted = time.time()
    ask_until(lab, lambda: not lab.watch.alerts(), 90)  # after retry_s Apache tries the members again
    time.sleep(2 * INTERVAL_S)  # the resolved state in the series
    end = time.time()
    usable = f'max(gir_lb_service_usable_members{{tenant="{TENANT}",service="{SERVICE}"}})'
    alert = f'ALERTS{{alertname="{ALERT}",tenant="{TENANT}",service="{SERVICE}"}}'
    emptied = first(lab, f"{usable} == 0", killed, end)
    fired = first(lab, alert.replace("}", ',alertstate="firing"}'), killed, end)
    resolved = first(lab, f"({usable} > 0) unless on() {alert}", restarted, end)
    if emptied is None or fired is None or resolved is None:
        raise LabError(f"the series miss a step: emptied {emptied}, fired {fired}, resolved {resolved}")
    run = AlertRun(killed, emptied, fired, restarted, resolved, labels)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "timeline.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["t_after_kill_s", "usable_members", "alert_state"])
        states = {}
        for r in lab.watch.query_range(alert, killed - 5, end):
            for at, _ in r["values"]:
                states[round(float(at), 3)] = r["metric"]["alertstate"]
        for r in lab.watch.query_range(usable, killed - 5, end):
            for at, value in r["values"]:
                writer.writerow([f"{float(at) - killed:.1f}", value, states.get(round(float(at), 3), "inactive")])
    marks = {"members killed": 0.0, "members started": restarted - killed}
    alert_timeline(out / "timeline.csv", marks, out / "timeline.png", f"{TENANT}/{SERVICE}: members killed, alert, back")
    return run


def summary(run: AlertRun, lab: Lab, out: Path) -> str:
    s = lab.settings.monitoring
    text = f"""# From a member failure to an alert and back (`python -m bench alerts --stack {lab.stack}`)

{machine_line()}
- Prometheus scrapes and evaluates every {INTERVAL_S} s (the lab's; production's are yours);
  `no_member_for_s: {s.no_member_for_s}` (the lab stack's; default 60).
- t1's RCS members killed at 0 s; a client asks t1's RCS every 0.5 s.

| step | seconds after the kill |
|---|---|
| the first scrape with no usable t1/rcs member | {run.emptied - run.killed:.1f} |
| `{ALERT}` firing | {run.fired - run.killed:.1f} ({run.fired - run.emptied:.1f} after that scrape) |
| members started again | {run.restarted - run.killed:.1f} |
| resolved (a usable member, no alert) | {run.resolved - run.killed:.1f} |

Firing at the peak: {", ".join(sorted(f"{a['alertname']}({a.get('tenant', '')}/{a.get('service', '')})" for a in run.labels))}.

![timeline](timeline.png)
"""
    (out / "summary.md").write_text(text)
    return text
