"""Runs the real awsvip, aws-vpc-move-ip and fence_aws against an in-process moto that enforces
IAM, with the credentials of IAM users whose only permissions are the program's policy
(blueprint.iam) or variants of it. Writes every step's result as JSON for
tests/tools/test_iam_agents.py.

Two stacks share the one moto: base_config's (vip_mode aws: awsvip, fence_aws) and
stacks/Pulumi.dev-multi-az.yaml with moto's IDs (vip_mode overlay: aws-vpc-move-ip), each in a VPC
of its own. The overlay nodes' primary interfaces are a veth pair made here, eth0 with node B's
MAC and eth1 with node A's: aws-vpc-move-ip reads the MAC from /sys/class/net/<interface>.

Meant to run inside an empty network namespace with its own sysfs (`unshare -n -m`, sysfs mounted
on /sys, only lo up; it refuses to run where any other interface exists): moto, the IMDS
stand-ins and the agents all talk over 127.0.0.1, and anything aimed elsewhere (a missed
169.254.169.254) fails locally. Usage: python tests/iam_world.py OUT.json
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

# Before moto is imported: the setup calls below are the only unauthenticated ones. vip_mode aws:
# VPC, subnet, 2 instances, describe, 6 users x 3 IAM calls = 23; overlay: VPC, 2 subnets, 2 route
# tables, 2 instances, describe, 2 routes, 4 users x 3 IAM calls = 22.
SETUP_CALLS = 45  # tests/tools/test_iam_agents.py checks the same number
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_CALLS)

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from blueprint.iam import agent_policy  # noqa: E402
from blueprint.render import render_bundle  # noqa: E402
from blueprint.stack_config import parse_settings  # noqa: E402
from lab.ec2_emulator import Identity, imds_server, launch, moto_projection  # noqa: E402
from tests.conftest import base_config, stack_config  # noqa: E402

ACCOUNT = "123456789012"  # moto's default account: the users below live in it
AWSVIP = "/usr/lib/ocf/resource.d/heartbeat/awsvip"
OVERLAY_STACK = "dev-multi-az"
FENCE_AWS = "/usr/sbin/fence_aws"
VENV_BIN = Path(sys.executable).parent
# fence_aws runs unmodified on Debian's python3 and fencing library, with the venv's boto3 first
# on the path: Debian's boto3 1.26 ignores AWS_ENDPOINT_URL and fence_aws has no endpoint option.
# Its errors (the AccessDenied of a refused StopInstances) go only to syslog: shown on stderr here.
FENCE_WRAPPER = (
    "import runpy, sys, syslog\n"
    "syslog.syslog = lambda *a: print('syslog:', a[-1], file=sys.stderr)\n"
    f"sys.argv[0] = {FENCE_AWS!r}\n"
    f"runpy.run_path({FENCE_AWS!r}, run_name='__main__')\n"
)
AGENT_TIMEOUT = 60


def without(policy: dict, action: str) -> dict:
    out = copy.deepcopy(policy)
    for st in out["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        st["Action"] = [a for a in actions if a != action]
    out["Statement"] = [st for st in out["Statement"] if st["Action"]]
    return out


class World:
    def __init__(self, work: Path):
        self.work = work
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.setup_calls = 0

    def client(self, service: str, keys: tuple[str, str] = ("setup", "setup"), count: bool = False):
        c = boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
        )
        if count:
            c.meta.events.register("before-send", self._count)
        return c

    def _count(self, **_kw):
        self.setup_calls += 1

    def build(self) -> dict:
        self.region = "eu-west-1"  # base_config's region
        ec2 = self.client("ec2", count=True)
        iam = self.client("iam", count=True)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        cfg = base_config("rhel9")
        cfg["network"]["subnet_id"] = subnet
        self.settings = parse_settings(cfg, source="iam_world")
        assert self.settings.fencing and self.settings.network.region == self.region
        self.nodes = []
        for node in self.settings.cluster.nodes:
            inst = launch(ec2, subnet, node.name, str(node.ip), self.settings.cluster.name)
            self.nodes.append({"name": node.name, "ip": str(node.ip), "instance_id": inst["InstanceId"]})
        reservations = ec2.describe_instances(InstanceIds=[n["instance_id"] for n in self.nodes])["Reservations"]
        by_id = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
        for n in self.nodes:
            inst = by_id[n["instance_id"]]
            eni = inst["NetworkInterfaces"][0]
            tag_map = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            n.update(eni=eni["NetworkInterfaceId"], mac=eni["MacAddress"], subnet=eni["SubnetId"], tags=tag_map)

        overlay = self.build_overlay(ec2)

        self.policy = agent_policy(self.settings, ACCOUNT)
        granted = moto_projection(self.policy)
        self.policies = {
            "verbatim": self.policy,
            "granted": granted,
            "no-stop": without(granted, "ec2:StopInstances"),
            "no-assign": without(granted, "ec2:AssignPrivateIpAddresses"),
            "no-unassign": without(granted, "ec2:UnassignPrivateIpAddresses"),
            "observer": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        }
        self.keys = {}
        for name, doc in (self.policies | self.overlay_policies).items():
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="agents", PolicyDocument=json.dumps(doc))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            self.keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
            # once, here: the tracks run side by side and must never read a half-written file
            (self.work / f"credentials-{name}").write_text(
                f"[default]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n"
            )
        (self.work / "config").write_text(f"[default]\nregion = {self.region}\noutput = text\n")
        if self.setup_calls != SETUP_CALLS:
            raise RuntimeError(f"setup made {self.setup_calls} calls, INITIAL_NO_AUTH_ACTION_COUNT is {SETUP_CALLS}")
        self.observer = self.client("ec2", self.keys["observer"])
        self.imds_log: dict[str, list] = {n["name"]: [] for n in self.nodes + self.overlay_nodes}
        self.imds = {}
        for n in (
            self.nodes + self.overlay_nodes
        ):  # one stand-in per node, reached through http_proxy: it always answers as that node
            who = Identity(n["instance_id"], n["mac"], n["eni"], n["ip"])
            log = self.imds_log[n["name"]]
            self.imds[n["name"]] = imds_server(("127.0.0.1", 0), lambda _addr, who=who: who, lambda e, log=log: log.append(e))
        return {
            "endpoint": self.endpoint,
            "nodes": self.nodes,
            "subnet": subnet,
            "vip": str(self.settings.network.vip),
            "policies": self.policies,
            "setup_calls": self.setup_calls,
            "overlay": overlay | {"policies": self.overlay_policies},
        }

    def build_overlay(self, ec2) -> dict:
        """The overlay stack as the program deploys it: a VPC, a subnet per node in two AZs, the
        two route tables the stack names, each with the route VIP/32 -> node A's ENI (aws.ec2.Route;
        the agent only ever replaces it). The stack file's IDs are replaced by moto's."""
        cfg = stack_config(OVERLAY_STACK)
        net = cfg["network"]
        vpc = ec2.create_vpc(CidrBlock=net["vpc_cidr"])["Vpc"]["VpcId"]
        cidrs = [net["subnet_cidr"], net["second_subnet"]["cidr"]]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{self.region}{az}")["Subnet"]["SubnetId"]
            for cidr, az in zip(cidrs, "ab", strict=True)
        ]
        tables = [ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"] for _ in net["route_table_ids"]]
        net.update(subnet_id=subnets[0], route_table_ids=tables)
        net["second_subnet"]["id"] = subnets[1]
        self.overlay_settings = s = parse_settings(cfg, source="iam_world")
        # The VIP's agent as node-prepare installs it: gir-lb's start, the stock agent for the rest.
        self.move_ip_agent = self.work / "gir-lb-aws-vpc-move-ip"
        self.move_ip_agent.write_text(render_bundle(s).scripts["gir-lb-aws-vpc-move-ip.sh"])
        self.move_ip_agent.chmod(0o755)
        assert s.network.vip_mode == "overlay" and s.fencing and s.network.region == self.region
        nodes = []
        for i, node in enumerate(s.cluster.nodes):
            inst = launch(ec2, s.network.node_subnet(i)[0], node.name, str(node.ip), s.cluster.name)
            nodes.append({"name": node.name, "ip": str(node.ip), "instance_id": inst["InstanceId"]})
        reservations = ec2.describe_instances(InstanceIds=[n["instance_id"] for n in nodes])["Reservations"]
        by_id = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
        for n, interface in zip(nodes, ("eth1", "eth0"), strict=True):  # node B's is eth0: the agent's default
            eni = by_id[n["instance_id"]]["NetworkInterfaces"][0]
            n.update(eni=eni["NetworkInterfaceId"], mac=eni["MacAddress"], subnet=eni["SubnetId"], interface=interface)
        for table in tables:
            ec2.create_route(RouteTableId=table, DestinationCidrBlock=f"{s.network.vip}/32", NetworkInterfaceId=nodes[0]["eni"])
        self.overlay_nodes = nodes
        self.overlay_policy = agent_policy(s, ACCOUNT)
        granted = moto_projection(self.overlay_policy)
        self.overlay_policies = {
            "overlay-verbatim": self.overlay_policy,
            "overlay-granted": granted,
            "no-replace": without(granted, "ec2:ReplaceRoute"),
            "no-describe-routes": without(granted, "ec2:DescribeRouteTables"),
        }
        return {"vpc": vpc, "subnets": subnets, "route_tables": tables, "vip": str(s.network.vip), "nodes": nodes}

    def plug_overlay_interfaces(self) -> None:
        """The overlay nodes' primary interfaces: a veth pair, each end with its node's MAC in moto.
        Only in an empty namespace (anywhere else eth0 may be a real interface), with a sysfs of its
        own: the agent reads the MAC from /sys/class/net, which otherwise shows the host's."""
        links = subprocess.run(["ip", "-o", "link", "show"], check=True, capture_output=True, text=True).stdout
        if (found := sorted(line.split(":")[1].strip() for line in links.splitlines())) != ["lo"]:
            raise RuntimeError(f"not in an empty network namespace (interfaces: {found}): run under unshare -n")
        if (seen := sorted(os.listdir("/sys/class/net"))) != ["lo"]:
            raise RuntimeError(f"/sys is not this namespace's (it shows {seen}): unshare -m too, and mount sysfs on /sys")
        a, b = self.overlay_nodes
        commands = [
            ["ip", "link", "add", b["interface"], "type", "veth", "peer", "name", a["interface"]],
            *(["ip", "link", "set", n["interface"], "address", n["mac"], "up"] for n in (a, b)),
        ]
        for cmd in commands:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        for n in (a, b):
            assert Path(f"/sys/class/net/{n['interface']}/address").read_text().strip() == n["mac"], n

    # --- ground truth, read with the observer's keys
    def vip_on(self) -> list[str]:
        vip = str(self.settings.network.vip)
        enis = self.observer.describe_network_interfaces(NetworkInterfaceIds=[n["eni"] for n in self.nodes])
        holders = {
            e["NetworkInterfaceId"]
            for e in enis["NetworkInterfaces"]
            for a in e["PrivateIpAddresses"]
            if a["PrivateIpAddress"] == vip
        }
        return [n["name"] for n in self.nodes if n["eni"] in holders]

    def routes(self) -> dict[str, str | None]:
        """Per named route table: the node whose ENI its route to the VIP names (or that ENI, or None)."""
        vip = f"{self.overlay_settings.network.vip}/32"
        by_eni = {n["eni"]: n["name"] for n in self.overlay_nodes}
        found = self.observer.describe_route_tables(RouteTableIds=[str(t) for t in self.overlay_settings.network.route_table_ids])
        out: dict[str, str | None] = {}
        for table in found["RouteTables"]:
            eni = next((r.get("NetworkInterfaceId") for r in table["Routes"] if r.get("DestinationCidrBlock") == vip), None)
            out[table["RouteTableId"]] = by_eni.get(eni, eni) if eni else None
        return out

    def vip_local(self) -> list[str]:
        """The overlay nodes whose interface holds the VIP (this namespace's addresses)."""
        shown = subprocess.run(
            ["ip", "-o", "-4", "addr", "show", "to", str(self.overlay_settings.network.vip)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        interfaces = {line.split()[1].split("@")[0] for line in shown.splitlines()}
        return [n["name"] for n in self.overlay_nodes if n["interface"] in interfaces]

    def state(self, node: dict) -> str:
        r = self.observer.describe_instances(InstanceIds=[node["instance_id"]])["Reservations"]
        return r[0]["Instances"][0]["State"]["Name"]

    # --- the agents
    def env(self, user: str, node: dict) -> dict[str, str]:
        port = self.imds[node["name"]].server_address[1]
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.work),
            "LANG": "C.UTF-8",
            "AWS_SHARED_CREDENTIALS_FILE": str(self.work / f"credentials-{user}"),
            "AWS_CONFIG_FILE": str(self.work / "config"),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            # curl (awsvip, aws-vpc-move-ip) and requests (fence_aws) reach "169.254.169.254" through this proxy:
            "http_proxy": f"http://127.0.0.1:{port}",
            "no_proxy": "127.0.0.1,localhost",
        }

    def run(self, cmd: list[str], env: dict[str, str]) -> dict:
        started = time.monotonic()
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=AGENT_TIMEOUT)
            rc, out = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as e:
            rc, out = -1, f"timed out after {AGENT_TIMEOUT}s: {e.stdout!r} {e.stderr!r}"
        return {"rc": rc, "output": out, "seconds": round(time.monotonic() - started, 2)}

    def awsvip(self, user: str, node: dict, action: str) -> dict:
        env = self.env(user, node) | {
            "OCF_ROOT": "/usr/lib/ocf",
            "OCF_RESOURCE_INSTANCE": "vip",
            "OCF_RESKEY_secondary_private_ip": str(self.settings.network.vip),
            "OCF_RESKEY_awscli": str(VENV_BIN / "aws"),
            "OCF_RESKEY_api_delay": "0",
        }
        result = self.run([AWSVIP, action], env)
        result.update(agent="awsvip", user=user, node=node["name"], action=action, vip_on=self.vip_on())
        return result

    def move_ip(self, user: str, node: dict, action: str) -> dict:
        """gir-lb:aws-vpc-move-ip (the stock agent with gir-lb's start) with the parameters the
        cluster renders (templates/cluster/common/resources.sh.j2), on this node's interface (the
        CIB says eth0: here node A's is eth1)."""
        net = self.overlay_settings.network
        env = self.env(user, node) | {
            "OCF_ROOT": "/usr/lib/ocf",
            "OCF_RESOURCE_INSTANCE": "virtual_ip",
            "OCF_RESKEY_ip": str(net.vip),
            "OCF_RESKEY_routing_table": ",".join(str(t) for t in net.route_table_ids),
            "OCF_RESKEY_interface": node["interface"],
            "OCF_RESKEY_monapi": "true",
            "OCF_RESKEY_lookup_type": "NetworkInterfaceId",
            "OCF_RESKEY_region": net.region,
            "OCF_RESKEY_awscli": str(VENV_BIN / "aws"),
        }
        result = self.run([str(self.move_ip_agent), action], env)
        result.update(agent="aws-vpc-move-ip", user=user, node=node["name"], action=action)
        result.update(routes=self.routes(), vip_local=self.vip_local())
        return result

    def fence(self, user: str, by: dict, target: dict, action: str) -> dict:
        env = self.env(user, by) | {"PYTHONPATH": str(Path(boto3.__file__).parent.parent)}
        cmd = ["/usr/bin/python3", "-c", FENCE_WRAPPER, f"--region={self.region}", f"--plug={target['instance_id']}"]
        # A refused off waits for the power timeout before it reports: keep it short.
        result = self.run([*cmd, f"--action={action}", "--power-timeout=3"], env)
        result.update(agent="fence_aws", user=user, node=by["name"], action=action, target_state=self.state(target))
        return result


