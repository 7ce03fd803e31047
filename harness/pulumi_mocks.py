"""Runs the Pulumi components under pulumi.runtime mocks and records every registration: the
inputs (Mocks.new_resource) and the options the mocks never see (a recording MockMonitor). The
program's tests use it, and so does the scale benchmark (bench/scale.py)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import pulumi
from pulumi.runtime import mocks as pmocks
from pulumi.runtime import rpc

GENERATED_PASSWORD = "generated-Hacluster-Pw-0001"
GENERATED_KEY = "-----BEGIN PRIVATE KEY-----\nGENERATED-KEY-MATERIAL\n-----END PRIVATE KEY-----\n"
SUBNET = {"id": "subnet-0a1b2c3d4e5f60718", "cidrBlock": "10.20.1.0/24", "vpcId": "vpc-0abc", "availabilityZone": "eu-west-1a"}
VPC = {"id": "vpc-0abc", "cidrBlock": "10.20.0.0/16", "cidrBlockAssociations": [{"cidrBlock": "10.20.0.0/16"}]}


def host_private_key(name: str) -> str:
    return f"-----BEGIN OPENSSH PRIVATE KEY-----\nHOST-KEY-MATERIAL-{name}\n-----END OPENSSH PRIVATE KEY-----\n"


def host_public_key(name: str) -> str:
    return f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{hashlib.sha256(name.encode()).hexdigest()}\n"


def instance_id(name: str) -> str:
    """The id the mocks give the EC2 instance of that Pulumi name."""
    return "i-" + hashlib.sha256(name.encode()).hexdigest()[:17]


def local_command_stdout(name: str) -> str:
    """What the lab's local commands print (components/lab.py)."""
    if name.endswith("-key"):
        return host_public_key(name) + host_private_key(name)
    if name.endswith("hacluster-password"):
        return GENERATED_PASSWORD + "\n"
    if name.endswith("-world"):
        return ""
    return json.dumps({"machine_id": f"machine-{name}", "instance_id": f"machine-{name}"}) + "\n"


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict  # raw (secrets still wrapped)
    parent: str = ""
    dependencies: list = field(default_factory=list)
    secret_outputs: list = field(default_factory=list)
    protect: bool = False
    ignore_changes: list = field(default_factory=list)
    delete_before_replace: bool = False
    urn: str = ""


@dataclass
class Ec2Instance:
    """An instance already in the subnet, as the getInstances/getInstance invokes report it."""

    id: str
    private_ip: str
    secondary_private_ips: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    state: str = "running"

    @property
    def addresses(self) -> set[str]:
        return {self.private_ip, *self.secondary_private_ips}


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, subnet: dict | None = None, instances: list[Ec2Instance] | None = None, subnets: list[dict] | None = None):
        self.subnet = subnet or SUBNET
        self.subnets = {other["id"]: other for other in subnets or []}  # by id; any other id gets `subnet`
        self.instances = instances or []
        self.vpc = VPC
        self.route_table_vpcs: dict[str, str] = {}  # a route table in another VPC than VPC
        self.invokes: list[str] = []
        self.invoke_args: dict[str, dict] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        outputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        if args.typ == "aws:ec2/instance:Instance":
            resource_id = instance_id(args.name)
            outputs["primaryNetworkInterfaceId"] = "eni-" + resource_id.removeprefix("i-")
        elif args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = GENERATED_PASSWORD
        elif args.typ == "tls:index/privateKey:PrivateKey":
            outputs["privateKeyPem"] = GENERATED_KEY
            outputs["privateKeyOpenssh"] = host_private_key(args.name)
            outputs["publicKeyOpenssh"] = host_public_key(args.name)
        elif args.typ == "command:local:Command":  # the lab's key pairs, password and node boxes
            outputs["stdout"] = local_command_stdout(args.name)
        elif args.typ == "tls:index/selfSignedCert:SelfSignedCert":
            outputs["certPem"] = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"
        return [resource_id, outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        self.invokes.append(args.token)
        self.invoke_args[args.token] = dict(args.args)
        if args.token == "aws:ec2/getInstances:getInstances":
            # Answers the filters the program uses: addresses, the subnet (every instance here is in it), states.
            wanted = {f["name"]: set(f["values"]) for f in args.args.get("filters", [])}
            addresses = wanted.get("network-interface.addresses.private-ip-address", set())
            in_subnet = wanted.get("subnet-id", {self.subnet["id"]}) == {self.subnet["id"]}
            states = set(args.args.get("instanceStateNames") or ["running"])
            hits = [i for i in self.instances if in_subnet and i.addresses & addresses and i.state in states]
            return {"ids": [i.id for i in hits], "privateIps": [i.private_ip for i in hits], "id": "eu-west-1"}
        if args.token == "aws:ec2/getInstance:getInstance":
            i = next(i for i in self.instances if i.id == args.args["instanceId"])
            return {"id": i.id, "privateIp": i.private_ip, "secondaryPrivateIps": i.secondary_private_ips, "tags": i.tags}
        if args.token == "aws:ec2/getSubnet:getSubnet":
            return self.subnets.get(args.args.get("id"), self.subnet)
        if args.token == "aws:ec2/getVpc:getVpc":
            return self.vpc
        if args.token == "aws:ec2/getRouteTable:getRouteTable":  # every table is in the VPC unless listed
            table = args.args["routeTableId"]
            return {"id": table, "routeTableId": table, "vpcId": self.route_table_vpcs.get(table, self.vpc["id"])}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/ci", "userId": "ci", "id": "x"}
        if args.token == "aws:ec2/getAmi:getAmi":
            return {"id": "ami-0123456789abcdef0", "name": "RHEL-9.4.0_HVM-x86_64"}
        raise AssertionError(f"invoke not mocked: {args.token}")


class RecordingMonitor(pmocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        pmocks._ensure_event_loop()
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        entry = Registered(
            type=request.type,
            name=request.name,
            inputs=inputs,
            parent=request.parent,
            dependencies=list(request.dependencies),
            secret_outputs=list(request.additionalSecretOutputs),
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=bool(request.deleteBeforeReplace),
        )
        self.registered.append(entry)
        result = super().RegisterResource(request)
        entry.urn = result.urn  # registrations run on several threads: keep our own entry
        return result


def run(
    build,
    subnet: dict | None = None,
    stack: str = "dev",
    instances: list[Ec2Instance] | None = None,
    subnets: list[dict] | None = None,
    vpc: dict | None = None,
    route_table_vpcs: dict[str, str] | None = None,
) -> tuple[RecordingMonitor, RecordingMocks]:
    """Runs build() as a Pulumi program under mocks (preview=False so applies run) and returns
    what it registered. `instances`: what the subnet already holds; `subnets`: other subnets
    getSubnet knows by id (an arbiter's own, an overlay stack's second); `vpc`: getVpc's answer
    (VPC by default); `route_table_vpcs`: route tables in another VPC than that."""
    mocks = RecordingMocks(subnet, instances, subnets)
    mocks.vpc = vpc or VPC
    mocks.route_table_vpcs = route_table_vpcs or {}
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="gir-lb", stack=stack, preview=False, monitor=monitor)

    @pulumi.runtime.test
    def program():
        result = build()  # an Output returned by build() is awaited too
        return result if isinstance(result, pulumi.Output) else pulumi.Output.from_input(True)

    program()
    return monitor, mocks


def plain(value):
    """Inputs with secrets unwrapped (to look for leaks)."""
    if rpc.is_rpc_secret(value):
        return plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
