"""Live-traffic harness (tests/live and the throughput benchmark): fake GIR members on loopback
and a real Debian apache2 "node".

The node is a lab box (lab/boxes.py) with a private mount+PID namespace holding a writable copy of
/etc/apache2 (no Listen line until a push installs the bundle's ports.conf, the default site
removed), a tmpfs /run and its own log
folder: the real Debian main config loads the rendered files exactly as on a node, and the plan's
push step runs inside it. Nothing on the host is changed; everything started is stopped by PID
(the box's init is killed, which ends every process inside it)."""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from blueprint.plan import Step, build_plan, encode_stdin
from blueprint.profiles import PROFILES
from blueprint.render import render_bundle
from blueprint.services import SERVICES as CATALOGUE
from blueprint.settings import Tenant
from lab.boxes import Box, reaper_command

MEMBER = Path(__file__).resolve().parent / "fake_member.py"
SERVICES = tuple(svc.key for svc in CATALOGUE)
MODULES = PROFILES["debian12"].apache_modules  # what the debian12 user-data enables with a2enmod
PORTS_CONF = PROFILES["debian12"].server_root + "/" + PROFILES["debian12"].listen_conf
POLL_PATH = "/t1/api/notifications"  # an RWS path of tenant t1: the members hold it for ?hold=S
POLLS_PER_SOURCE = 5000  # each client source address has ~28k ephemeral ports


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


@dataclass
class Member:
    name: str
    port: int
    route: str = ""
    kind: str = "plain"
    tls: tuple[str, str] | None = None
    proc: subprocess.Popen | None = None
    blocker: list[socket.socket] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.clear_unreachable()
        cmd = [sys.executable, str(MEMBER), "--name", self.name, "--port", str(self.port), "--kind", self.kind]
        if self.route:
            cmd += ["--route", self.route]
        if self.tls:
            cmd += ["--tls", *self.tls]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout and self.proc.stdout.readline().strip() == "ready", f"{self.name} did not start"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def freeze(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGCONT)

    def make_unreachable(self) -> None:
        """Stops the member and leaves a listener whose accept queue is full: new SYNs are
        dropped, so a connect times out as with a host that is gone (not refused)."""
        self.stop()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(0)
        self.blocker = [listener]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self.blocker.append(filler)
        time.sleep(0.2)

    def clear_unreachable(self) -> None:
        for s in self.blocker:
            s.close()
        self.blocker = []

    def stats(self) -> dict:
        return json.loads(request("GET", "/__stats", port=self.port, timeout=5, tls=bool(self.tls)).body)


def tenant_entry(tid: str, urls: dict[str, list[str]]) -> dict:
    """Tenant `tid` as a stack file writes it, with the members at `urls` (by service key): RWS
    routes T1RWS1.., RCS applications "T1 RCS 1".., every WebDAV member after the first a hot
    standby, and one extra WebDAV path."""
    tag = tid.upper()
    return {
        "id": tid,
        "rws": {"members": [{"url": u, "route": f"{tag}RWS{i + 1}"} for i, u in enumerate(urls["rws"])]},
        "rp": {"members": [{"url": u} for u in urls["rp"]]},
        "rcs": {"members": [{"url": u, "app_name": f"{tag} RCS {i + 1}"} for i, u in enumerate(urls["rcs"])]},
        "interaction_receiver": {"members": [{"url": u} for u in urls["interaction_receiver"]]},
        "webdav": {
            "members": [{"url": u, **({"hot_standby": True} if i else {})} for i, u in enumerate(urls["webdav"])],
            "extra_paths": ["dest2"],
        },
    }


