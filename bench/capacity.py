"""Capacity of one node: agents' RWS long-polls held through the balancer against apache2's memory,
and the latency of a short request while they are held.

For each count: fake members for tenant t1 on loopback and a real apache2 in a box (ApacheNode
in lab/live.py) serving the bundle rendered for `max_agents` = that count (1 for 0); once every
worker thread is up, the idle memory is read; then `count` long-polls (`?hold=`) are opened
through the balancer from several 127.0.0.0/8 source addresses, and when the members hold them
(a bounded wait: past it the run fails): the PSS of every apache2 process summed
(/proc/<pid>/smaps_rollup: shared pages counted once), processes and threads, the system's
KernelStack (kernel memory that PSS leaves out: one stack per thread), then `--short` sequential
short requests (RP) timed while the polls are held. PSS per held poll is the growth over the
0-held point divided by the count.
`--knob-count N` also runs the MPM variants of KNOBS at N held (each as rendered, plus one change).
Writes capacity.csv, latencies.csv, capacity.png and summary.md to `--out`. Run as root."""

from __future__ import annotations

import argparse
import csv
import resource
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from blueprint.render import THREADS_PER_CHILD, mpm_conf, mpm_sizing
from blueprint.stack_config import parse_settings, read_stack_file
from blueprint.stacks import stack_file
from lab.boxes import wait_for
from lab.live import POLL_PATH, POLLS_PER_SOURCE, Fleet, free_ports, request, start_node

from . import machine_line
from .plot import capacity_curves

REPO = Path(__file__).resolve().parent.parent
LAB_STACK = stack_file("lab")
SHORT_PATH = "/t1/rp/api/jobs"  # an RP path: answered at once
HELD_WAIT_S = 240  # bound on the wait for the members to hold every poll
GIB = 1024 * 1024  # KiB
OS_BASE_KIB = 1 * GIB  # allowance for the OS, Pacemaker, Corosync and pcsd (not measured here)
# On-demand instance types (RAM in GiB); the smallest whose half holds the node is suggested.
INSTANCES = [("t3.small", 2), ("t3.medium", 4), ("m6i.large", 8), ("m6i.xlarge", 16), ("m6i.2xlarge", 32)]


@dataclass(frozen=True)
class Variant:
    """The rendered MPM file, optionally with other ThreadsPerChild and extra directives."""

    name: str
    threads_per_child: int = THREADS_PER_CHILD
    directives: tuple[str, ...] = ()

    def edit(self, settings):
        def edit(path: str, text: str) -> str:
            if not path.endswith("/gir-lb-mpm.conf"):
                return text
            if self.threads_per_child != THREADS_PER_CHILD:
                text = mpm_conf(settings, self.threads_per_child)
            return text + "".join(f"{d}\n" for d in self.directives)

        return edit


RENDERED = Variant("as rendered")
# Each one change against the rendered file (the last directive of a name wins in httpd).
KNOBS = [
    RENDERED,
    Variant("ThreadsPerChild 25", threads_per_child=25),
    Variant("ThreadsPerChild 250", threads_per_child=250),
    Variant("ThreadsPerChild 500", threads_per_child=500),
    Variant("ThreadStackSize 8 MB (the default)", directives=("ThreadStackSize 8388608",)),
    Variant("ThreadStackSize 128 KB", directives=("ThreadStackSize 131072",)),
    Variant("MaxMemFree 2048 KB (the default)", directives=("MaxMemFree 2048",)),
    Variant("MaxMemFree 64 KB", directives=("MaxMemFree 64",)),
    Variant("ProxyIOBufferSize 1024 (default 8192)", directives=("ProxyIOBufferSize 1024",)),
]