def vip_track(w: World) -> dict[str, dict]:
    """awsvip on node A with the program's actions."""
    a = w.nodes[0]
    steps = {}
    for label, action in [("before", "monitor"), ("", "start"), ("started", "monitor"), ("", "stop"), ("stopped", "monitor")]:
        steps["granted/awsvip-" + "-".join(filter(None, (action, label)))] = w.awsvip("granted", a, action)
    return steps


def refused_vip_track(w: World) -> dict[str, dict]:
    """awsvip on node B: starts that must be refused, then a stop without UnassignPrivateIpAddresses."""
    b = w.nodes[1]
    return {
        "no-assign/awsvip-start": w.awsvip("no-assign", b, "start"),
        "verbatim/awsvip-start": w.awsvip("verbatim", b, "start"),
        "no-unassign/awsvip-start": w.awsvip("no-unassign", b, "start"),
        "no-unassign/awsvip-stop": w.awsvip("no-unassign", b, "stop"),
        "granted/awsvip-stop-cleanup": w.awsvip("granted", b, "stop"),
    }


def fence_track(w: World) -> dict[str, dict]:
    """fence_aws on node A fencing node B, the same three policies."""
    a, b = w.nodes
    steps = {}
    for label, action in [("before", "status"), ("", "off"), ("off", "status"), ("", "on")]:
        steps["granted/fence-" + "-".join(filter(None, (action, label)))] = w.fence("granted", a, b, action)
    steps["no-stop/fence-off"] = w.fence("no-stop", a, b, "off")
    steps["verbatim/fence-status"] = w.fence("verbatim", a, b, "status")
    steps["verbatim/fence-off"] = w.fence("verbatim", a, b, "off")
    return steps


