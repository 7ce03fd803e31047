"""The lab's boxes and their wiring: the switch (a bridge), the nodes (with their own disks and the
systemctl/killall stand-ins), the fake members in the backends box, and the client box.

With vip_mode overlay the lab is routed (ec2.routed): the switch box holds one bridge per segment
(the services subnet with the client, the fake members and the EC2 emulator; nodes[0]'s subnet;
nodes[1]'s subnet) and routes between them as the VPC router does, from the .1 of each segment
(the address AWS reserves for it), where every box's default route points. Its route to the VIP
follows route_table_ids[0] of the EC2 emulator: the emulator sets it after every route it creates,
replaces or deletes (lab/ec2_emulator.py), so the client's traffic goes where EC2's table says.
Failures are cut at the router with policy rules (cut): the link between the nodes' subnets, or a
whole subnet (an AZ outage)."""

from __future__ import annotations

import ipaddress
import os
import select
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from blueprint.settings import Settings

from . import ec2
from .boxes import CLEAN_ENV, Box, LabError, reaper_command, wait_for

HERE = Path(__file__).resolve().parent
SHIMS = HERE / "shims"
FAKE_MEMBER = HERE / "fake_member.py"
PACKAGES = [
    line.strip() for line in (HERE / "debian-packages.txt").read_text().splitlines() if line.strip() and not line.startswith("#")
]
# The last two: what a node installs of its own (OCF agents; gir-lb-exporter under /usr/local).
NODE_DISKS = ("etc", "var/lib", "var/log", "usr/bin", "root", "usr/lib/ocf/resource.d", "usr/local")
SHIM_NAMES = ("systemctl", "killall", "cloud-init")
# A node's sshd: the host key the program generated for the node, keys only, root (the lab's ssh.user).
SSHD_CONFIG = """\
# gir-lb lab node: written at boot from the stack's resources (lab/topology.py)
HostKey /etc/ssh/gir-lb-lab/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile .ssh/authorized_keys
"""
HOST_KEY = "etc/ssh/gir-lb-lab/ssh_host_ed25519_key"  # on the node's disk
AUTHORIZED_KEYS = "root/.ssh/authorized_keys"


ARBITER = "arbiter"  # the box of the quorum device's arbiter (cluster.quorum_device), machine index 2
# The router's policy rules (ip rule priorities) that cut traffic: the link between the nodes'
# subnets (both directions), and a whole segment (what comes from it, what goes to it).
CUT_LINK_PRIORITY = 100
CUT_SEGMENT_PRIORITY = 110


def machines(s: Settings) -> list[tuple[str, str]]:
    """(box name, address) of every machine the program boots, in the step plan's order: the two
    nodes, then the arbiter when the stack has one (in the lab it is always the lab's own)."""
    qd = s.cluster.quorum_device
    return [(n.name, str(n.ip)) for n in s.cluster.nodes] + ([(ARBITER, str(qd.address))] if qd else [])


def mac_of(ip: str) -> str:
    """eth0's MAC, locally administered, from the box's IP (see Topology.plug)."""
    return "02:00:" + ":".join(f"{int(octet):02x}" for octet in ip.split("."))


