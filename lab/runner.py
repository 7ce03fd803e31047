"""The local lab: the HA pair on one Linux machine, built by the Pulumi program (`gir-lb:platform:
lab`) through the real engine: the same bundle, step plan and Bootstrap over SSH as AWS. What a
lab is made of is lab/world.py; a `Lab` is what you do with one: bring it up, change it, break it,
watch it fail over. A lab is a Pulumi stack: its name is the stack's; `up`, `apply`,
`replace_node`, `rotate_password`, `rerun_every_step` and `down` are `pulumi up` / `destroy` runs
(lab/stack.py).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from blueprint.drift import Finding, compare, probe_script
from blueprint.render import render_bundle
from blueprint.stack_config import load_stack

from . import ec2, probing, steps
from .boxes import Box, LabError, wait_for
from .probing import Probe, ProbeRow
from .topology import ARBITER, machines
from .world import REPO, LabWorld


@dataclass
class Failover:
    """One failover as the client and EC2 saw it."""

    kind: str  # node, httpd, split or az
    active: str  # the node that was serving
    at: float  # when the failure was caused (epoch s)
    downtime: float | None  # see probing.downtime
    rows: list[ProbeRow]  # every probe of the VIP
    ec2: list[dict]  # the emulator's history from then on (lab-aws, lab-overlay)
    serving_on: str | None  # where webserver runs afterwards


def say(message: str) -> None:
    print(message, flush=True)


class Lab(LabWorld):
    def running_node(self) -> Box:
        """A node whose box runs (the first), to ask the cluster from."""
        for node in self.nodes:
            if node.pid:
                return node
        raise LabError(f"lab {self.name} is not up")

    @property
    def password(self) -> str:
        """The hacluster password the program generated (a secret in the stack's state)."""
        return self.pulumi.secret_output("gir-lb-hacluster-password", "stdout").strip()

    @property
    def deployed_file(self) -> Path:
        """The stack config as last applied (Pulumi's config; `apply` restores it when an update fails)."""
        return self.config_file

    def ec2_history(self) -> list[dict]:
        path = self.state / "ec2-history.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def ec2_moves(self, since: float) -> list[dict]:
        """What EC2 did to the pair since then: VIP assignments, VIP routes (overlay) and power changes."""
        moves = ("assign", "unassign", "route", "stop", "start")
        return [e for e in self.ec2_history() if e["t"] >= since and e["event"] in moves]

    def vip_routes(self) -> dict[str, str | None]:
        """vip_mode overlay, asked of the EC2 API (describe-route-tables, as an admin): per named
        route table, the ENI its route to the VIP goes to (None: no such route)."""
        world = self.ec2_world
        if world is None or not world.get("route_tables"):
            raise LabError("the VIP has EC2 routes only on a stack with vip_mode overlay")
        code = (
            "import boto3, json, sys; vip = sys.argv[6] + '/32'; tables = boto3.client('ec2', endpoint_url=sys.argv[1],"
            " region_name=sys.argv[2], aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])"
            ".describe_route_tables(RouteTableIds=sys.argv[5].split(','))['RouteTables'];"
            " print(json.dumps({t['RouteTableId']: next((r.get('NetworkInterfaceId') for r in t['Routes']"
            " if r.get('DestinationCidrBlock') == vip), None) for t in tables}))"
        )
        args = [world["endpoint"], world["region"], *world["admin_keys"], ",".join(world["route_tables"])]
        done = self.box("ec2").run(sys.executable, "-c", code, *args, str(self.settings.network.vip), net_only=True, check=True)
        found = json.loads(done.stdout)
        return {t: found.get(t) for t in world["route_tables"]}

    def router_vip_route(self) -> str | None:
        """vip_mode overlay: the address the lab's VPC router sends the VIP's traffic to."""
        return self.topology.router_vip_route()

    # ---- day 2: changes and replacements through `pulumi up` ---------------------------------------

    def apply(self, stack_file: Path) -> dict[str, str]:
        """`stack_file`'s config becomes the stack's, then `pulumi up`: the steps whose trigger
        changed run, in plan order; returns each step's output by name. A failing step fails the
        update and the stack's config goes back to what was deployed."""
        return self.pulumi.up_with_config(stack_file)

    def drift(self) -> dict[str, list[Finding]]:
        """Per node: the drift probe's findings against the deployed stack (blueprint/drift.py)."""
        s = load_stack(str(self.deployed_file))
        bundle = render_bundle(s)
        script = probe_script(s, bundle)
        return {node.name: compare(s, bundle, node.run("bash", "-c", script, "drift", timeout=120).stdout) for node in self.nodes}

    def rotate_password(self) -> dict[str, str]:
        """A new hacluster password (the resource that made it, replaced): the steps that read it
        on stdin run again."""
        return self.pulumi.up("--replace", self.pulumi.urn("gir-lb-hacluster-password"))

    def rerun_every_step(self) -> dict[str, str]:
        """A new SSH key for the bootstrap: both nodes authorize it, every step runs again (the key
        is an input of every command), as a rotated ssh_private_key does on AWS."""
        return self.pulumi.up("--replace", self.pulumi.urn("gir-lb-ssh-key"))

    def replace_node(self, name: str) -> dict[str, str]:
        """A new machine for node `name` or the arbiter (`pulumi up --replace` of its box): powered
        off, its disk thrown away, booted with the same name and IP; the steps a replacement re-runs
        follow (a new arbiter: its own certificate authority, so the nodes' certificates again)."""
        if name != ARBITER or self.settings.cluster.quorum_device is None:
            self.node_index(name)
        return self.pulumi.up("--replace", self.pulumi.urn(f"gir-lb-{name}"))

    def smaller_stack(self, folder: Path) -> Path:
        """The lab's stack with the last tenant's second RP member removed (see steps.smaller_stack)."""
        return steps.smaller_stack(self.stack_file, folder)

    # ---- requests through the VIP ------------------------------------------------------------------

    def get(self, path: str, timeout: float = 2) -> tuple[int, dict | str]:
        """One request through the VIP, from the client box."""
        return probing.request(self.box("client"), str(self.settings.network.vip), path, timeout)

    def tenant_health(self) -> dict[str, dict[str, str]]:
        return probing.tenant_health(self.box("client"), self.settings)

    def wait_serving(self, timeout: float) -> None:
        probing.wait_serving(self.box("client"), self.settings, timeout)

    def start_probe(self, max_seconds: float = 90, interval: float = 0.1, timeout: float = 1.0) -> Probe:
        """One request to the VIP every `interval` s on a new connection. The failover measurements
        keep the short timeout (a dead VIP is a failure, not a wait); latency checks use a long one."""
        path = f"/{self.settings.tenants[0].id}/api/probe"
        vip = str(self.settings.network.vip)
        return probing.start_probe(self.box("client"), self.state, vip, path, max_seconds, interval, timeout)

    # ---- commands ---------------------------------------------------------------------------------

    def up(self) -> None:
        """`pulumi up` of the lab's stack (README command 1), then every tenant served through the VIP.
        Again on a lab that is up, it converges: nothing changes unless the stack did."""
        t0 = time.monotonic()  # the world resource checks the Debian packages (world_up)
        say(f"gir-lb lab {self.name!r}: pulumi up --stack {self.name} --policy-pack policy ({self.stack_file.relative_to(REPO)})")
        self.pulumi.up("--policy-pack", str(REPO / "policy"), echo=True)
        self._settings = None
        self.wait_serving(120)
        s = self.settings
        say(f"up in {time.monotonic() - t0:.1f}s; VIP {s.network.vip} on {self.where('webserver')}")
        for tid, urls in s.tenant_urls.items():  # what the stack exports
            say(f"  {tid}: " + "  ".join(f"{key} {url}" for key, url in urls.items()))
        named = "" if self.name == "lab" else f" --name {self.name}"
        say(f"next (as root): scripts/lab.sh status{named}; scripts/lab.sh failover --node{named}; scripts/lab.sh down{named}")

    def where(self, resource: str) -> str | None:
        """The node `resource` runs on, as any running node sees it (a node cut off from the other
        sees nothing running until it rejoins)."""
        for node in self.nodes:
            if node.pid:
                done = node.run("crm_resource", "--locate", "-r", resource)
                for line in done.stdout.splitlines():
                    if "running on:" in line:
                        return line.rsplit(":", 1)[1].strip()
        return None

    def fencing_report(self) -> list[str]:
        """Why nothing runs where it should, when the cluster waits for fencing: the nodes lost and
        not yet fenced, the pending and failed fencing actions; and whether the EC2 API answers
        (on a healthy pair too: it cannot move the VIP or fence without it)."""
        node = self.running_node()
        mon = node.run("crm_mon", "-1").stdout.splitlines()
        lines = []
        for line in mon:
            if "UNCLEAN" in line and line.strip().startswith("* Node"):
                lost = line.split("Node", 1)[1].split(":", 1)[0].strip()
                lines.append(f"{lost} is UNCLEAN: lost and not fenced yet; what ran there starts elsewhere only after it is")
        for title in ("Pending Fencing Actions:", "Failed Fencing Actions:"):
            if title in mon:
                block = mon[mon.index(title) + 1 :]
                actions = [
                    x.strip(" *") for x in block[: next((i for i, x in enumerate(block) if not x.startswith("  ")), len(block))]
                ]
                lines += [f"{title[:-1].lower()}: {a}" for a in actions]
        if ec2.emulated(self.settings):
            url = ec2.endpoint(self.settings)
            answered = node.run("curl", "-sS", "-m", "3", "-o", "/dev/null", url).returncode == 0
            if not answered and lines:
                lines.append(f"the EC2 API {url} does not answer from {node.name}: fence_aws cannot stop the lost instance")
            elif not answered:
                lines.append(
                    f"the EC2 API {url} does not answer from {node.name}: the pair keeps serving, but the VIP cannot"
                    " move and no node can be fenced until it does"
                )
        return lines

    def quorum_device_report(self) -> str | None:
        """What the running node's corosync-qdevice says of the arbiter (None without a device)."""
        qd = self.settings.cluster.quorum_device
        if qd is None:
            return None
        shown = self.running_node().run("corosync-qdevice-tool", "-s").stdout
        state = next((line.split(":", 1)[1].strip() for line in shown.splitlines() if line.startswith("State:")), None)
        if state == "Connected":
            return f"arbiter {qd.address}: connected, votes"
        why = f"qdevice state {state}" if state else "corosync-qdevice does not run"
        return f"arbiter {qd.address}: UNREACHABLE ({why}): a node lost now leaves the other without quorum"

    def status(self) -> dict:
        node = self.running_node()
        pcs = node.run("pcs", "status").stdout
        summary = [line for line in pcs.splitlines() if line.strip().startswith(("*", "Node", "Online", "OFFLINE"))][:12]
        health = self.tenant_health()
        why = self.fencing_report()
        report: dict[str, object] = {
            "vip_on": self.where("virtual_ip"), "webserver_on": self.where("webserver"), "health": health, "why": why
        }  # fmt: skip
        say(f"lab {self.name}: VIP {self.settings.network.vip} on {report['vip_on']}, webserver on {report['webserver_on']}")
        say("\n".join(summary))
        for tid, services in health.items():
            say(f"  {tid}: " + ", ".join(f"{svc}={who}" for svc, who in services.items()))
        for line in why:
            say(f"  why: {line}")
        if arbiter := self.quorum_device_report():
            report["arbiter"] = arbiter
            say(arbiter)
        if self.settings.profile.metrics:
            firing = self.watch.alerts()
            report["alerts"] = firing
            say(f"alerts firing: {len(firing) or 'none'}")
            for labels in firing:
                say("  " + ", ".join(f"{k}={v}" for k, v in labels.items()))
        return report

    # ---- failures ---------------------------------------------------------------------------------

    def stop_members(self, tenant: str, service: str) -> list[tuple[str, str, str | None]]:
        """Kills every fake member of a tenant's service; returns what start_members needs."""
        t = next(t for t in self.settings.tenants if t.id == tenant)
        stopped = [(f"{tenant}-{svc}-{i + 1}", m.url, getattr(m, "route", None)) for svc, i, m in t.members if svc == service]
        for name, _, _ in stopped:
            self.topology.stop_member(name)
        return stopped

    def start_members(self, service: str, stopped: list[tuple[str, str, str | None]]) -> None:
        for name, url, route in stopped:
            self.topology.start_member(name, url, kind=service, route=route)

    def power_cut(self, name: str) -> None:
        """Node `name` loses power: unplugged, every process gone (its PID namespace's init killed)."""
        box = self.box(name)
        self.topology.unplug(box)
        box.kill()

    def stop_arbiter(self) -> None:
        """The arbiter loses power (the nodes' corosync-qdevice cannot reach qnetd)."""
        self.power_cut(ARBITER)

    def start_arbiter(self) -> None:
        """The arbiter boots again on its disk: pcsd and qnetd start as enabled."""
        index = [name for name, _ in machines(self.settings)].index(ARBITER)
        self.topology.boot_node(index)

    def throttle_ec2(self, every: int | None) -> None:
        """The emulator answers RequestLimitExceeded to every `every`th EC2 call (None: to none)."""
        switch = self.state / "ec2-throttle"
        if every:
            switch.write_text(str(every))
        else:
            switch.unlink(missing_ok=True)

    def take_vip_away(self, name: str) -> None:
        """Unassigns the VIP from node `name`'s ENI through the EC2 API, as someone might by hand."""
        world = self.ec2_world
        if world is None:
            raise LabError("the VIP is an EC2 address only on a stack with vip_mode aws")
        eni = next(n["eni"] for n in world["nodes"] if n["name"] == name)
        code = (
            "import boto3, sys; boto3.client('ec2', endpoint_url=sys.argv[1], region_name=sys.argv[2],"
            " aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])"
            ".unassign_private_ip_addresses(NetworkInterfaceId=sys.argv[5], PrivateIpAddresses=[sys.argv[6]])"
        )
        args = [world["endpoint"], world["region"], *world["admin_keys"], eni, str(self.settings.network.vip)]
        self.box("ec2").run(sys.executable, "-c", code, *args, net_only=True, check=True)

    def cut_cluster_link(self, cut: bool = True) -> None:
        """Each running node drops (or again reaches) the other's address: both stay up and reachable
        from the client and EC2, only the link between them is gone. Routed (overlay), the router
        drops what goes between the nodes' subnets: a node booted meanwhile is cut off too."""
        if self.topology.routed:
            self.topology.cut("link", cut)
            return
        for node, peer in zip(self.settings.cluster.nodes, reversed(self.settings.cluster.nodes), strict=True):
            box = self.box(node.name)
            if box.pid:
                box.run("ip", "route", "add" if cut else "del", "blackhole", f"{peer.ip}/32", net_only=True)

    def az_outage(self, name: str, out: bool = True) -> None:
        """Node `name`'s availability zone fails (overlay): its subnet is cut off at the router and
        the node loses power at the same moment; with `out=False` the subnet is joined again (the
        node is as fencing left it: booted again by fence_aws's reboot, or off)."""
        index = self.node_index(name)
        self.topology.cut("segment", out, node=index)
        if out:
            self.power_cut(name)

    def wait_both_online(self, timeout: float = 120) -> None:
        names = " ".join(sorted(n.name for n in self.settings.cluster.nodes))
        wait_for(
            "both nodes online", lambda: f"Online: [ {names} ]" in self.running_node().run("crm_mon", "-1").stdout, timeout, 1
        )

    def failover(self, kind: str) -> Failover:
        """Under a probe of the VIP every 100 ms: `node` cuts the active node's power, `httpd` SIGKILLs
        its httpd, `split` cuts the link between the nodes (fencing must leave one), `az` (overlay)
        cuts the active node's power and its subnet at the router. Measures, then brings the lab
        back to two nodes serving."""
        active_name = self.where("webserver")
        if not active_name:
            raise LabError("webserver is not running anywhere")
        if kind == "split" and not self.settings.fencing:
            raise LabError("a split without fencing leaves both nodes holding the VIP: run it on a fencing stack (lab-aws)")
        if kind == "az" and not self.topology.routed:
            raise LabError("an AZ outage needs the nodes in two subnets: run it on a vip_mode overlay stack (lab-overlay)")
        active = self.box(active_name)
        other = next(n.name for n in self.settings.cluster.nodes if n.name != active_name)
        probe = self.start_probe(max_seconds=180)
        time.sleep(1.0)
        at = time.time()
        if kind in ("node", "az"):
            if kind == "az":
                self.az_outage(active_name)
            else:
                self.power_cut(active_name)
            wait_for(f"webserver on {other}", lambda: self.where("webserver") == other, 120, 0.3)
        elif kind == "httpd":
            for pid in [pid for pid, comm in active.processes() if comm == "apache2"]:
                os.kill(pid, signal.SIGKILL)
        elif kind == "split":
            self.cut_cluster_link()
            wait_for("a node fenced", lambda: any(e["event"] == "stop" and e["t"] >= at for e in self.ec2_history()), 120, 0.3)
            wait_for("webserver on a node still up", lambda: (w := self.where("webserver")) and self.box(w).pid, 120, 0.5)
        else:
            raise LabError(f"failover kind {kind!r}: node, httpd, split or az")
        if kind == "split":
            time.sleep(3.0)  # the probe keeps going past the fencing: a second owner would show here
            rows = probe.stop()
        else:
            rows = probing.measure_rows(probe, at)
        measured = probing.downtime(rows, at)
        result = Failover(
            kind, active_name, at, measured, rows, [e for e in self.ec2_history() if e["t"] >= at - 1], self.where("webserver")
        )
        caused = {
            "node": f"cut the power of {active_name}",
            "httpd": f"killed httpd on {active_name}",
            "split": "cut the link",
            "az": f"cut the power and the subnet of {active_name}",
        }
        took = "none" if measured == 0 else ("not recovered" if measured is None else f"{measured:.2f}s")
        say(f"failover --{kind}: {caused[kind]}; downtime {took}; webserver now on {result.serving_on}")
        if kind in ("node", "az"):
            if kind == "az":
                self.az_outage(active_name, False)
            if not self.settings.fencing:  # with fencing, the survivor's fence_aws reboot powered it on
                self.topology.boot_node(self.node_index(active_name))
            self.wait_both_online()
        elif kind == "split":
            self.cut_cluster_link(False)  # the fenced node came back without the cut
            self.wait_both_online()
        else:
            self.running_node().run("pcs", "resource", "cleanup", "webserver")
        wait_for("webserver to run again", lambda: self.where("webserver"), 60, 0.5)
        self.wait_serving(60)
        if measured is None:
            raise LabError("the VIP did not serve again within 60 s")
        return result

    def down(self) -> None:
        """`pulumi destroy` of the lab's stack; then whatever a lost or broken state left behind
        goes too (boxes by their PID files, the state folder, a project copy)."""
        self.pulumi.destroy()
        self.world_down()
        self.pulumi.forget()
        say(f"lab {self.name} is down; state {self.state} removed")