def overlay_track(w: World) -> dict[str, dict]:
    """aws-vpc-move-ip moving the overlay VIP to node B. Its steps share the route tables: one
    after the other, save where a group only reads (refused starts, monitors)."""
    a, b = w.overlay_nodes
    steps: dict[str, dict] = {}

    def side_by_side(*calls: tuple[str, str, dict, str]) -> None:
        with ThreadPoolExecutor(len(calls)) as pool:
            done = {f"{user}/move-ip-{label}": pool.submit(w.move_ip, user, node, action) for user, label, node, action in calls}
            steps.update({name: f.result(timeout=2 * AGENT_TIMEOUT) for name, f in done.items()})

    steps["overlay/deployed"] = {"routes": w.routes(), "vip_local": w.vip_local()}
    # Refused starts: the routes stay on node A's ENI.
    side_by_side(("no-replace", "start", b, "start"), ("overlay-verbatim", "start", b, "start"))
    # Without DescribeRouteTables: a start, then a stop, as pacemaker would after the failed start.
    side_by_side(("no-describe-routes", "start", b, "start"))
    side_by_side(("no-describe-routes", "stop-after-start", b, "stop"))
    # Back to what the program deploys (with the observer's keys and ip, not the agent).
    for table in w.overlay_settings.network.route_table_ids:
        vip = f"{w.overlay_settings.network.vip}/32"
        w.observer.replace_route(RouteTableId=str(table), DestinationCidrBlock=vip, NetworkInterfaceId=a["eni"])
    subprocess.run(["ip", "addr", "flush", "dev", b["interface"], "to", vip], check=True)
    steps["overlay/reset"] = {"routes": w.routes(), "vip_local": w.vip_local()}
    # The program's policy: node B takes the VIP over.
    side_by_side(("overlay-granted", "monitor-before", b, "monitor"))
    side_by_side(("overlay-granted", "start", b, "start"))
    side_by_side(
        ("overlay-granted", "monitor-started", b, "monitor"),
        ("overlay-granted", "monitor-node-a", a, "monitor"),
        ("no-describe-routes", "monitor-started", b, "monitor"),
    )
    side_by_side(("overlay-granted", "stop", b, "stop"))
    side_by_side(("overlay-granted", "monitor-stopped", b, "monitor"))
    return steps