def ended(pid: int) -> bool:
    """True once `pid` is gone or a zombie (reaped here if it is our child)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
    except ChildProcessError:
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def missing_packages(packages: list[str] = PACKAGES) -> list[str]:
    missing = []
    for name in packages:
        done = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if "install ok installed" not in done.stdout:
            missing.append(name)
    return missing


class Topology:
    """The boxes of one lab, kept under its state folder, laid out by its stack's settings."""

    def __init__(self, state: Path, settings: Settings):
        self.state, self.settings = state, settings

    def box(self, name: str) -> Box:
        return Box(self.state, name)

    @property
    def nodes(self) -> list[Box]:
        return [self.box(n.name) for n in self.settings.cluster.nodes]

    @property
    def box_names(self) -> list[str]:
        extra = ["ec2"] if ec2.emulated(self.settings) else []
        return [name for name, _ in machines(self.settings)] + ["backends", "client", *extra, "gateway", "switch"]

    @property
    def routed(self) -> bool:
        return ec2.routed(self.settings)

    @property
    def segments(self) -> dict[str, ipaddress.IPv4Network]:
        """Bridge name -> subnet: the one segment, or on a routed lab the services subnet and each
        node's subnet (see the module's docstring)."""
        net = self.settings.network
        if not self.routed:
            return {"br0": net.subnet_cidr}
        return {"br0": ec2.services_subnet(self.settings), "br1": net.node_subnet(0)[1], "br2": net.node_subnet(1)[1]}

    def segment_of(self, ip: str) -> tuple[str, ipaddress.IPv4Network]:
        """(bridge, subnet) of the segment holding `ip` (unrouted: the one segment, whatever `ip`)."""
        if not self.routed:
            return "br0", self.segments["br0"]
        for bridge, net in self.segments.items():
            if ipaddress.IPv4Address(ip) in net:
                return bridge, net
        raise LabError(f"{ip} is in none of the lab's subnets ({', '.join(map(str, self.segments.values()))})")

    @staticmethod
    def router_ip(net: ipaddress.IPv4Network) -> str:
        """The router's address on a segment: its .1, as the VPC router's."""
        return str(net.network_address + 1)

    @property
    def prefix(self) -> int:
        return self.segments["br0"].prefixlen

    @property
    def client_ip(self) -> str:
        return str(self.segments["br0"].network_address + 250)

    @property
    def operator_ip(self) -> str:
        """The switch's own address: where the SSH gateway's connections to the nodes come from."""
        return str(self.segments["br0"].broadcast_address - 1)

    def reserved_problems(self) -> list[str]:
        """Stack addresses that collide with the lab's own boxes (and, routed, a layout the router
        cannot join: the services subnet must hold the fake members and be apart from the nodes')."""
        s = self.settings
        ours = {self.client_ip: "the client box", self.operator_ip: "the switch (SSH gateway)"}
        if ec2.emulated(s):
            ours[ec2.api_ip(s)] = "the EC2 emulator"
        problems = []
        if self.routed:
            ours |= {self.router_ip(net): f"VPC router on {net}" for net in self.segments.values()}
            services = self.segments["br0"]
            if any(services.overlaps(net) for net in list(self.segments.values())[1:]):
                why = f"{services} (the lab's services subnet) overlaps a node's subnet"
                problems.append(f"gir-lb:network.client_cidrs[0]: {why}")
            if ipaddress.IPv4Address(self.backend_ip) not in services:
                problems.append(f"the fake members' {self.backend_ip} is outside the lab's services subnet {services}")
        used = {str(s.network.vip): "gir-lb:network.vip"}
        used |= {str(n.ip): f"gir-lb:cluster.nodes[{i}].ip" for i, n in enumerate(s.cluster.nodes)}
        if s.cluster.quorum_device:
            used[str(s.cluster.quorum_device.address)] = "gir-lb:cluster.quorum_device.address"
        return problems + [f"{key}: {ip} is the lab's {ours[ip]}" for ip, key in used.items() if ip in ours]

    @property
    def backend_ip(self) -> str:
        hosts = {str(urlsplit(m.url).hostname) for t in self.settings.tenants for _, _, m in t.members}
        if len(hosts) != 1:
            raise LabError(f"the lab stack's members must all use one address, found {sorted(hosts)}")
        return hosts.pop()

    def plug(self, box: Box, ip: str) -> None:
        """A veth from the switch's bridge to eth0 in `box`. eth0's MAC follows from its IP: a node
        booted again (or replaced) keeps it, as the AWS network keeps routing an IP to its new
        instance; a new MAC would leave the peers' ARP entries stale for tens of seconds."""
        switch = self.box("switch")
        port = f"p-{box.name}"[:15]
        mac = mac_of(ip)
        bridge, net = self.segment_of(ip)
        switch.run("ip", "link", "del", port, net_only=True)
        switch.run(
            "ip",
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "address",
            mac,
            "netns",
            str(box.pid),
            net_only=True,
            check=True,
        )
        switch.run("ip", "link", "set", port, "master", bridge, "up", net_only=True, check=True)
        box.run("ip", "addr", "add", f"{ip}/{net.prefixlen}", "dev", "eth0", net_only=True, check=True)
        box.run("ip", "link", "set", "eth0", "up", net_only=True, check=True)
        if self.routed:
            # onlink, no src: the ec2 box keeps it while its API address is off (set_ec2_reachable)
            gateway = ("ip", "route", "replace", "default", "via", self.router_ip(net), "dev", "eth0", "onlink")
            box.run(*gateway, net_only=True, check=True)

    def unplug(self, box: Box) -> None:
        self.box("switch").run("ip", "link", "set", f"p-{box.name}"[:15], "down", net_only=True)

    def start_simple_box(self, name: str, ip: str | None) -> Box:
        box = self.box(name)
        setup = "sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set lo up"
        if name == "switch":
            for bridge in self.segments:
                setup += f"; ip link add {bridge} type bridge stp_state 0 forward_delay 0; ip link set {bridge} up"
            setup += f"; ip addr add {self.operator_ip}/{self.prefix} dev br0"
            if self.routed:
                for bridge, net in self.segments.items():
                    setup += f"; ip addr add {self.router_ip(net)}/{net.prefixlen} dev {bridge}"
                # a router: forwards, answers for a VIP whose route moved (no reverse-path check), sends no redirects
                for key in ("ip_forward=1", "conf.all.rp_filter=0", "conf.default.rp_filter=0", "conf.all.send_redirects=0"):
                    setup += f"; sysctl -qw net.ipv4.{key}"
                # the metadata address is the ec2 box's own, on the services segment (as on AWS, a
                # link-local service every subnet reaches; it answers while the API address is off)
                setup += f"; ip route add {ec2.IMDS_IP}/32 dev br0"
        box.start(reaper_command(setup))
        if ip:
            self.plug(box, ip)
        return box

    def prepare_node_disk(self, name: str) -> Path:
        """The machine's disk: overlays on the host's folders, the stand-ins; a node of lab-aws also
        gets the EC2 emulator's files."""
        root = self.state / "nodes" / name
        for d in NODE_DISKS:
            (root / f"{d}.upper").mkdir(parents=True, exist_ok=True)
            (root / f"{d}.work").mkdir(parents=True, exist_ok=True)
        host_pidns = os.readlink("/proc/self/ns/pid")
        for shim in SHIM_NAMES:
            target = root / "usr/bin.upper" / shim
            target.write_text((SHIMS / shim).read_text().replace("@HOST_PID_NAMESPACE@", host_pidns))
            target.chmod(0o755)
        if ec2.emulated(self.settings) and name != ARBITER:
            for path, (content, mode) in ec2.node_files(self.settings).items():
                disk = next(d for d in NODE_DISKS if path.startswith(f"/{d}/"))
                target = root / f"{disk}.upper" / path.removeprefix(f"/{disk}/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
                target.chmod(mode)
        return root

    def install_keys(self, index: int, host_key: str, authorized_key: str) -> bool:
        """Writes the node's SSH host key (private; the public half is derived) and the key the
        bootstrap logs in with onto its disk; True when anything changed."""
        root = self.state / "nodes" / machines(self.settings)[index][0]
        wanted = {
            HOST_KEY: (host_key.rstrip("\n") + "\n", 0o600),
            "etc/ssh/gir-lb-lab/sshd_config": (SSHD_CONFIG, 0o644),
            AUTHORIZED_KEYS: (authorized_key.strip() + "\n", 0o600),
        }
        changed = False
        for path, (content, mode) in wanted.items():
            disk = next(d for d in NODE_DISKS if path.startswith(f"{d}/"))
            target = root / f"{disk}.upper" / path.removeprefix(f"{disk}/")
            if target.exists() and target.read_text() == content:
                continue
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            target.touch(mode=mode)
            target.write_text(content)
            changed = True
        return changed

    def restart_sshd(self, index: int) -> None:
        """sshd reads its host key and config again (SIGHUP re-executes it)."""
        box = self.box(machines(self.settings)[index][0])
        box.run("bash", "-c", 'kill -HUP "$(cat /run/sshd.pid)"', check=True)

    def start_gateway(self, forwards: list[tuple[str, int, str]]) -> Box:
        """The SSH gateway: a box in the host's network namespace (so it can listen on loopback)
        whose socat listeners forward each (address, port) to port 22 of a node's IP from the
        switch's namespace. The host gets no route into the lab; only these loopback ports."""
        switch_net = f"/proc/{self.box('switch').pid}/ns/net"
        lines = []
        for address, port, target in forwards:
            # socat would read the colons of an inner address itself: the inner half is a script
            connect = self.state / f"gateway-{port}.sh"
            # from the switch's own address (in the stack's admin_cidrs; routed: not the router's)
            tcp = f"TCP:{target}:22,connect-timeout=5,bind={self.operator_ip}"
            connect.write_text(f"#!/bin/sh\nexec nsenter --net={switch_net} socat STDIO {tcp}\n")
            connect.chmod(0o700)
            listen = f"TCP-LISTEN:{port},bind={address},reuseaddr,fork"
            lines.append(f"socat {listen} EXEC:{connect} </dev/null >/dev/null 2>>{self.state}/gateway.log &")
        probe = "; ".join(f"until (: <>/dev/tcp/{a}/{p}) 2>/dev/null; do sleep 0.1; done" for a, p, _ in forwards)
        box = self.box("gateway")
        box.start(reaper_command("\n".join([*lines, f"timeout 10 bash -c {shlex.quote(probe)}"])), namespaces=())
        return box

    def boot_node(self, index: int) -> Box:
        """Boots machine `index` (a node, or the arbiter: see machines) on its disk."""
        name, ip = machines(self.settings)[index]
        root = self.prepare_node_disk(name)
        overlays = "; ".join(
            f"mount -t overlay overlay -o lowerdir=/{d},upperdir={root}/{d}.upper,workdir={root}/{d}.work /{d}"
            for d in NODE_DISKS
        )
        setup = (
            f"hostname {shlex.quote(name)}; mount -t tmpfs -o mode=0755 tmpfs /run;"
            " install -d -m 1777 /run/lock; install -d /run/resource-agents /run/systemctl-shim;"
            " mount -t tmpfs -o mode=1777 tmpfs /dev/shm;"
            # its own /sys: /sys/class/net shows this box's eth0 (aws-vpc-move-ip reads its MAC there)
            " mount -t sysfs sysfs /sys;"
            f" {overlays}; sysctl -qw net.ipv6.conf.all.disable_ipv6=1; ip link set lo up"
        )
        box = self.box(name)
        box.start(reaper_command(setup), namespaces=("--mount", "--uts", "--ipc", "--net"))
        self.plug(box, ip)
        if ec2.emulated(self.settings) and name != ARBITER:
            via = self.router_ip(self.segment_of(ip)[1]) if self.routed else None
            box.run(*ec2.imds_route(ip, via), net_only=True, check=True)
        # What a booted host starts by itself: sshd, pcsd where enabled, the cluster and its quorum
        # device once enabled, the exporters; on the arbiter qnetd.
        if (root / "etc.upper" / HOST_KEY.removeprefix("etc/")).exists():
            box.run("install", "-d", "-m", "0755", "/run/sshd", check=True)
            box.run("/usr/sbin/sshd", "-f", "/etc/ssh/gir-lb-lab/sshd_config", check=True)
        metrics = self.settings.profile.metrics
        watchers = (metrics.service, "gir-lb-exporter") if metrics else ()
        node_units = ("pcsd", "corosync", "corosync-qdevice", "pacemaker", *watchers)
        units = ("pcsd", "corosync-qnetd") if name == ARBITER else node_units
        for unit in units:
            if box.run("systemctl", "is-enabled", unit).returncode == 0:
                box.run("systemctl", "start", unit, check=True)
        return box

    def start_ec2(self, stack_file: Path) -> int:
        """The ec2 box (the API and the metadata addresses) and the emulator in its network
        namespace; returns the emulator's PID. The emulator stays in the host's PID namespace: it
        powers the nodes' boxes off and on."""
        box = self.start_simple_box("ec2", ec2.api_ip(self.settings))
        box.run("ip", "addr", "add", f"{ec2.IMDS_IP}/32", "dev", "eth0", net_only=True, check=True)
        # The metadata service answers the nodes also while the API address is gone (routed: by
        # the default route, which plug made on-link).
        if not self.routed:
            subnet = str(self.settings.network.subnet_cidr)
            box.run("ip", "route", "add", subnet, "dev", "eth0", "metric", "1000", net_only=True, check=True)
        with open(self.state / "ec2.log", "w") as log:
            proc = subprocess.Popen(
                [*box.enter("-n"), sys.executable, "-m", "lab.ec2_emulator", str(self.state), str(stack_file)],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
                env=CLEAN_ENV | {"PYTHONPATH": str(HERE.parent)},
                cwd=HERE.parent,
            )
        assert proc.stdout is not None  # stdout=PIPE
        ready = select.select([proc.stdout], [], [], 60)[0] and proc.stdout.readline().strip() == "ready"
        proc.stdout.close()
        if not ready:
            proc.kill()
            raise LabError(f"the EC2 emulator did not start: {(self.state / 'ec2.log').read_text()[-2000:]}")
        self.emulator_pid_file.write_text(str(proc.pid))
        return proc.pid

    @property
    def emulator_pid_file(self) -> Path:
        return self.state / "ec2-emulator.pid"

    def stop_ec2(self) -> None:
        """Ends the emulator by its recorded PID, if that PID is still the emulator of this lab."""
        try:
            pid = int(self.emulator_pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return
        if b"lab.ec2_emulator" in cmdline and str(self.state).encode() in cmdline:
            os.kill(pid, signal.SIGKILL)
            wait_for("the EC2 emulator to end", lambda: ended(pid), 10, 0.05)
        self.emulator_pid_file.unlink(missing_ok=True)

    def set_ec2_reachable(self, reachable: bool) -> None:
        """Takes the API address off the ec2 box (or puts it back): calls to it then go unanswered,
        as when the EC2 API cannot be reached. The metadata service stays, as it is local on EC2."""
        verb = "add" if reachable else "del"
        self.box("ec2").run(
            "ip", "addr", verb, f"{ec2.api_ip(self.settings)}/{self.prefix}", "dev", "eth0", net_only=True, check=True
        )
        if reachable and self.routed:  # the address's connected route is back: the gateway with it
            self.box("ec2").run(
                "ip",
                "route",
                "replace",
                "default",
                "via",
                self.router_ip(self.segments["br0"]),
                "dev",
                "eth0",
                "onlink",
                net_only=True,
                check=True,
            )

    # ---- the VPC router (routed labs) ------------------------------------------------------------

    def router_vip_route(self) -> str | None:
        """The address the router sends the VIP to (None: it has no route to it)."""
        shown = self.box("switch").run("ip", "-o", "route", "show", "exact", f"{self.settings.network.vip}/32", net_only=True)
        words = shown.stdout.split()
        return words[words.index("via") + 1] if "via" in words else None

    def set_router_vip_route(self, via: str | None) -> None:
        """The router's route to the VIP goes to `via` (None: removed), as the emulator's table says."""
        vip, switch = f"{self.settings.network.vip}/32", self.box("switch")
        if via:
            switch.run("ip", "route", "replace", vip, "via", via, net_only=True, check=True)
        else:
            switch.run("ip", "route", "del", vip, net_only=True)

    def cut(self, what: str, cut: bool = True, node: int = 0) -> None:
        """At the router, drops (or forwards again): `link`, every packet between the two nodes'
        subnets; `segment`, every packet from or to node `node`'s subnet (its AZ gone). The
        services subnet reaches both nodes' subnets throughout a link cut."""
        if not self.routed:
            raise LabError("the router cuts traffic only on a routed lab (vip_mode overlay)")
        a, b = (str(self.segments[bridge]) for bridge in ("br1", "br2"))
        bridge = ("br1", "br2")[node]
        rules: dict[str, list[tuple[int, tuple[str, ...]]]] = {
            "link": [(CUT_LINK_PRIORITY, ("from", a, "to", b)), (CUT_LINK_PRIORITY + 1, ("from", b, "to", a))],
            "segment": [
                (CUT_SEGMENT_PRIORITY, ("iif", bridge)),
                (CUT_SEGMENT_PRIORITY + 1, ("to", str(self.segments[bridge]))),
            ],
        }
        if what not in rules:
            raise LabError(f"cut {what!r}: link or segment")
        switch = self.box("switch")
        for priority, selector in rules[what]:
            switch.run("ip", "rule", "del", "priority", str(priority), net_only=True)  # at most one each
            if cut:
                switch.run("ip", "rule", "add", "priority", str(priority), *selector, "blackhole", net_only=True, check=True)

    def start_backends(self) -> Box:
        box = self.start_simple_box("backends", self.backend_ip)
        ports = []
        for t in self.settings.tenants:
            for svc, i, m in t.members:
                name = f"{t.id}-{svc}-{i + 1}"
                ports.append(self.start_member(name, m.url, kind=svc, route=getattr(m, "route", None), wait=False))
        self.wait_listening(ports)
        return box

    def wait_listening(self, ports: list[int]) -> None:
        probe = "; ".join(f"exec 3<>/dev/tcp/{self.backend_ip}/{p} && exec 3>&-" for p in ports)
        box = self.box("backends")
        wait_for("the fake members", lambda: box.run("bash", "-c", probe, net_only=True).returncode == 0, 30, 0.2)

    def stop_member(self, name: str) -> None:
        """SIGKILLs the fake member `name` (found by its --name argument in the backends box, by PID)."""
        box = self.box("backends")
        for pid, _ in box.processes():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            if b"--name" in argv and argv[argv.index(b"--name") + 1 :][:1] == [name.encode()]:
                os.kill(pid, signal.SIGKILL)
                wait_for(f"member {name} to end", lambda pid=pid: ended(pid), 10, 0.05)

    def start_member(self, name: str, url: str, kind: str = "plain", route: str | None = None, wait: bool = True) -> int:
        """A fake GIR member in the backends box, answering as `name` at `url`; returns once it listens.
        `kind` and `route` as in lab/fake_member.py (the service's key; the member's route, if it has
        one). The lab starts the stack's members once; a member added later is started by this (as
        a real GIR server exists before it is added to the balancer)."""
        box = self.box("backends")
        host, port = urlsplit(url).hostname, urlsplit(url).port
        if host != self.backend_ip:
            raise LabError(f"{url}: the lab's fake members live at {self.backend_ip}")
        args = ["--name", name, "--host", self.backend_ip, "--port", str(port), "--kind", kind]
        if route:
            args += ["--route", route]
        command = shlex.join(["setsid", "/usr/bin/python3", str(FAKE_MEMBER), *args])
        box.run("bash", "-c", f"{command} >/dev/null 2>&1 &", check=True)
        assert port is not None  # the model requires a port
        if wait:
            self.wait_listening([port])
        return port
