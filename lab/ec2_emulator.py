"""The lab's EC2 emulator: moto (pinned in requirements-lab.txt) in its own box on the lab
switch, made to behave as the cluster needs EC2 to, so the unmodified Debian awsvip and fence_aws
agents run on the lab nodes against it with only the program's IAM policy. Where the lab reaches it
and what a lab node gets for it: lab/ec2.py.

Where moto is extended (EC2 semantics the failover depends on):
  * AssignPrivateIpAddresses with AllowReassignment moves the address off the ENI that held it
    (moto leaves it on both); without the flag an address held elsewhere is refused;
  * StopInstances/StartInstances power the lab node off (its box is killed, as a power cut) and
    on (booted with its disk);
  * every VIP assignment and power change is written to <state>/ec2-history.jsonl, with the ENIs
    holding the VIP after it;
  * throttling on demand: while <state>/ec2-throttle holds N, every Nth EC2 call is answered
    RequestLimitExceeded, as EC2 answers an account over its request rate (Lab.throttle_ec2);
  * vip_mode overlay: the route tables get the IDs the stack names (moto makes random ones) and the
    VIP's route to nodes[0]'s ENI in each, as the Pulumi program creates them; every route
    created, replaced or deleted for the VIP is written to the history with the ENI each named
    table sends it to, and the lab's VPC router is set from route_table_ids[0] right after it
    (lab/topology.py: the client's traffic follows that table).
IAM is enforced on every call after the set-up: the nodes' credentials are those of a role whose
only permissions are blueprint.iam.agent_policy (moto_projection says why Resource is "*").

Run by the lab (`python -m lab.ec2_emulator STATE STACK_FILE` inside the ec2 box's network
namespace, in the host's PID namespace so that it can power lab nodes off and on). It writes
<state>/ec2.json (the instances) and then prints "ready".

moto and boto3 are imported where they are used: they are optional (requirements-lab.txt), and
imds_server, launch and moto_projection, which tests use on their own, need neither.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from blueprint.iam import CLUSTER_TAG, agent_policy
from blueprint.settings import Settings
from blueprint.stack_config import load_stack

from .ec2 import API_PORT, IMDS_IP, ROLE, endpoint
from .topology import Topology, mac_of

ACCOUNT = "123456789012"  # moto's default account


def moto_projection(policy: dict) -> dict:
    """The same statements and actions, with Resource "*" and no Condition: moto 5.2 checks EC2
    calls against Resource "*" only (an ARN-scoped Allow never applies) and has no request values
    for ec2:Subnet or aws:ResourceTag (it counts such a Condition as met), so it can judge the
    action set but not the scoping."""
    out = copy.deepcopy(policy)
    for st in out["Statement"]:
        st["Resource"] = "*"
        st.pop("Condition", None)
    return out


# ---- instance metadata ---------------------------------------------------------------------------


@dataclass
class Identity:
    instance_id: str
    mac: str
    eni: str
    ip: str


def imds_server(
    bind: tuple[str, int],
    identify: Callable[[str], Identity | None],
    log: Callable[[dict], None],
    credentials: Callable[[], dict] | None = None,
    addresses: Callable[[Identity], list[str]] | None = None,
) -> ThreadingHTTPServer:
    """IMDSv2, the subset the agents and botocore use: a token first (PUT), then instance-id, mac,
    the ENI of a MAC and the addresses it holds now (`addresses`: primary first, as EC2 lists
    them), the role's credentials. `identify` names the caller from its address (or, reached as
    an HTTP proxy, always the same node). Serves on a thread until shutdown()."""
    tokens: set[str] = set()
    md = "/latest/meta-data/"

    def answers(who: Identity) -> dict[str, str]:
        out = {
            md + "instance-id": who.instance_id,
            md + "mac": who.mac,
            md + "local-ipv4": who.ip,
            md + f"network/interfaces/macs/{who.mac}/interface-id": who.eni,
        }
        if addresses:
            out[md + f"network/interfaces/macs/{who.mac}/local-ipv4s"] = "\n".join(addresses(who))
        if credentials:
            out[md + "iam/security-credentials/"] = ROLE
            out[md + f"iam/security-credentials/{ROLE}"] = json.dumps(credentials())
        return out

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args):
            pass

        def _answer(self, method: str) -> None:
            target = urlsplit(self.path)  # absolute when reached as a proxy
            who = identify(self.client_address[0])
            status, body = 404, ""
            if who is None or (target.hostname or IMDS_IP) != IMDS_IP:
                status = 403
            elif method == "PUT" and target.path == "/latest/api/token":
                if self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    body = secrets.token_hex(16)
                    tokens.add(body)
                    status = 200
                else:
                    status = 400
            elif self.headers.get("X-aws-ec2-metadata-token") not in tokens:
                status = 401
            elif method == "GET" and target.path in (found := answers(who)):
                status, body = 200, found[target.path]
            log({"t": time.time(), "from": self.client_address[0], "method": method, "target": self.path, "status": status})
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._answer("GET")

        def do_PUT(self):
            self._answer("PUT")

    server = ThreadingHTTPServer(bind, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---- where moto is extended ---------------------------------------------------------------------


def extend_moto(
    record: Callable[[dict], None],
    on_stop: Callable[[str], None] = lambda _id: None,
    on_start: Callable[[str], None] = lambda _id: None,
    throttle_every: Callable[[], int | None] = lambda: None,
    on_route: Callable[[object, str | None], None] = lambda _backend, _cidr: None,
) -> None:
    """Gives moto EC2's reassignment semantics and calls on_stop/on_start with each instance id
    stopped or started (after moto changed its state); `record` gets every change. While
    throttle_every() gives N, every Nth EC2 call is refused with RequestLimitExceeded. on_route
    gets the backend and the destination of every route created, replaced or deleted (after the
    change, one at a time). In-process: call before serving."""
    # moto: optional, imported here (see the module's docstring)
    from moto.core.utils import camelcase_to_underscores
    from moto.ec2.exceptions import EC2ClientError
    from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.route_tables import RouteBackend
    from moto.ec2.responses import EC2Response
    from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces

    # moto's handler drops AllowReassignment, so the request is read here (the response layer).
    assign = ElasticNetworkInterfaces.assign_private_ip_addresses
    unassign = NetworkInterfaceBackend.unassign_private_ip_addresses
    stop, start = InstanceBackend.stop_instances, InstanceBackend.start_instances

    def holders(backend, ips: list[str]) -> dict[str, list[str]]:
        return {
            ip: sorted(e.id for e in backend.enis.values() if any(p["PrivateIpAddress"] == ip for p in e.private_ip_addresses))
            for ip in ips
        }

    def assign_private_ip_addresses(self):
        backend, eni_id = self.ec2_backend, self._get_param("NetworkInterfaceId")
        ips = list(self._get_param("PrivateIpAddresses", []) or [])
        allow = self._get_bool_param("AllowReassignment", False)
        with lock:
            for ip, held_by in holders(backend, ips).items():
                for other_id in (h for h in held_by if h != eni_id):
                    other = backend.enis[other_id]
                    primary = any(p["PrivateIpAddress"] == ip and p.get("Primary") for p in other.private_ip_addresses)
                    if primary or not allow:
                        raise EC2ClientError("InvalidParameterValue", f"Address {ip} is assigned to {other_id}")
                    other.private_ip_addresses = [p for p in other.private_ip_addresses if p["PrivateIpAddress"] != ip]
            done = assign(self)
            record({"event": "assign", "eni": eni_id, "holders": holders(backend, ips)})
        return done

    def unassign_private_ip_addresses(self, eni_id, private_ip_address=None):
        with lock:
            held = {p["PrivateIpAddress"] for p in self.get_network_interface(eni_id).private_ip_addresses}
            if missing := [ip for ip in private_ip_address or [] if ip not in held]:
                why = f"Some of the specified addresses are not assigned to interface {eni_id}: {', '.join(missing)}"
                raise EC2ClientError("InvalidParameterValue", why)
            done = unassign(self, eni_id, private_ip_address)
            record({"event": "unassign", "eni": eni_id, "holders": holders(self, list(private_ip_address or []))})
        return done

    def stop_instances(self, instance_ids):
        done = stop(self, instance_ids)
        for instance_id in instance_ids:
            record({"event": "stop", "instance": instance_id})
            on_stop(instance_id)
        return done

    def start_instances(self, instance_ids):
        done = start(self, instance_ids)
        for instance_id in instance_ids:
            record({"event": "start", "instance": instance_id})
            on_start(instance_id)
        return done

    create_route, replace_route, delete_route = RouteBackend.create_route, RouteBackend.replace_route, RouteBackend.delete_route

    def route_changer(change):
        def changed(self, *args, **kwargs):
            with route_lock:
                route = change(self, *args, **kwargs)
                on_route(self, route.destination_cidr_block)
            return route

        changed.__name__ = change.__name__
        return changed

    call_action = EC2Response.call_action
    calls = itertools.count(1)

    def throttled_call_action(self):
        every = throttle_every()
        if every and next(calls) % every == 0:
            action = self._get_action()
            record({"event": "throttled", "action": action})

            def refuse():
                raise EC2ClientError("RequestLimitExceeded", "Request limit exceeded.")

            # this request's action refuses, so moto answers with its own error document
            setattr(self, camelcase_to_underscores(action), refuse)
        return call_action(self)

    throttled_call_action.__name__ = "call_action"
    lock = threading.Lock()  # one address move at a time, as EC2 serialises them
    route_lock = threading.RLock()  # one route change at a time (a table's local route is made inside another call)
    for owner, replacement in (
        (EC2Response, throttled_call_action),
        (ElasticNetworkInterfaces, assign_private_ip_addresses),
        (NetworkInterfaceBackend, unassign_private_ip_addresses),
        (InstanceBackend, stop_instances),
        (InstanceBackend, start_instances),
        (RouteBackend, route_changer(create_route)),
        (RouteBackend, route_changer(replace_route)),
        (RouteBackend, route_changer(delete_route)),
    ):
        setattr(owner, replacement.__name__, replacement)


def vip_targets(backend, tables: list[str], vip: str) -> dict[str, str | None]:
    """Per route table: the ENI its route to `vip`/32 sends it to (None: no such route)."""
    out: dict[str, str | None] = {}
    for table in tables:
        route = next((r for r in backend.route_tables[table].routes if r.destination_cidr_block == f"{vip}/32"), None)
        out[table] = route.interface.id if route is not None and route.interface is not None else None
    return out


def create_route_table(ec2, vpc: str, table_id: str) -> None:
    """A route table with the ID the stack names: moto draws one at random, so its draw is replaced
    for this one call (the emulator makes its tables before it serves anyone)."""
    from moto.ec2.models import route_tables  # optional (see the module's docstring)

    draw = route_tables.random_route_table_id
    route_tables.random_route_table_id = lambda: table_id
    try:
        made = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    finally:
        route_tables.random_route_table_id = draw
    assert made == table_id, made


def launch(ec2, subnet: str, name: str, ip: str, cluster: str) -> dict:
    """One node's instance, as the program tags it (blueprint.iam scopes fencing by the tag)."""
    tags = [{"Key": "Name", "Value": name}, {"Key": CLUSTER_TAG, "Value": cluster}]
    return ec2.run_instances(
        ImageId="ami-12c6146b",  # any: moto runs nothing
        MinCount=1,
        MaxCount=1,
        SubnetId=subnet,
        PrivateIpAddress=ip,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )["Instances"][0]