@dataclass
class Point:
    variant: str
    count: int
    max_agents: int
    threads_per_child: int
    processes: int = 0
    threads: int = 0
    held: int = 0
    held_after: int = 0  # still held once the short requests are done
    connect_failed: int = 0
    pss_idle_kib: int = 0
    pss_held_kib: int = 0
    kernel_stack_idle_kib: int = 0
    kernel_stack_held_kib: int = 0
    seconds_to_hold: float = 0.0
    latencies: list[float | None] = field(default_factory=list)  # None: no answer within 3 s

    @property
    def answered(self) -> list[float]:
        return sorted(x for x in self.latencies if x is not None)

    def percentile_ms(self, q: float) -> float | None:
        done = self.answered
        return 1000 * done[min(len(done) - 1, int(q * len(done)))] if done else None


def capacity_settings(fleet: Fleet, http_port: int, max_agents: int):
    """The lab stack (debian12) with tenant t1 on the fleet's loopback members."""
    entries = read_stack_file(str(LAB_STACK))
    cfg = {k.removeprefix("gir-lb:"): v for k, (v, _) in entries.items() if k.startswith("gir-lb:")}
    cfg["httpd"] = {"port": http_port, "max_agents": max_agents}
    cfg["tenants"] = [fleet.tenant_config("t1")]
    return parse_settings(cfg)


def apache_memory(node) -> tuple[int, int, int]:
    """(summed PSS in KiB, processes, threads) of the node's apache2 processes."""
    pss = processes = threads = 0
    for pid, name in node.box.processes():
        if name != "apache2":
            continue
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended between the listing and the read
        pss += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
        threads += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:"))
        processes += 1
    return pss, processes, threads


def kernel_stack_kib() -> int:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    return next(int(line.split()[1]) for line in meminfo if line.startswith("KernelStack:"))


def workers_started(port: int) -> int:
    """Busy + idle worker threads on the scoreboard."""
    text = request("GET", "/server-status?auto", port, timeout=5).body
    values = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return int(values.get("BusyWorkers", 0)) + int(values.get("IdleWorkers", 0))


def start_holders(port: int, count: int, hold_s: float) -> list[subprocess.Popen]:
    """Holder processes (bench/hold_polls.py), one per source address, each opening its share."""
    holders = []
    for first in range(0, count, POLLS_PER_SOURCE):
        share = min(POLLS_PER_SOURCE, count - first)
        cmd = [sys.executable, "-m", "bench.hold_polls", str(port), str(first), str(share), str(hold_s)]
        holders.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO))
    return holders


def opened_and_failed(holders: list[subprocess.Popen], timeout: float) -> tuple[int, int]:
    """Sums the holders' "<opened> <failed>" lines (bounded wait; a silent holder counts as 0 opened)."""
    opened = failed = 0
    deadline = time.monotonic() + timeout
    for h in holders:
        assert h.stdout is not None  # stdout=PIPE
        ready, _, _ = select.select([h.stdout], [], [], max(0.0, deadline - time.monotonic()))
        line = h.stdout.readline().split() if ready else []
        if len(line) == 2:
            opened, failed = opened + int(line[0]), failed + int(line[1])
    return opened, failed


def stop_holders(holders: list[subprocess.Popen]) -> None:
    """Closing stdin ends a holder and its polls; one that does not end is killed (by its PID)."""
    for h in holders:
        if h.stdin:
            h.stdin.close()
    for h in holders:
        try:
            h.wait(timeout=20)
        except subprocess.TimeoutExpired:
            h.kill()
            h.wait()


def hold_and_measure(point: Point, node, fleet: Fleet, hold_s: float, shorts: int) -> None:
    start = time.monotonic()
    holders = start_holders(node.http_port, point.count, hold_s)
    try:
        opened, point.connect_failed = opened_and_failed(holders, HELD_WAIT_S)
        wait_for("the members to hold every opened poll", lambda: fleet.held_polls() >= opened, HELD_WAIT_S, 0.5)
        point.seconds_to_hold = time.monotonic() - start
        point.held = fleet.held_polls()
        point.pss_held_kib, point.processes, point.threads = apache_memory(node)
        point.kernel_stack_held_kib = kernel_stack_kib()
        for _ in range(shorts):
            try:
                answer = request("GET", SHORT_PATH, node.http_port, timeout=3)
                point.latencies.append(answer.elapsed if answer.status == 200 else None)
            except OSError:  # includes timeouts
                point.latencies.append(None)
        point.held_after = fleet.held_polls()
    finally:
        stop_holders(holders)


