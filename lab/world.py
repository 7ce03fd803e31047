"""A lab's machines: what it is made of (the settings it runs, its boxes and their topology, its
EC2 emulator's world) and the resources the Pulumi program's local commands make of it
(`python -m lab world|node up|keys|down`).

Topology (all in namespaces; the root namespace gets no interface in the lab subnet):
  switch  - a bridge; its own address (the subnet's last) is where the SSH gateway's connections
            to the nodes come from
  gateway - socat listeners on a loopback address of the lab's own (lab/gateway.py), one port per
            node, each forwarding to that node's sshd through the switch
  node-a, node-b - PID+mount+UTS+IPC+net namespaces: tmpfs /run and /dev/shm, per-node overlays
            on /etc, /var/lib, /var/log, /root (their "disk", kept under the state folder) and on
            /usr/bin (the systemctl, killall and cloud-init stand-ins); eth0 on the switch; sshd
            with the host key the program generated
  backends - the fake GIR members of every tenant, on the addresses the lab stack names
  client  - where probes come from, and the lab's Prometheus (lab/watch.py)
  arbiter - with cluster.quorum_device: corosync-qnetd and pcsd, booted like a node (its own disk,
            sshd with the host key the program generated, the systemctl stand-in)
  ec2     - with fencing or an EC2 VIP mode: the EC2 emulator (lab/ec2_emulator.py) and the
            metadata address
With vip_mode overlay the switch is also the VPC router: the client, backends and ec2 boxes on a
services segment, each node on a segment of its own subnet, the router's route to the VIP set by
the emulator from route_table_ids[0] (lab/topology.py).
Lab-only parts: the namespaces, the stand-ins, a package check instead of package installation,
and the gateway instead of a routed network (components/lab.py lists what the program does
differently).
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cached_property
from pathlib import Path

from blueprint.render import render_bundle
from blueprint.settings import Settings
from blueprint.stack_config import load_stack
from blueprint.stacks import stack_file

from . import ec2, gateway, steps
from .boxes import Box, LabError
from .stack import PulumiStack
from .topology import ARBITER, Topology, machines, missing_packages
from .watch import Watch

REPO = Path(__file__).resolve().parent.parent
STATE_ROOT = Path("/var/tmp")


class LabWorld:
    """One lab's settings, boxes and EC2 world, and the resources the program makes of them."""

    def __init__(self, name: str = "lab", stack: str | None = None, config_file: Path | None = None):
        """`name`: the lab's Pulumi stack (its state folder and boxes derive from it). `stack`: the
        stack file it starts from, stacks/Pulumi.<stack>.yaml; by default the one this lab was
        brought up from, else `name` when such a file exists, else `lab`. The lab named like its
        stack file runs in this repository (`pulumi up --stack lab`); any other runs in a project
        copy of its own. `config_file`: the stack config the lab's resources were made from (the
        program passes it to `python -m lab world|node`)."""
        if not name.replace("-", "").isalnum() or len(name) > 20:
            raise LabError(f"lab name {name!r}: letters, digits and '-' only, at most 20")
        self.name = name
        self.state = STATE_ROOT / f"gir-lb-lab-{name}"
        recorded = self.state / "stack-name"
        if stack is None:
            stack = recorded.read_text().strip() if recorded.exists() else name
            stack = stack if stack_file(stack).exists() else "lab"
        self.stack = stack
        self.stack_file = stack_file(stack)  # the lab's original: apply(stack_file) goes back to it
        self.pulumi = PulumiStack(name, self.stack_file, REPO if name == stack else STATE_ROOT / f"gir-lb-project-{name}")
        recorded_config = self.state / "config-file"
        if config_file is None and recorded_config.exists():
            config_file = Path(recorded_config.read_text().strip())
        self.config_file = config_file or self.pulumi.config_file
        self._settings: Settings | None = None

    # ---- settings and boxes -------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            source = self.config_file if self.config_file.exists() else self.stack_file
            s = load_stack(str(source))
            # The model holds a lab stack to debian12; either VIP mode: lab-aws runs vip_mode aws and
            # fence_aws against the EC2 emulator.
            if s.platform != "lab":
                raise LabError(f"{source.name}: the lab runs only stacks with gir-lb:platform: lab, not {s.platform}")
            self._settings = s
        return self._settings

    @cached_property
    def topology(self) -> Topology:
        return Topology(self.state, self.settings)

    @property
    def nodes(self) -> list[Box]:
        return self.topology.nodes

    def box(self, name: str) -> Box:
        return Box(self.state, name)

    @property
    def watch(self) -> Watch:
        """The lab's Prometheus, in the client box."""
        return Watch(self.state, self.box("client"), self.settings)

    @property
    def ec2_world(self) -> dict | None:
        """What the EC2 emulator made (instances, ENIs, subnet), for a stack that needs it."""
        path = self.state / "ec2.json"
        return json.loads(path.read_text()) if ec2.emulated(self.settings) and path.exists() else None

    @property
    def instance_ids(self) -> list[str]:
        world = self.ec2_world
        return [n["instance_id"] for n in world["nodes"]] if world else []

    def node_index(self, name: str) -> int:
        names = [n.name for n in self.settings.cluster.nodes]
        if name not in names:
            raise LabError(f"no node {name!r} in {self.config_file.name} (nodes: {', '.join(names)})")
        return names.index(name)

    # ---- the lab's resources (python -m lab world|node: what the program's local commands run) ------

    def world_up(self) -> None:
        """The switch (with the gateway's address; routing, with vip_mode overlay), client, fake
        members, EC2 emulator (lab-aws, lab-arbiter, lab-overlay) and the SSH gateway. Refuses on a lab that is already up."""
        missing = missing_packages()
        if missing:
            raise LabError(f"missing Debian packages: {' '.join(missing)} (apt-get install {' '.join(missing)})")
        if ec2.emulated(self.settings) and (why := ec2.missing()):
            raise LabError(f"{self.config_file.name} needs the EC2 emulator: {why}")
        if problems := self.topology.reserved_problems():
            raise LabError("; ".join(problems))
        if self.box("switch").pid:
            raise LabError(f"lab {self.name} is already up (run scripts/lab.sh down --name {self.name} first)")
        shutil.rmtree(self.state, ignore_errors=True)
        self.state.mkdir(parents=True, mode=0o700)
        (self.state / "stack-name").write_text(self.stack)
        (self.state / "config-file").write_text(str(self.config_file))
        self.topology.start_simple_box("switch", None)
        self.topology.start_simple_box("client", self.topology.client_ip)
        self.watch.start()
        self.topology.start_backends()
        if ec2.emulated(self.settings):
            self.topology.start_ec2(self.config_file)
        address = gateway.address(self.name)
        self.topology.start_gateway([(address, gateway.port(i), ip) for i, (_, ip) in enumerate(machines(self.settings))])

    def world_down(self) -> None:
        """Every box of the lab (nodes too) and the emulator, by PID; then its state folder."""
        self.topology.stop_ec2()
        for name in self.topology.box_names:
            self.box(name).kill()
        shutil.rmtree(self.state, ignore_errors=True)

    def node_up(self, index: int, keys: dict) -> dict:
        """Boots machine `index` (a node, or the arbiter) on a fresh disk with its SSH keys,
        applies its user-data (the lab's cloud-init), and says who it is: a machine id new with
        every fresh disk (a replacement re-runs its steps) and its instance id (lab-aws: the
        emulator's, for the fence map)."""
        if not self.box("switch").pid:
            raise LabError(f"lab {self.name} is not up: its world (switch, gateway) must exist first")
        name = machines(self.settings)[index][0]
        shutil.rmtree(self.state / "nodes" / name, ignore_errors=True)
        root = self.topology.prepare_node_disk(name)
        self.topology.install_keys(index, keys["host_key"], keys["authorized_key"])
        (root / "machine-id").write_text(os.urandom(8).hex())
        box = self.topology.boot_node(index)
        bundle = render_bundle(self.settings)
        if name == ARBITER:
            # A fresh RHEL arbiter has no qnetd database (pcs qdevice setup makes it); Debian's
            # package made one on this host, which the arbiter's disk would otherwise show.
            box.run("rm", "-rf", "/etc/corosync/qnetd/nssdb", check=True)
            # Its own name resolves (as through the VPC's DNS on AWS): sudo asks for it.
            box.run("bash", "-c", f"echo '{machines(self.settings)[index][1]} {ARBITER}' >> /etc/hosts", check=True)
        user_data = bundle.arbiter_user_data if name == ARBITER else bundle.user_data
        assert user_data is not None  # an arbiter in the lab is always one gir-lb makes
        steps.cloud_init_substitute([box], user_data)
        return self.node_identity(index)

    def node_keys(self, index: int, keys: dict) -> dict:
        """New keys for a running node (a new bootstrap key or host key): written, then sshd reloads."""
        if self.topology.install_keys(index, keys["host_key"], keys["authorized_key"]):
            self.topology.restart_sshd(index)
        return self.node_identity(index)

    def node_identity(self, index: int) -> dict:
        name = machines(self.settings)[index][0]
        machine_id = (self.state / "nodes" / name / "machine-id").read_text()
        world = self.ec2_world
        if world is None or name == ARBITER:  # the emulator knows the two nodes only
            return {"machine_id": machine_id, "instance_id": machine_id}
        return {"machine_id": machine_id, "instance_id": world["nodes"][index]["instance_id"]}

    def node_down(self, index: int) -> None:
        name = machines(self.settings)[index][0]
        box = self.box(name)
        if box.pid:
            self.topology.unplug(box)
        box.kill()
        shutil.rmtree(self.state / "nodes" / name, ignore_errors=True)
