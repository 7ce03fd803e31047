"""Throughput: req/s and p99 latency of a fixed request mix through gir-lb's Apache (the bundle
rendered from the lab stack, with its MPM sizing, served by Debian's apache2 as in the live tests:
lab/live.py), through HAProxy configured to do the same (bench/templates/haproxy_lb.cfg.j2), and
sent to a member directly. The members are HAProxy frontends answering by themselves (a Python
member would be the bottleneck). Interleaved rounds (Apache, HAProxy, direct, then again), each
target loaded by wrk for `--seconds` with keep-alive connections and, unless `--no-close`, with a
new connection per request. `--knobs` adds Apache variants (the rendered config plus one change
each, KNOBS) to the same rounds. Before measuring, every load balancer must route and stick as
Apache does (check_balancer). Writes rounds.csv, throughput.png and summary.md to `--out`. Root."""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jinja2

from blueprint.services import SERVICES
from blueprint.stack_config import parse_settings, read_stack_file
from lab.live import ApacheNode, Fleet, free_ports, request, start_node

from . import machine_line
from .plot import throughput_by_target

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LAB_STACK = REPO / "stacks" / "Pulumi.lab.yaml"
WRK_SCRIPT = HERE / "wrk_mix.lua"
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"), undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
)
APACHE, HAPROXY, DIRECT = "apache", "haproxy", "direct"
# Apache variants: a shell step run in the node (its /etc/apache2 is the node's own copy) before a
# restart. They measure what a setting costs; only what keeps the live tests' behaviour may go
# into the product templates.
KNOBS = {
    "control": "true",  # the same config restarted: the noise floor between two Apache targets
    "no-access-log": "a2disconf -q other-vhosts-access-log",
    "buffered-logs": "echo 'BufferedLogs On' > /etc/apache2/conf-enabled/zz-knob-logs.conf",
    "keepalive-requests-1000": "echo 'MaxKeepAliveRequests 1000' > /etc/apache2/conf-enabled/zz-knob-keepalive.conf",
    # what RCS's disablereuse=On costs: not adoptable, RCS needs it
    "rcs-reuse": "sed -i 's/ disablereuse=On//' /etc/apache2/conf-enabled/gir-lb/loadbalancer_*.conf",
}
COLUMNS = ["round", "variant", "target", "requests", "seconds", "req_per_s", "p50_ms", "p99_ms", "socket_errors", "non_2xx"]


@dataclass
class Row:
    round: int
    variant: str
    target: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    socket_errors: int
    non_2xx: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def lab_settings(fleet: Fleet, tenants: list[str], port: int):
    """The lab stack (its httpd settings, hence its MPM sizing) with the fleet as its tenants,
    plain HTTP on a loopback port."""
    cfg = {k.removeprefix("gir-lb:"): v for k, (v, _) in read_stack_file(str(LAB_STACK)).items() if k.startswith("gir-lb:")}
    cfg["httpd"] = {**cfg.get("httpd", {}), "port": port, "tls": {"enabled": False}}
    cfg["tenants"] = [fleet.tenant_config(t) for t in tenants]
    return parse_settings(cfg)


def request_mix(tenants: list[str]) -> list[tuple[str, str]]:
    """(path through the balancer, cookie) per request: every service of every tenant, and the sticky
    ones both with a session (alternating members) and without."""
    mix = []
    for n, tid in enumerate(tenants):
        for svc in SERVICES:
            mix.append((f"/{tid}/{svc.health_path}", ""))
        mix.append((f"/{tid}/api/health", f"ROUTEID=.{tid.upper()}RWS{n % 2 + 1}"))
        mix.append((f"/{tid}/rcs/health", f"JSESSIONID=00A1.{tid.upper()}_RCS_{n % 2 + 1}"))
    return mix