def time_wait_sockets() -> int:
    tcp = next(line for line in Path("/proc/net/sockstat").read_text().splitlines() if line.startswith("TCP:"))
    return int(tcp.split()[tcp.split().index("tw") + 1])


def measure_point(workdir: Path, count: int, variant: Variant, hold_s: float, shorts: int) -> Point:
    # The previous point's closed polls sit in TIME_WAIT for 60 s on 127.0.0.1 ports; apache2 and the
    # stats requests connect from 127.0.0.1 too, and a knob run once ran out of ports (EADDRNOTAVAIL).
    wait_for("the last point's sockets to leave TIME_WAIT", lambda: time_wait_sockets() < 5000, 70, 1)
    max_agents = max(count, 1)
    point = Point(variant.name, count, max_agents, variant.threads_per_child)
    fleet = Fleet({"t1": {}})  # new members each time: a closed poll stays "held" there until its hold ends
    fleet.start()
    node = None
    try:
        settings = capacity_settings(fleet, free_ports(1)[0], max_agents)
        workdir.mkdir(parents=True)
        node = start_node(workdir, settings, edit=variant.edit(settings))
        workers = mpm_sizing(max_agents, settings.httpd.headroom_percent, variant.threads_per_child).max_request_workers
        wait_for(f"apache2 to start its {workers} workers", lambda: workers_started(node.http_port) >= workers, 120, 0.5)
        point.pss_idle_kib, point.processes, point.threads = apache_memory(node)
        point.kernel_stack_idle_kib = kernel_stack_kib()
        hold_and_measure(point, node, fleet, hold_s, shorts)
    finally:
        if node:
            node.shutdown()
        fleet.stop()
    return point


def per_held_kib(point: Point, baseline: Point) -> float | None:
    return (point.pss_held_kib - baseline.pss_held_kib) / point.held if point.held else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench capacity", description=__doc__)
    parser.add_argument("--counts", default="0,1000,5000,10000,15000,20000")
    parser.add_argument("--knob-count", type=int, default=0, help="also run the KNOBS variants at this many held polls")
    parser.add_argument("--hold-s", type=float, default=280, help="how long the members hold a poll (below RWS timeout_s)")
    parser.add_argument("--short", type=int, default=50, help="short requests timed at each count")
    parser.add_argument("--out", type=Path, default=Path("bench/results/capacity"))
    args = parser.parse_args(argv)
    counts = sorted({0, *(int(n) for n in args.counts.split(","))})  # 0: the baseline of the growth
    print(measure(counts, args.knob_count, args.hold_s, args.short, args.out))
    return 0