# ---- the emulator process ---------------------------------------------------------------------------


class Emulator:
    """moto on API_PORT, the metadata service on IMDS_IP:80, the world of one lab stack."""

    def __init__(self, state: Path, settings: Settings):
        self.state, self.s = state, settings
        self.region = settings.network.region
        self.history = state / "ec2-history.jsonl"
        self.lock, self.creds_lock = threading.Lock(), threading.Lock()
        self.by_ip: dict[str, Identity] = {}
        self.index_of: dict[str, int] = {}
        self._creds: dict = {}

    def record(self, entry: dict) -> None:
        with self.lock, open(self.history, "a") as out:
            out.write(json.dumps({"t": round(time.time(), 3), **entry}) + "\n")

    # power: the lab node's box
    def power_off(self, instance_id: str) -> None:
        topology = Topology(self.state, self.s)
        box = topology.box(self.s.cluster.nodes[self.index_of[instance_id]].name)
        topology.unplug(box)
        box.kill()

    def power_on(self, instance_id: str) -> None:
        def boot() -> None:
            topology = Topology(self.state, self.s)
            index = self.index_of[instance_id]
            if topology.nodes[index].pid is None:
                try:
                    topology.boot_node(index)
                    self.record({"event": "booted", "instance": instance_id})
                except Exception as exc:  # the API call already returned: say it in the history
                    self.record({"event": "boot-failed", "instance": instance_id, "error": str(exc)[-500:]})

        threading.Thread(target=boot, daemon=True).start()

    def route_changed(self, backend, cidr: str | None) -> None:
        """A route was created, replaced or deleted (one at a time): for the VIP's, the history gets
        where each named table sends it now, and the lab's router follows route_table_ids[0]."""
        net = self.s.network
        if cidr != f"{net.vip}/32" or not net.route_table_ids:
            return
        tables = [str(t) for t in net.route_table_ids]
        if any(t not in backend.route_tables for t in tables):  # the tables are being made
            return
        targets = vip_targets(backend, tables, str(net.vip))
        self.record({"event": "route", "targets": targets})
        eni = targets[tables[0]]
        via = backend.enis[eni].private_ip_address if eni else None
        try:
            Topology(self.state, self.s).set_router_vip_route(via)
        except Exception as exc:  # the API call stands: say it in the history
            self.record({"event": "router-failed", "via": via, "error": str(exc)[-500:]})

    def throttle_every(self) -> int | None:
        try:
            return int((self.state / "ec2-throttle").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def addresses(self, who: Identity) -> list[str]:
        """The private addresses the node's ENI holds in the emulator now, primary first."""
        from moto.backends import get_backend  # optional (see the module's docstring)

        eni = get_backend("ec2")[ACCOUNT][self.region].enis[who.eni]
        held = sorted(eni.private_ip_addresses, key=lambda p: not p.get("Primary"))
        return [p["PrivateIpAddress"] for p in held]

    def client(self, service: str, keys: tuple[str, str] = ("setup", "setup")):
        import boto3  # type: ignore[import-untyped]  # optional (see the module's docstring)

        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{API_PORT}",
            region_name=self.region,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
        )

    def credentials(self) -> dict:
        """The role's temporary credentials, renewed 20 minutes before they expire."""
        with self.creds_lock:
            if not self._creds or self._creds["expires"] - time.time() < 1200:
                got = self.admin_sts.assume_role(RoleArn=self.role_arn, RoleSessionName="lab-node", DurationSeconds=3600)
                c = got["Credentials"]
                self._creds = {
                    "expires": c["Expiration"].timestamp(),
                    "doc": {
                        "Code": "Success",
                        "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "Type": "AWS-HMAC",
                        "AccessKeyId": c["AccessKeyId"],
                        "SecretAccessKey": c["SecretAccessKey"],
                        "Token": c["SessionToken"],
                        "Expiration": c["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                    },
                }
            return self._creds["doc"]

    def build(self) -> dict:
        """The VPC, subnet, instances (node IP, lab MAC, cluster tag) and the agents' role; then
        IAM enforcement for every later call."""
        # moto: optional, imported here (see the module's docstring)
        from moto import settings as moto_settings
        from moto.backends import get_backend

        ec2, iam = self.client("ec2"), self.client("iam")
        net = self.s.network
        vpc_cidr = net.vpc_cidr or net.subnet_cidr.supernet(new_prefix=16)
        vpc = ec2.create_vpc(CidrBlock=str(vpc_cidr))["Vpc"]["VpcId"]
        # one subnet per node subnet (overlay: two, in two AZs)
        cidrs = list(dict.fromkeys(net.node_subnet(i)[1] for i in range(len(self.s.cluster.nodes))))
        subnets = {
            cidr: ec2.create_subnet(VpcId=vpc, CidrBlock=str(cidr), AvailabilityZone=f"{self.region}{'abc'[k]}")["Subnet"][
                "SubnetId"
            ]
            for k, cidr in enumerate(cidrs)
        }
        subnet = subnets[net.subnet_cidr]
        backend = get_backend("ec2")[ACCOUNT][self.region]
        nodes = []
        for i, node in enumerate(self.s.cluster.nodes):
            inst = launch(ec2, subnets[net.node_subnet(i)[1]], node.name, str(node.ip), self.s.cluster.name)
            eni_id = inst["NetworkInterfaces"][0]["NetworkInterfaceId"]
            backend.enis[eni_id].mac_address = mac_of(str(node.ip))  # the lab node's eth0
            who = Identity(inst["InstanceId"], mac_of(str(node.ip)), eni_id, str(node.ip))
            self.by_ip[who.ip], self.index_of[who.instance_id] = who, i
            nodes.append({"name": node.name, "ip": who.ip, "instance_id": who.instance_id, "eni": eni_id, "mac": who.mac})
        # overlay: the tables the stack names, each with the VIP's route to nodes[0]'s ENI (what the
        # program's aws.ec2.Route makes; aws-vpc-move-ip only ever replaces it)
        for table in net.route_table_ids:
            create_route_table(ec2, vpc, str(table))
            ec2.create_route(RouteTableId=str(table), DestinationCidrBlock=f"{net.vip}/32", NetworkInterfaceId=nodes[0]["eni"])
        lab_settings = self.s.model_copy(update={"network": self.s.network.model_copy(update={"subnet_id": subnet})})
        policy = agent_policy(lab_settings, ACCOUNT)
        # On AWS the EC2 service assumes the role for the instance profile; here the emulator does.
        emulator_arn = f"arn:aws:iam::{ACCOUNT}:user/emulator"
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": emulator_arn}, "Action": "sts:AssumeRole"}],
        }
        self.role_arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=ROLE, PolicyName="agents", PolicyDocument=json.dumps(moto_projection(policy)))
        iam.create_user(UserName="emulator")
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="emulator", PolicyName="all", PolicyDocument=json.dumps(everything))
        key = iam.create_access_key(UserName="emulator")["AccessKey"]
        admin = (key["AccessKeyId"], key["SecretAccessKey"])
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from here on, every call is checked
        self.admin_sts = self.client("sts", admin)
        world = {
            "endpoint": endpoint(self.s),
            "region": self.region,
            "vpc": vpc,
            "subnet": subnet,
            "subnets": {str(cidr): subnet_id for cidr, subnet_id in subnets.items()},
            "route_tables": [str(t) for t in net.route_table_ids],
            "nodes": nodes,
            "role": self.role_arn,
            "policy": policy,
            "admin_keys": admin,
        }
        return world

    def serve(self) -> None:
        from moto.server import ThreadedMotoServer  # optional (see the module's docstring)

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        extend_moto(self.record, self.power_off, self.power_on, self.throttle_every, self.route_changed)
        server = ThreadedMotoServer(ip_address="0.0.0.0", port=API_PORT, verbose=False)
        server.start()
        world = self.build()
        imds_log = self.state / "imds.jsonl"

        def log(entry: dict) -> None:
            if entry["status"] != 200:  # the successes are many: keep what explains a failure
                with open(imds_log, "a") as out:
                    out.write(json.dumps(entry) + "\n")

        imds_server((IMDS_IP, 80), self.by_ip.get, log, self.credentials, self.addresses)
        (self.state / "ec2.json").write_text(json.dumps(world, indent=1))
        print("ready", flush=True)
        threading.Event().wait()


def main() -> None:
    state, stack_file = Path(sys.argv[1]), sys.argv[2]
    Emulator(state, load_stack(stack_file)).serve()


if __name__ == "__main__":
    main()