def haproxy_lb_config(settings, port: int) -> str:
    backends = []
    for t in settings.tenants:
        for svc in SERVICES:
            given = getattr(t, svc.key)
            routes = list(svc.routes) + [(p, p) for p in getattr(given, "extra_paths", [])]
            members = [
                {
                    "name": f"m{i + 1}",
                    "port": urlsplit(m.url).port,
                    "route": getattr(m, "route", ""),
                    "backup": getattr(m, "hot_standby", False),
                }
                for i, m in enumerate(given.members)
            ]
            timing = getattr(settings.httpd.services, svc.key)
            backends.append(
                {
                    "name": f"{t.id}-{svc.balancer}",
                    "tenant": t.id,
                    "routes": routes,
                    "sticky": svc.sticky and svc.sticky.split("|")[0],
                    "members": members,
                    "connect_ms": timing.connect_timeout_ms,
                    "timeout_s": timing.timeout_s,
                }
            )
    return TEMPLATES.get_template("haproxy_lb.cfg.j2").render(port=port, backends=backends)


class HAProxy:
    """One haproxy process in the foreground, stopped by its PID."""

    def __init__(self, config: str, path: Path, port: int):
        path.write_text(config)
        checked = subprocess.run(["haproxy", "-c", "-q", "-f", str(path)], capture_output=True, text=True)
        if checked.returncode:
            raise RuntimeError(f"{path}: {checked.stdout}{checked.stderr}")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                request("GET", "/", port, timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"haproxy {path} did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def check_balancer(port: int, tenant: str) -> None:
    """Routing and stickiness as the live tests prove them for Apache; raises on any difference."""
    T = tenant.upper()

    def get(path: str, cookie: str = ""):
        r = request("GET", path, port, headers={"Cookie": cookie} if cookie else {})
        if r.status != 200:
            raise RuntimeError(f"port {port} {path}: {r.status}")
        return r, r.json()["member"]

    problems = []
    if get(f"/{tenant}/api/health", f"ROUTEID=.{T}RWS2")[1] != f"{tenant}-rws-2":
        problems.append("ROUTEID=.<route> does not stick")
    first, _ = get(f"/{tenant}/api/health")
    if not any(re.match(rf"ROUTEID=\.{T}RWS\d", c) for c in first.header_all("Set-Cookie")):
        problems.append("no ROUTEID cookie on a new RWS session")
    new, member = get(f"/{tenant}/rcs/health")
    cookie = next((c for c in new.header_all("Set-Cookie") if c.startswith("JSESSIONID=")), "")
    if "Path=/" + tenant + "/rcs" not in cookie:
        problems.append(f"RCS cookie path not rewritten: {cookie!r}")
    elif any(get(f"/{tenant}/rcs/health", cookie.split(";")[0])[1] != member for _ in range(3)):
        problems.append("JSESSIONID does not stick")
    if get(f"/{tenant}/rcs/x;jsessionid=00B2.{T}_RCS_2")[1] != f"{tenant}-rcs-2":
        problems.append(";jsessionid= in the URL does not stick")
    if {get(f"/{tenant}/recordings/health")[1] for _ in range(4)} != {f"{tenant}-webdav-1"}:
        problems.append("the WebDAV hot standby takes traffic")
    if len({get(f"/{tenant}/rp/api/health")[1] for _ in range(4)}) != 2:
        problems.append("RP is not balanced over both members")
    if problems:
        raise RuntimeError(f"the balancer on port {port} differs: " + "; ".join(problems))


def restart(node: ApacheNode, step: str) -> None:
    done = node.run("bash", "-c", f"{step} && apache2ctl -k restart")
    if done.returncode:
        raise RuntimeError(f"knob {step!r}: {done.stdout}{done.stderr}")
    time.sleep(1)
    node.start_httpd()  # waits for the status page


def wrk(port: int, mix: list[tuple[str, str]], variant: str, seconds: float, connections: int, round_: int, target: str) -> Row:
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "5s",
        "-s",
        str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}",
    ]
    argv += ["--", variant, *(f"{path}|{cookie}" for path, cookie in mix)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk: {done.stdout}{done.stderr}")
    requests, micros, sock, status, p50, p99 = (int(v) for v in line.split()[1:7])
    return Row(round_, variant, target, requests, micros / 1e6, p50 / 1000, p99 / 1000, sock, status)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench throughput", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--tenants", type=int, default=3)
    parser.add_argument("--no-close", action="store_true", help="keep-alive only, no new-connection variant")
    parser.add_argument("--knobs", default="", help=f"Apache variants to add: {','.join(KNOBS)}")
    parser.add_argument("--out", type=Path, default=Path("bench/results/throughput"))
    args = parser.parse_args(argv)
    knobs = [k for k in args.knobs.split(",") if k]
    variants = ["keepalive"] if args.no_close else ["keepalive", "close"]
    print(measure(args.rounds, args.seconds, args.connections, args.tenants, variants, knobs, args.out))
    return 0