def raise_open_files_limit() -> None:
    """Soft limit up to the hard one: a member holds half the polls (the members inherit it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def measure(counts: list[int], knob_count: int, hold_s: float, shorts: int, out: Path, variants=tuple(KNOBS)) -> str:
    raise_open_files_limit()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    points, knobs = [], []
    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        for i, count in enumerate(counts):
            points.append(measure_point(Path(tmp) / f"series-{i}", count, RENDERED, hold_s, shorts))
            print(f"{count} polls: {points[-1].held} held, PSS {points[-1].pss_held_kib / 1024:.0f} MiB", flush=True)
        if knob_count:
            for i, variant in enumerate(variants):
                knobs.append(measure_point(Path(tmp) / f"knob-{i}", knob_count, variant, hold_s, shorts))
                print(f"{variant.name}: PSS {knobs[-1].pss_held_kib / 1024:.0f} MiB", flush=True)
    write_rows(points + knobs, points[0], out)
    capacity_curves(
        [(p.held, p.pss_held_kib / 1024, p.percentile_ms(0.5), p.percentile_ms(0.99)) for p in points],
        out / "capacity.png",
        "apache2 memory and a short request's latency against held long-polls",
    )
    summary = summarize(points, knobs, counts, knob_count, hold_s, shorts, time.monotonic() - started)
    (out / "summary.md").write_text(summary)
    return summary


def write_rows(points: list[Point], baseline: Point, out: Path) -> None:
    with open(out / "capacity.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["variant", "count", "max_agents", "threads_per_child", "processes", "threads", "held", "held_after",
             "connect_failed", "seconds_to_hold", "pss_idle_kib", "pss_held_kib", "pss_per_held_kib",
             "kernel_stack_idle_kib", "kernel_stack_held_kib", "short_p50_ms", "short_p99_ms", "short_failed"]
        )  # fmt: skip
        for p in points:
            per = per_held_kib(p, baseline)
            p50, p99 = p.percentile_ms(0.5), p.percentile_ms(0.99)
            writer.writerow(
                [p.variant, p.count, p.max_agents, p.threads_per_child, p.processes, p.threads, p.held, p.held_after,
                 p.connect_failed, f"{p.seconds_to_hold:.1f}", p.pss_idle_kib, p.pss_held_kib,
                 "" if per is None else f"{per:.1f}", p.kernel_stack_idle_kib, p.kernel_stack_held_kib,
                 "" if p50 is None else f"{p50:.1f}", "" if p99 is None else f"{p99:.1f}",
                 len(p.latencies) - len(p.answered)]
            )  # fmt: skip
    with open(out / "latencies.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["variant", "count", "request", "seconds"])
        for p in points:
            writer.writerows([p.variant, p.count, i, "" if s is None else f"{s:.4f}"] for i, s in enumerate(p.latencies, 1))


def ms(value: float | None) -> str:
    return "no answer" if value is None else f"{value:.0f} ms"


def kib(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} KiB"


def instance_for(total_kib: float) -> str:
    """The smallest listed type whose RAM is at least twice the node's memory."""
    return next((name for name, gib in INSTANCES if total_kib <= gib * GIB / 2), "larger than " + INSTANCES[-1][0])