class Fleet:
    """Every member of every tenant, keyed ("t1", "rws", 0): a fake of its service (the key), with
    the route the settings give it (RWS: its route; RCS: from its application name)."""

    def __init__(self, tenants: dict[str, dict[str, int]], tls_members: dict | None = None):
        self.members: dict[tuple[str, str, int], Member] = {}
        specs = [(t, svc, i) for t, counts in tenants.items() for svc in SERVICES for i in range(counts.get(svc, 2))]
        for (tid, svc, i), port in zip(specs, free_ports(len(specs)), strict=True):
            tls = (tls_members or {}).get((tid, svc, i))
            self.members[(tid, svc, i)] = Member(name=f"{tid}-{svc}-{i + 1}", port=port, kind=svc, tls=tls)
        for tid in tenants:
            for svc, i, m in Tenant.model_validate(self.tenant_config(tid)).members:
                self.members[(tid, svc, i)].route = getattr(m, "route", None) or ""

    def __getitem__(self, key) -> Member:
        return self.members[key]

    def start(self) -> None:
        for m in self.members.values():
            m.start()

    def stop(self) -> None:
        for m in self.members.values():
            m.stop()
            m.clear_unreachable()

    def held_polls(self, tid: str = "t1") -> int:
        """Long-polls (?hold=) the tenant's RWS members are holding now."""
        return sum(m.stats()["held"] for (t, svc, _), m in self.members.items() if t == tid and svc == "rws")

    def tenant_config(self, tid: str) -> dict:
        """Tenant `tid` as a stack file writes it (tenant_entry), with these members."""
        urls = {svc: [m.url for (t, s, _), m in sorted(self.members.items()) if (t, s) == (tid, svc)] for svc in SERVICES}
        return tenant_entry(tid, urls)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: str
    elapsed: float

    def json(self) -> dict:
        return json.loads(self.body)

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def request(
    method: str,
    path: str,
    port: int,
    headers: dict | None = None,
    timeout: float = 10,
    source: str | None = None,
    tls: bool = False,
    context=None,
) -> Response:
    """One request on a new connection to 127.0.0.1:port (optionally from another loopback source)."""
    start = time.monotonic()
    address = (source, 0) if source else None
    if tls:
        import ssl

        ctx = context or ssl._create_unverified_context()
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=timeout, source_address=address, context=ctx
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=address)
    try:
        conn.request(method, path, headers={"Connection": "close", **(headers or {})})
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
        return Response(resp.status, resp.getheaders(), body, time.monotonic() - start)
    finally:
        conn.close()


async def open_polls(port: int, count: int, hold_s: float, first: int = 0) -> tuple[list[asyncio.StreamWriter], int]:
    """Opens long-polls `first`..`first + count - 1` through the balancer on 127.0.0.1:port, from
    127.0.1.<1 + i // POLLS_PER_SOURCE>, at most 200 connects at once (well below the ListenBacklog)
    and each bounded to 10 s. Returns the open ones (close them to end the polls) and the failures."""
    gate = asyncio.Semaphore(200)

    async def one(i: int) -> asyncio.StreamWriter | None:
        async with gate:
            try:
                source = (f"127.0.1.{1 + i // POLLS_PER_SOURCE}", 0)
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=source), 10)
                writer.write(f"GET {POLL_PATH}?hold={hold_s}&agent={i} HTTP/1.1\r\nHost: lb\r\n\r\n".encode())
                await asyncio.wait_for(writer.drain(), 10)
                return writer
            except (TimeoutError, OSError):
                return None

    opened = await asyncio.gather(*(one(i) for i in range(first, first + count)))
    writers = [w for w in opened if w is not None]
    return writers, count - len(writers)


