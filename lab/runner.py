"""The local lab: the HA pair on one Linux machine, from the same bundle and step plan as AWS.

Topology (all in namespaces; the root namespace gets no interface in the lab subnet):
  switch  - a bridge, no address
  node-a, node-b - PID+mount+UTS+IPC+net namespaces: tmpfs /run and /dev/shm, per-node overlays
            on /etc, /var/lib, /var/log (their "disk", kept under the state folder) and on
            /usr/bin (the systemctl and killall stand-ins); eth0 on the switch
  backends - the fake GIR members of every tenant, on the addresses the lab stack names
  client  - where probes come from
Lab-only parts: the namespaces, the stand-ins, a package check instead of package installation,
and nsenter instead of SSH. Everything else is the rendered bundle and the plan.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import yaml

from blueprint.plan import Step, build_plan, encode_stdin
from blueprint.render import render_bundle
from blueprint.settings import Settings, load_stack

from .boxes import Box, LabError, reaper_command, wait_for

REPO = Path(__file__).resolve().parent.parent
SHIMS = Path(__file__).resolve().parent / "shims"
FAKE_MEMBER = Path(__file__).resolve().parent / "fake_member.py"
STATE_ROOT = Path("/var/tmp")
PACKAGES = [
    line.strip()
    for line in (Path(__file__).resolve().parent / "debian-packages.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]
NODE_DISKS = ("etc", "var/lib", "var/log", "usr/bin")
SERVICE_PATH = {
    "rws": "api/health",
    "rp": "rp/api/health",
    "rcs": "rcs/health",
    "interaction_receiver": "interactionreceiver/health",
    "webdav": "recordings/health",
}


def missing_packages(packages: list[str] = PACKAGES) -> list[str]:
    missing = []
    for name in packages:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if "install ok installed" not in done.stdout:
            missing.append(name)
    return missing


def say(message: str) -> None:
    print(message, flush=True)


class ProbeRow(NamedTuple):
    at: float  # when the request was sent (epoch seconds)
    status: int  # HTTP status, or 0 for an error or a timeout
    latency: float  # seconds until the answer (or the error)


@dataclass
class Probe:
    """A bounded HTTP prober running in the client box."""

    process: subprocess.Popen
    out: Path
    stop_file: Path
    timeout: float

    def rows(self) -> list[ProbeRow]:
        """Every finished probe so far, in the order they were sent."""
        found = []
        for line in self.out.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                found.append(ProbeRow(float(parts[0]), int(parts[1]), float(parts[2])))
        return sorted(found)

    def stop(self) -> list[ProbeRow]:
        self.stop_file.touch()
        try:
            self.process.wait(timeout=self.timeout + 15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return self.rows()


PROBE_CODE = r"""
import http.client, os, sys, threading, time
host, path, out, stop = sys.argv[1:5]
max_s, interval, timeout = map(float, sys.argv[5:8])
lock, sem = threading.Lock(), threading.BoundedSemaphore(20)
f = open(out, "w", buffering=1)
def probe(t0):
    try:
        c = http.client.HTTPConnection(host, 80, timeout=timeout)
        c.request("GET", path, headers={"Connection": "close"})
        status = c.getresponse().status
        c.close()
    except Exception:
        status = 0
    with lock:
        f.write(f"{t0:.3f} {status} {time.time() - t0:.4f}\n")
    sem.release()
start, n = time.time(), 0
while time.time() - start < max_s and n < max_s / interval + 1 and not os.path.exists(stop):
    delay = start + n * interval - time.time()
    if delay > 0:
        time.sleep(delay)
    if sem.acquire(timeout=2):
        threading.Thread(target=probe, args=(time.time(),), daemon=True).start()
        n += 1