def measure(rounds: int, seconds: float, connections: int, tenants: int, variants: list[str], knobs: list[str], out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    tids = [f"t{i + 1}" for i in range(tenants)]
    mix = request_mix(tids)
    fleet = Fleet({t: {} for t in tids})  # ports, routes and tenant settings; the members are HAProxy's
    rows: list[Row] = []
    load = os.getloadavg()  # other work on the machine shows here
    started: list[HAProxy | ApacheNode] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            members = TEMPLATES.get_template("haproxy_members.cfg.j2").render(members=fleet.members.values())
            started.append(HAProxy(members, folder / "members.cfg", fleet[("t1", "rp", 0)].port))
            ports = free_ports(2 + len(knobs))
            targets: dict[str, int] = {}
            for name, port in zip([APACHE, *(f"{APACHE}+{k}" for k in knobs)], [ports[0], *ports[2:]], strict=True):
                (folder / name).mkdir()
                node = start_node(folder / name, lab_settings(fleet, tids, port))
                started.append(node)
                if "+" in name:
                    restart(node, KNOBS[name.split("+", 1)[1]])
                targets[name] = port
            lb_config = haproxy_lb_config(lab_settings(fleet, tids, ports[1]), ports[1])
            started.append(HAProxy(lb_config, folder / "lb.cfg", ports[1]))
            targets[HAPROXY] = ports[1]
            for port in targets.values():
                check_balancer(port, tids[0])
            # the mix as the members receive it, all on one member (every member is the same process)
            direct = [(re.sub(r"^/t\d+/(rp/)?", "/", path), cookie) for path, cookie in mix]
            loads = [(t, port, mix) for t, port in targets.items()] + [(DIRECT, fleet[("t1", "rp", 0)].port, direct)]
            for r in range(1, rounds + 1):
                for variant in variants:
                    # each round starts at the next target: no target always follows the same one
                    for target, port, requests in loads[r % len(loads) :] + loads[: r % len(loads)]:
                        rows.append(wrk(port, requests, variant, seconds, connections, r, target))
                        print(f"round {r} {variant:9} {target:28} {rows[-1].rps:8.0f} req/s  p99 {rows[-1].p99_ms:6.1f} ms")
            versions = [subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.splitlines()[0]]
            versions.append(subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0])
            mpm = (folder / APACHE / "etc-apache2" / "conf-enabled" / "gir-lb-mpm.conf").read_text()
        finally:
            for proc in reversed(started):
                proc.stop() if isinstance(proc, HAProxy) else proc.shutdown()
    versions.append(f"load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after (1 min)")
    return write(rows, out, rounds, seconds, connections, tids, mix, variants, knobs, versions, mpm)


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write(rows, out, rounds, seconds, connections, tids, mix, variants, knobs, versions, mpm) -> str:
    with open(out / "rounds.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    r.round,
                    r.variant,
                    r.target,
                    r.requests,
                    f"{r.seconds:.2f}",
                    f"{r.rps:.0f}",
                    f"{r.p50_ms:.2f}",
                    f"{r.p99_ms:.2f}",
                    r.socket_errors,
                    r.non_2xx,
                ]
            )
    targets = [APACHE, *(f"{APACHE}+{k}" for k in knobs), HAPROXY, DIRECT]  # rounds rotate: a fixed order here
    throughput_by_target(
        _group(sorted(rows, key=lambda r: (variants.index(r.variant), targets.index(r.target)))),
        out / "throughput.png",
        f"{len(mix)}-request mix, {len(tids)} tenants, {connections} connections, {rounds} interleaved rounds of {seconds:g} s",
    )
    table = [
        "| connections | target | req/s median (min–max) | p99 ms median (min–max) | ÷ HAProxy req/s"
        " | ÷ rendered Apache req/s | errors |",
        "|---|---|---|---|---|---|---|",
    ]

    def paired(mine: list[Row], other: str) -> str:
        """Median (min–max) of mine's req/s over `other`'s in the same round and variant."""
        ratios = [a.rps / b.rps for a in mine for b in rows if (b.target, b.variant, b.round) == (other, a.variant, a.round)]
        return f"{med(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else ""

    for variant in variants:
        for target in targets:
            mine = [r for r in rows if r.variant == variant and r.target == target]
            rps, p99 = [r.rps for r in mine], [r.p99_ms for r in mine]
            errors = sum(r.socket_errors + r.non_2xx for r in mine)
            table.append(
                f"| {variant} | {target} | {med(rps):,.0f} ({min(rps):,.0f}–{max(rps):,.0f}) |"
                f" {med(p99):.1f} ({min(p99):.1f}–{max(p99):.1f}) |"
                f" {paired(mine, HAPROXY) if target.startswith(APACHE) else ''} |"
                f" {paired(mine, APACHE) if target.startswith(APACHE + '+') else ''} | {errors} |"
            )
    sizing = " ".join(
        line.split()[0] + "=" + line.split()[1]
        for line in mpm.splitlines()
        if re.match(r"\s+(ServerLimit|ThreadsPerChild|MaxRequestWorkers)\b", line)
    )
    lines = [
        "# Throughput: gir-lb's Apache against HAProxy and the members directly",
        "",
        machine_line(),
        "- " + "; ".join(versions),
        f"- method: `python -m bench throughput --rounds {rounds} --seconds {seconds:g} --connections {connections}"
        + f" --tenants {len(tids)}"
        + (" --no-close" if variants == ["keepalive"] else "")
        + (f" --knobs {','.join(knobs)}" if knobs else "")
        + f"`: wrk (1 thread, {connections} connections, 5 s timeout) cycling a fixed mix of {len(mix)} GETs (every service of"
        f" {len(tids)} tenants, RWS and RCS with and without a session cookie); {rounds} rounds, each loading every target in"
        f" turn (each round starting one target later) for {seconds:g} s ({', '.join(targets)}), for keep-alive connections"
        " and, as 'close', a new connection per request. The ratio is Apache's req/s over HAProxy's in the same round.",
        f"- apache: the bundle rendered from stacks/Pulumi.lab.yaml (its MPM sizing: {sizing}) with these tenants, served by"
        " Debian's apache2 with its own main config (lab/live.py, as the live tests run it)",
        "- haproxy: bench/templates/haproxy_lb.cfg.j2, the same tenants, paths, members and stickiness (checked before"
        " measuring: bench/throughput.py check_balancer), no reuse of RCS connections, no logging, 2 threads",
        "- direct: the same mix (paths as the members get them) to one member; every member is a frontend of one haproxy"
        " (1 thread) answering by itself",
        "- everything runs on this machine: load generator, balancer and members share its cores",
        *(f"- knob `{k}` (an Apache variant: the rendered config, then `{KNOBS[k]}` and a restart)" for k in knobs),
        "",
        *table,
        "",
        "![req/s and p99 per target](throughput.png)",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)


def _group(rows: list[Row]) -> dict[tuple[str, str], list[tuple[float, float]]]:
    groups: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for r in rows:
        groups.setdefault((r.variant, r.target), []).append((r.rps, r.p99_ms))
    return groups