def summarize(points, knobs, counts, knob_count, hold_s, shorts, seconds) -> str:
    baseline = points[0]
    largest = points[-1]
    sizing = mpm_sizing(largest.max_agents, 25)
    lines = [
        "# Capacity: held agent long-polls per node against memory",
        "",
        machine_line(),
        f"- method: `python -m bench capacity --counts {','.join(map(str, counts))}"
        + (f" --knob-count {knob_count}" if knob_count else "")
        + f" --hold-s {hold_s:g} --short {shorts}` ({seconds / 60:.0f} min): for each count, fake members"
        " for tenant t1 on loopback and Debian's apache2 in its own mount+PID namespace serving the bundle"
        " rendered from the lab stack with `max_agents` = count (1 for 0; headroom 25%); the polls are"
        f" opened through the balancer (GET {POLL_PATH}?hold={hold_s:g}, {POLLS_PER_SOURCE} per source address"
        " in 127.0.1.0/24) and counted held by the members; then the PSS of all apache2 processes is summed"
        f" (/proc/<pid>/smaps_rollup) and {shorts} short requests (GET {SHORT_PATH}, new connection each,"
        " 3 s timeout) are timed one after the other while the polls are held",
        "- PSS per held poll: (PSS at the count − PSS at 0 held) / held; it includes the idle worker"
        " threads of the 25% headroom. KernelStack is the whole machine's (the members and the client"
        " run here too); it is the kernel memory PSS leaves out, about 16 KiB per thread",
        f"- MPM for the largest count: ThreadsPerChild {sizing.threads_per_child}, {sizing.processes} processes,"
        f" MaxRequestWorkers {sizing.max_request_workers}, ServerLimit {sizing.server_limit},"
        f" ListenBacklog {sizing.listen_backlog} (templates/httpd/mpm.conf.j2)",
        "- the client, the members and apache2 share the machine's 2 cores: latency is an upper bound",
        "",
        "| held polls | apache2 processes / threads | PSS idle | PSS held | PSS per held poll"
        " | KernelStack growth | short request p50 / p99 | failed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.held:,} of {p.count:,} | {p.processes} / {p.threads:,} | {p.pss_idle_kib / 1024:.0f} MiB"
            f" | {p.pss_held_kib / 1024:.0f} MiB | {kib(per_held_kib(p, baseline))}"
            f" | {(p.kernel_stack_held_kib - baseline.kernel_stack_held_kib) / 1024:.0f} MiB"
            f" | {ms(p.percentile_ms(0.5))} / {ms(p.percentile_ms(0.99))} | {len(p.latencies) - len(p.answered)} |"
        )
    lines += ["", "![memory and latency against held polls](capacity.png)", ""]
    if knobs:
        lines += [
            f"## MPM knobs at {knob_count:,} held polls (each one change against the rendered file)",
            "",
            "| variant | processes / threads | held | PSS held | PSS per held poll | short request p50 / p99 |",
            "|---|---|---|---|---|---|",
            *(
                f"| {k.variant} | {k.processes} / {k.threads:,} | {k.held:,} | {k.pss_held_kib / 1024:.0f} MiB"
                f" | {kib(per_held_kib(k, baseline))} | {ms(k.percentile_ms(0.5))} / {ms(k.percentile_ms(0.99))} |"
                for k in knobs
            ),
            "",
        ]
    lines += [
        "## Sizing",
        "",
        f"Node memory = apache2 PSS held + KernelStack growth (measured) + {OS_BASE_KIB // GIB} GiB for the OS,"
        " Pacemaker, Corosync and pcsd (an allowance, not measured). Rule: the node's memory at most half the"
        " instance's RAM: a graceful reload starts a new generation (its idle threads: PSS idle) beside the old"
        f" children, which keep their polls (at {largest.count:,}: {largest.pss_held_kib / GIB:.1f} GiB +"
        f" {largest.pss_idle_kib / GIB:.1f} GiB for a while), and the kernel's socket memory for idle polls is"
        " not counted. t3 types are burstable (CPU credits); CPU was not measured here.",
        "",
        "| max_agents | apache2 PSS | + kernel stacks | + OS allowance = node | suggested instance (RAM) |",
        "|---|---|---|---|---|",
    ]
    for p in points[1:]:
        stacks = max(0, p.kernel_stack_held_kib - baseline.kernel_stack_held_kib)
        total = p.pss_held_kib + stacks + OS_BASE_KIB
        name = instance_for(total)
        ram = dict(INSTANCES).get(name)
        lines.append(
            f"| {p.count:,}{f' ({p.held:,} held)' if p.held < p.count else ''} | {p.pss_held_kib / 1024:.0f} MiB"
            f" | {stacks / 1024:.0f} MiB | {total / GIB:.2f} GiB"
            f" | {name}{f' ({ram} GiB)' if ram else ''} |"
        )
    lines += [
        "",
        f"Besides memory, at {largest.count:,} held polls: apache2 ran {largest.threads:,} threads, and a graceful"
        " reload adds a new generation while the old children keep their polls, so the node needs room for about"
        f" {largest.held + largest.threads:,} threads: `kernel.pid_max` above the default 32,768 (e.g. 4194304) and"
        " `kernel.threads-max` (RAM / 128 KiB by default) above that. Each child holds two sockets per held poll"
        f" (client, member): {2 * sizing.threads_per_child} + a few per child with ThreadsPerChild"
        f" {sizing.threads_per_child}, under the soft limit of 1,024 open files httpd inherits from Pacemaker"
        " (pacemaker.service sets no LimitNOFILE; here Debian's apache2ctl set 8,192).",
    ]
    return "\n".join(lines) + "\n"