def scenario(w: World) -> dict:
    steps: dict[str, dict] = {}
    # Enforcement is on: the granted user cannot call what its policy does not name.
    try:
        w.client("ec2", w.keys["granted"]).describe_vpcs()
        steps["granted/unlisted-call"] = {"refused": False}
    except Exception as e:  # botocore's ClientError
        steps["granted/unlisted-call"] = {"refused": True, "error": str(e)}
    # The VIP on node A's ENI, the VIP on node B's (moto lets both hold it), the fencing of node B
    # (its instance state, which awsvip never reads) and the overlay stack (its own VPC, instances
    # and interfaces) are independent: run side by side.
    with ThreadPoolExecutor(4) as pool:
        tracks = [pool.submit(track, w) for track in (vip_track, refused_vip_track, fence_track, overlay_track)]
        for track in tracks:
            steps.update(track.result(timeout=10 * AGENT_TIMEOUT))
    return steps


def moto_verdicts(policy: dict) -> dict[str, dict[str, str]]:
    """moto's own evaluator on the verbatim document, and on the same with Resource "*" and every
    Condition value replaced by one that names another subnet or cluster."""
    from moto.iam.access_control import IAMPolicy

    wrong = copy.deepcopy(policy)
    for st in wrong["Statement"]:
        st["Resource"] = "*"
        for values in st.get("Condition", {}).values():
            for key in values:
                values[key] = "not-this-cluster"
    actions = [a for st in policy["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])]
    return {
        name: {a: IAMPolicy(json.dumps(doc)).is_action_permitted(a, "*").name for a in actions}
        for name, doc in (("verbatim", policy), ("wrong-conditions", wrong))
    }


def main() -> None:
    out = Path(sys.argv[1])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with tempfile.TemporaryDirectory(prefix="iam-world-") as tmp:
        w = World(Path(tmp))
        try:
            world = w.build()
            w.plug_overlay_interfaces()
            steps = scenario(w)
            world.update(steps=steps, imds=w.imds_log, moto_verdicts=moto_verdicts(w.policy))
            world["overlay"]["moto_verdicts"] = moto_verdicts(w.overlay_policy)
        finally:
            for server in getattr(w, "imds", {}).values():
                server.shutdown()
            w.moto.stop()
    out.write_text(json.dumps(world, indent=1))


if __name__ == "__main__":
    main()