PERMISSIVE_OPENSSL_CNF = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
MinProtocol = TLSv1
CipherString = DEFAULT:@SECLEVEL=0
"""


class ApacheNode:
    """Debian's apache2 (httpd 2.4, the debian12 profile) as a node."""

    profile = PROFILES["debian12"]
    process = "apache2"  # its processes' name (ss, ps)
    error_log_name = "error.log"

    def __init__(self, workdir: Path, http_port: int, https_port: int):
        self.workdir, self.http_port, self.https_port = workdir, http_port, https_port
        self.etc = workdir / "etc-apache2"  # the node's server_root, seen from the host
        self.box = Box(workdir, "apache-node")

    @property
    def listen_file(self) -> Path:
        """The rendered file with the Listen lines, seen from the host."""
        return self.etc / self.profile.listen_conf

    def boot(self, drop_conf: tuple[str, ...] = ()) -> None:
        logs = self.workdir / "logs"
        subprocess.run(["cp", "-a", "/etc/apache2", str(self.etc)], check=True)
        logs.mkdir()
        # No Listen until the push installs the bundle's ports.conf: whatever answers on
        # http_port/https_port afterwards does so because the rendered config listens there.
        (self.etc / "ports.conf").write_text("# replaced by the bundle's ports.conf on the first push\n")
        (self.etc / "sites-enabled" / "000-default.conf").unlink(missing_ok=True)
        self.drop_conf = drop_conf
        # The node's OpenSSL would speak every protocol (security level 0, TLS 1.0 up): whatever
        # httpd refuses, the rendered SSLProtocol refuses, not the system's defaults.
        openssl_cnf = self.workdir / "openssl.cnf"
        openssl_cnf.write_text(PERMISSIVE_OPENSSL_CNF)
        setup = (
            f"mount --bind {self.etc} /etc/apache2; mount -t tmpfs none /run; mkdir -p /run/lock;"
            f" mount --bind {openssl_cnf} /etc/ssl/openssl.cnf;"
            f" mount --bind {logs} /var/log/apache2; a2enmod -q {' '.join(MODULES)} >/dev/null"
        )
        self.box.start(reaper_command(setup), namespaces=("--mount",))  # the host's network: loopback ports

    def run(self, *cmd: str, stdin: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return self.box.run(*cmd, stdin=stdin, timeout=timeout)

    def push(self, step: Step, tls_pair: tuple[str, str] | None = None) -> subprocess.CompletedProcess:
        """The plan's httpd push step (install, configtest, graceful where httpd runs), its stdin
        built as every executor builds it (the httpd files, then the TLS pair)."""
        script = step.script
        conf_dir = f"{self.profile.server_root}/{self.profile.conf_dir}"
        for name in self.drop_conf:  # variants without one of our files (e.g. the MPM sizing)
            script = script.replace(f"install_file {conf_dir}/{name}", "cat > /dev/null #")
        return self.run("bash", "-c", script, step.name, stdin=encode_stdin(step, tls_pair))

    def start_command(self) -> list[str]:
        return ["apache2ctl", "start"]

    def start_httpd(self) -> None:
        done = self.run(*self.start_command())
        assert done.returncode == 0, done.stdout + done.stderr
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if request("GET", "/server-status?auto", self.http_port, timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("apache2 did not answer: " + self.error_log())

    def error_log(self) -> str:
        log = self.workdir / "logs" / self.error_log_name
        return log.read_text()[-3000:] if log.exists() else ""

    def httpd_pid(self) -> int | None:
        done = self.run("cat", self.profile.pid_file)
        return int(done.stdout) if done.returncode == 0 and done.stdout.strip() else None

    def worker_processes(self) -> list[tuple[int, int]]:
        """(pid, threads) of each worker process of the httpd parent, as the node's /proc shows them
        (not single-threaded helpers such as 2.2's mod_cgid daemon)."""
        threads = "awk '/^Threads:/ {print $2}' /proc/$p/status"
        script = f"for p in $(ps -o pid= --ppid {self.httpd_pid()}); do echo $p $({threads}); done"
        rows = [line.split() for line in self.run("bash", "-c", script).stdout.splitlines()]
        return [(int(row[0]), int(row[1])) for row in rows if len(row) == 2 and int(row[1]) > 1]

    def shutdown(self) -> None:
        self.box.kill()


HTTPD22 = Path(__file__).resolve().parent.parent / ".tools" / "httpd22"  # scripts/httpd22.sh builds it
RHEL6_HTTPD_CONF = Path(__file__).resolve().parent / "rhel6" / "httpd.conf"


class Httpd22Node(ApacheNode):
    """httpd 2.2.34 (the rhel6 profile) as a RHEL 6 node: built from source by scripts/httpd22.sh,
    seen at /usr/sbin/httpd.worker with RHEL 6's /etc/httpd layout (conf/httpd.conf a stand-in for
    the stock one: lab/rhel6/httpd.conf; modules, logs and run linked as RHEL links them), through
    overlays on /etc and /usr/sbin that only this box sees."""

    profile = PROFILES["rhel6"]
    process = "httpd.worker"
    error_log_name = "error_log"

    def __init__(self, workdir: Path, http_port: int, https_port: int):
        super().__init__(workdir, http_port, https_port)
        self.overlay = workdir / "overlay"
        self.etc = self.overlay / "etc.upper" / "httpd"

    def boot(self, drop_conf: tuple[str, ...] = ()) -> None:
        if not (HTTPD22 / "bin" / "httpd").exists():
            raise RuntimeError(f"{HTTPD22}/bin/httpd is missing: run scripts/httpd22.sh")
        logs = self.workdir / "logs"
        logs.mkdir()
        for d in ("etc", "usr-sbin"):
            (self.overlay / f"{d}.upper").mkdir(parents=True)
            (self.overlay / f"{d}.work").mkdir()
        (self.etc / "conf").mkdir(parents=True)
        (self.etc / "conf.d").mkdir()
        (self.etc / "conf" / "httpd.conf").write_text(RHEL6_HTTPD_CONF.read_text())
        for name, target in (("modules", HTTPD22.resolve() / "modules"), ("logs", logs), ("run", Path("/var/run/httpd"))):
            (self.etc / name).symlink_to(target)
        sbin = self.overlay / "usr-sbin.upper"
        (sbin / "httpd.worker").symlink_to(HTTPD22.resolve() / "bin" / "httpd")
        self.drop_conf = drop_conf
        o = self.overlay
        setup = (
            f"mount -t overlay overlay -o lowerdir=/etc,upperdir={o}/etc.upper,workdir={o}/etc.work /etc;"
            f" mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir={o}/usr-sbin.upper,workdir={o}/usr-sbin.work /usr/sbin;"
            " mount -t tmpfs none /run; mkdir -p /run/lock /run/httpd"
        )
        self.box.start(reaper_command(setup), namespaces=("--mount",))  # the host's network: loopback ports

    def start_command(self) -> list[str]:
        return [self.profile.httpd_binary, "-f", self.profile.main_config]


def loopback(path: str, text: str, listen_file: str = PORTS_CONF) -> str:
    """The node shares the host's network: the rendered `Listen <port>` lines bind 127.0.0.1 only
    (the ports are the stack's)."""
    return re.sub(r"^Listen (\d+)\b", r"Listen 127.0.0.1:\1", text, flags=re.M) if path == listen_file else text


def push_step(settings, edit=None) -> Step:
    """The plan's push step; `edit(path, text)` may alter a rendered file first (to break it)."""
    bundle = render_bundle(settings)
    listen_file = f"{settings.profile.server_root}/{settings.profile.listen_conf}"
    files = {p: loopback(p, t, listen_file) for p, t in bundle.httpd.items()}
    bundle = dataclasses.replace(bundle, httpd={p: edit(p, t) for p, t in files.items()} if edit else files)
    return next(st for st in build_plan(settings, bundle) if st.name == "httpd-push-0")


def start_node(
    workdir: Path, settings, tls_pair: tuple[str, str] | None = None, drop_conf: tuple[str, ...] = (), edit=None
) -> ApacheNode:
    """A node serving the bundle rendered from `settings` (its ports: the stack's httpd port and
    TLS port), installed by the plan's push step (`edit` as in push_step); shut down again if it
    does not start. The settings' OS profile picks the httpd: 2.4 (Debian's) or 2.2 (rhel6)."""
    kind = Httpd22Node if settings.profile.httpd_version == "2.2" else ApacheNode
    node = kind(workdir, settings.httpd.port, settings.httpd.tls.port)
    node.boot(drop_conf=drop_conf)
    try:
        pushed = node.push(push_step(settings, edit), tls_pair)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        node.start_httpd()
    except BaseException:
        node.shutdown()
        raise
    return node