time.sleep(timeout + 0.2)
"""


def downtime(rows: list[ProbeRow], since: float) -> float | None:
    """Seconds from the last good probe before the first failure after `since` to the first good
    probe after it; 0.0 if nothing failed; None if it never recovered."""
    failed = [r.at for r in rows if r.at >= since and r.status != 200]
    if not failed:
        return 0.0
    first_fail = failed[0]
    before = [r.at for r in rows if r.at < first_fail and r.status == 200]
    after = [r.at for r in rows if r.at > first_fail and r.status == 200]
    if not after:
        return None
    return after[0] - (before[-1] if before else first_fail)


class Lab:
    def __init__(self, name: str = "lab", stack: str = "lab"):
        if not name.replace("-", "").isalnum() or len(name) > 20:
            raise LabError(f"lab name {name!r}: letters, digits and '-' only, at most 20")
        self.name = name
        self.stack_file = REPO / "stacks" / f"Pulumi.{stack}.yaml"
        self.state = STATE_ROOT / f"gir-lb-lab-{name}"
        self._settings: Settings | None = None

    # ---- settings and boxes -------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            s = load_stack(str(self.stack_file))
            if s.os_profile != "debian12" or s.network.vip_mode != "l2" or s.cluster.fencing.mode != "disabled":
                raise LabError(f"{self.stack_file.name}: the lab needs os_profile debian12, vip_mode l2, fencing disabled")
            self._settings = s
        return self._settings

    @property
    def nodes(self) -> list[Box]:
        return [Box(self.state, n.name) for n in self.settings.cluster.nodes]

    def box(self, name: str) -> Box:
        return Box(self.state, name)

    @property
    def prefix(self) -> int:
        return self.settings.network.subnet_cidr.prefixlen

    @property
    def client_ip(self) -> str:
        return str(self.settings.network.subnet_cidr.network_address + 250)

    @property
    def backend_ip(self) -> str:
        hosts = {urlsplit(m.url).hostname for t in self.settings.tenants for _, _, m in t.members}
        if len(hosts) != 1:
            raise LabError(f"the lab stack's members must all use one address, found {sorted(hosts)}")
        return hosts.pop()

    def plug(self, box: Box, ip: str) -> None:
        """A veth from the switch's bridge to eth0 in `box`."""
        switch = self.box("switch")
        port = f"p-{box.name}"[:15]
        switch.run("ip", "link", "del", port, net_only=True)
        switch.run(
            "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", str(box.pid), net_only=True, check=True
        )
        switch.run("ip", "link", "set", port, "master", "br0", "up", net_only=True, check=True)
        box.run("ip", "addr", "add", f"{ip}/{self.prefix}", "dev", "eth0", net_only=True, check=True)
        box.run("ip", "link", "set", "eth0", "up", net_only=True, check=True)

    def unplug(self, box: Box) -> None:
        self.box("switch").run("ip", "link", "set", f"p-{box.name}"[:15], "down", net_only=True)

    def start_simple_box(self, name: str, ip: str | None) -> Box:
        box = self.box(name)
        setup = "sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set lo up"
        if name == "switch":
            setup += "; ip link add br0 type bridge stp_state 0 forward_delay 0; ip link set br0 up"
        box.start(reaper_command(setup))
        if ip:
            self.plug(box, ip)
        return box

    def prepare_node_disk(self, name: str) -> Path:
        root = self.state / "nodes" / name
        for d in NODE_DISKS:
            (root / f"{d}.upper").mkdir(parents=True, exist_ok=True)
            (root / f"{d}.work").mkdir(parents=True, exist_ok=True)
        host_pidns = os.readlink("/proc/self/ns/pid")
        for shim in ("systemctl", "killall"):
            target = root / "usr/bin.upper" / shim
            target.write_text((SHIMS / shim).read_text().replace("@HOST_PID_NAMESPACE@", host_pidns))
            target.chmod(0o755)
        return root

    def boot_node(self, index: int) -> Box:
        node = self.settings.cluster.nodes[index]
        root = self.prepare_node_disk(node.name)
        overlays = "; ".join(
            f"mount -t overlay overlay -o lowerdir=/{d},upperdir={root}/{d}.upper,workdir={root}/{d}.work /{d}"
            for d in NODE_DISKS
        )
        setup = (
            f"hostname {shlex.quote(node.name)}; mount -t tmpfs -o mode=0755 tmpfs /run;"
            " install -d -m 1777 /run/lock; install -d /run/resource-agents /run/systemctl-shim;"
            " mount -t tmpfs -o mode=1777 tmpfs /dev/shm;"
            f" {overlays}; sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set lo up"
        )
        box = self.box(node.name)
        box.start(reaper_command(setup), namespaces=("--mount", "--uts", "--ipc", "--net"))
        self.plug(box, str(node.ip))
        # What a booted host starts by itself: pcsd where enabled, the cluster once enabled.
        for unit in ("pcsd", "corosync", "pacemaker"):
            if box.run("systemctl", "is-enabled", unit).returncode == 0:
                box.run("systemctl", "start", unit, check=True)
        return box

    def start_backends(self) -> Box:
        box = self.start_simple_box("backends", self.backend_ip)
        ports = []
        for t in self.settings.tenants:
            for svc, i, m in t.members:
                port = urlsplit(m.url).port
                args = ["--name", f"{t.id}-{svc}-{i + 1}", "--host", self.backend_ip, "--port", str(port)]
                if svc == "rcs":
                    args += ["--kind", "rcs", "--route", m.route]
                command = shlex.join(["setsid", "/usr/bin/python3", str(FAKE_MEMBER), *args])
                box.run("bash", "-c", f"{command} >/dev/null 2>&1 &", check=True)
                ports.append(port)
        probe = "; ".join(f"exec 3<>/dev/tcp/{self.backend_ip}/{p} && exec 3>&-" for p in ports)
        wait_for("the fake members", lambda: box.run("bash", "-c", probe, net_only=True).returncode == 0, 30, 0.3)
        return box

    # ---- the step plan, executed with nsenter instead of SSH ------------------------------------------

    def run_step(self, step: Step, password: str) -> str:
        node = self.nodes[step.node]
        if step.stdin == "tls":
            raise LabError("the lab stack must not enable TLS (the lab has no certificate source)")
        stdin = encode_stdin(step.stdin, password if step.stdin else None)
        done = node.run("bash", "-c", step.script, step.name, *step.filled_args(), stdin=stdin, timeout=600)
        if done.returncode != 0:
            raise LabError(f"step {step.name} on {node.name} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
        return done.stdout

    def cloud_init_substitute(self, user_data: str) -> None:
        """Packages are checked, not installed; the user-data's runcmd runs on every node."""
        doc = yaml.safe_load(user_data)
        for node in self.nodes:
            for cmd in doc.get("runcmd", []):
                done = node.run(*cmd)
                if done.returncode != 0 and cmd[:3] != ["pcs", "cluster", "destroy"]:
                    raise LabError(f"{node.name}: runcmd {cmd} failed: {done.stderr[-500:]}")

    # ---- commands ---------------------------------------------------------------------------------

    def up(self) -> None:
        t0 = time.monotonic()

        def phase(label: str, since: float) -> float:
            now = time.monotonic()
            say(f"  {label:<44} {now - since:6.1f}s")
            return now

        missing = missing_packages()
        if missing:
            raise LabError(f"missing Debian packages: {' '.join(missing)} (apt-get install {' '.join(missing)})")
        if self.box("switch").pid:
            raise LabError(f"lab {self.name} is already up (run down first)")
        s = self.settings
        bundle = render_bundle(s)
        steps = build_plan(s, bundle)
        password = secrets.token_urlsafe(24)
        say(f"gir-lb lab {self.name!r} from {self.stack_file.relative_to(REPO)} ({len(s.tenants)} tenants)")
        shutil.rmtree(self.state, ignore_errors=True)
        self.state.mkdir(parents=True, mode=0o700)
        t = phase("packages present", t0)
        self.start_simple_box("switch", None)
        self.start_simple_box("client", self.client_ip)
        self.start_backends()
        t = phase("switch, client, fake members", t)
        for i in range(len(s.cluster.nodes)):
            self.boot_node(i)
        t = phase("nodes booted", t)
        self.cloud_init_substitute(bundle.user_data)
        t = phase("user-data runcmd on both nodes", t)
        for step in steps:
            self.run_step(step, password)
            t = phase(f"step {step.name} ({s.cluster.nodes[step.node].name})", t)
        self.wait_serving(120)
        phase("VIP serving every tenant", t)
        say(f"up in {time.monotonic() - t0:.1f}s; VIP {s.network.vip} on {self.where('webserver')}")
        for tid, urls in s.tenant_urls.items():  # what the stack exports
            say(f"  {tid}: " + "  ".join(f"{key} {url}" for key, url in urls.items()))
        say(f"try: python -m lab status --name {self.name}; python -m lab failover --node --name {self.name}")

    def live_node(self) -> Box:
        for node in self.nodes:
            if node.pid:
                return node
        raise LabError(f"lab {self.name} is not up")

    def where(self, resource: str) -> str | None:
        done = self.live_node().run("crm_resource", "--locate", "-r", resource)
        for line in done.stdout.splitlines():
            if "running on:" in line:
                return line.rsplit(":", 1)[1].strip()
        return None

    def get(self, path: str, timeout: float = 2) -> tuple[int, dict | str]:
        """One request through the VIP, from the client box."""
        code = (
            "import http.client, sys\n"
            f"c = http.client.HTTPConnection({str(self.settings.network.vip)!r}, 80, timeout={timeout})\n"
            f"c.request('GET', {path!r}, headers={{'Connection': 'close'}})\n"
            "r = c.getresponse(); print(r.status); print(r.read().decode(errors='replace'))\n"
        )
        done = self.box("client").run("/usr/bin/python3", "-c", code, net_only=True, timeout=timeout + 5)
        if done.returncode != 0:
            return 0, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no answer"
        status, _, body = done.stdout.partition("\n")
        try:
            return int(status), json.loads(body)
        except json.JSONDecodeError:
            return int(status), body

    def tenant_health(self) -> dict[str, dict[str, str]]:
        report = {}
        for t in self.settings.tenants:
            report[t.id] = {}
            for svc, path in SERVICE_PATH.items():
                status, body = self.get(f"/{t.id}/{path}")
                ok = status == 200 and isinstance(body, dict) and body["member"].startswith(f"{t.id}-{svc}-")
                report[t.id][svc] = body["member"] if ok else f"FAIL ({status})"
        return report

    def wait_serving(self, timeout: float) -> None:
        def all_ok():
            return all("FAIL" not in v for r in self.tenant_health().values() for v in r.values())

        wait_for("the VIP to serve every tenant", all_ok, timeout, 1)

    def status(self) -> dict:
        node = self.live_node()
        pcs = node.run("pcs", "status").stdout
        summary = [line for line in pcs.splitlines() if line.strip().startswith(("*", "Node", "Online", "OFFLINE"))][:12]
        report = {"vip_on": self.where("virtual_ip"), "webserver_on": self.where("webserver"), "health": self.tenant_health()}
        say(f"lab {self.name}: VIP {self.settings.network.vip} on {report['vip_on']}, webserver on {report['webserver_on']}")
        say("\n".join(summary))
        for tid, services in report["health"].items():
            say(f"  {tid}: " + ", ".join(f"{svc}={who}" for svc, who in services.items()))
        return report

    def start_probe(self, max_seconds: float = 90, interval: float = 0.1, timeout: float = 1.0) -> Probe:
        """One request to the VIP every `interval` s on a new connection. The failover measurements
        keep the short timeout (a dead VIP is a failure, not a wait); latency checks use a long one."""
        out, stop = self.state / f"probe-{time.time_ns()}.out", self.state / f"probe-{time.time_ns()}.stop"
        client = self.box("client")
        proc = subprocess.Popen(
            [
                *client.enter("-n"),
                "/usr/bin/python3",
                "-c",
                PROBE_CODE,
                str(self.settings.network.vip),
                f"/{self.settings.tenants[0].id}/api/probe",
                str(out),
                str(stop),
                str(max_seconds),
                str(interval),
                str(timeout),
            ],
        )
        wait_for("the probe to start", lambda: out.exists(), 10, 0.05)
        return Probe(proc, out, stop, timeout)

    def failover(self, kind: str) -> float:
        """Kills the active node (`node`) or its httpd (`httpd`); returns the measured downtime."""
        active_name = self.where("webserver")
        if not active_name:
            raise LabError("webserver is not running anywhere")
        active = self.box(active_name)
        other = next(n.name for n in self.settings.cluster.nodes if n.name != active_name)
        probe = self.start_probe()
        time.sleep(1.0)
        killed_at = time.time()
        if kind == "node":
            self.unplug(active)
            active.kill()  # power off: every process of the node, by its PID namespace's init
            wait_for(f"webserver on {other}", lambda: self.where("webserver") == other, 60, 0.3)
        else:
            pids = [pid for pid, comm in active.processes() if comm == "apache2"]
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 60
        rows = []
        while time.time() < deadline:
            time.sleep(0.5)
            rows = [r for r in probe.rows() if r.at > killed_at]
            if rows and rows[-1].status == 200 and any(r.status != 200 for r in rows) and time.time() - killed_at > 2:
                break
        time.sleep(1.0)
        rows = probe.stop()
        measured = downtime(rows, killed_at)
        say(
            f"failover --{kind}: killed {'node ' + active_name if kind == 'node' else 'httpd on ' + active_name}; "
            f"downtime {'none' if measured == 0 else ('not recovered' if measured is None else f'{measured:.2f}s')}; "
            f"webserver now on {self.where('webserver')}"
        )
        if kind == "node":
            self.boot_node([n.name for n in self.settings.cluster.nodes].index(active_name))
            wait_for(
                f"{active_name} to rejoin",
                lambda: (
                    f"Online: [ {' '.join(sorted(n.name for n in self.settings.cluster.nodes))} ]"
                    in self.live_node().run("crm_mon", "-1").stdout
                ),
                120,
                1,
            )
        else:
            self.live_node().run("pcs", "resource", "cleanup", "webserver")
        wait_for("webserver to run again", lambda: self.where("webserver"), 60, 0.5)
        self.wait_serving(60)
        if measured is None:
            raise LabError("the VIP did not serve again within 60 s")
        return measured

    def smaller_stack(self, folder: Path) -> Path:
        """The lab's stack with the last tenant's second RP member removed: a tenant change that
        every reload test and benchmark applies (and undoes with the original stack file)."""
        doc = yaml.safe_load(self.stack_file.read_text())
        doc["config"]["gir-lb:tenants"][-1]["rp"]["members"].pop()
        folder.mkdir(parents=True, exist_ok=True)
        changed = folder / self.stack_file.name
        changed.write_text(yaml.safe_dump(doc))
        return changed

    def apply_tenant_change(self, stack_file: Path) -> str:
        """Runs the plan's httpd push steps (node B, then node A) for another version of the stack."""
        changed = load_stack(str(stack_file))
        return "".join(self.run_step(step, "") for step in build_plan(changed, render_bundle(changed)) if step.phase == "httpd")

    def down(self) -> None:
        names = [n.name for n in self.settings.cluster.nodes] + ["backends", "client", "switch"]
        for name in names:
            self.box(name).kill()
        shutil.rmtree(self.state, ignore_errors=True)
        say(f"lab {self.name} is down; state {self.state} removed")


def leftovers(lab: Lab) -> list[str]:
    """What a lab could leave on the host: its state folder, processes in its boxes, mounts."""
    found = []
    if lab.state.exists():
        found.append(f"state folder {lab.state}")
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET,SOURCE"], capture_output=True, text=True).stdout
    found += [f"mount {line}" for line in mounts.splitlines() if str(lab.state) in line]
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"netns {line}" for line in netns.splitlines() if lab.name in line]
    for name in [n.name for n in lab.settings.cluster.nodes] + ["backends", "client", "switch"]:
        if (lab.state / f"{name}.pid").exists():
            found.append(f"box {name}")
    return found
