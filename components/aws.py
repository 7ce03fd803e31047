"""Thin Pulumi components mapping the settings, bundle and step plan onto AWS.

Each component has one job; LoadBalancerPair composes them; the step plan runs through the
Bootstrap that the lab uses too (components/bootstrap.py).
"""

from __future__ import annotations

import ipaddress
import json

import pulumi
import pulumi_aws as aws
import pulumi_random as random
import pulumi_tls as tls
from pulumi_command import remote

from blueprint.iam import CLUSTER_TAG, agent_policy
from blueprint.plan import build_plan
from blueprint.profiles import EXPORTER_PORT
from blueprint.render import Bundle, user_data_with_host_key
from blueprint.settings import Settings, vip_problem
from blueprint.stack_config import SettingsError
from components.bootstrap import Access, Bootstrap, Machine

# The Pulumi stack that created an instance: tells this stack's own instances (a re-preview of a
# deployed stack) from another stack's on the same addresses.
STACK_TAG = "stack"
# Every state in which an instance still holds its addresses.
LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def _child(parent: pulumi.Resource, **extra) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, **extra)


Rule = tuple[str, str, int, int, dict]  # (name, protocol, from port, to port, source: cidr_ipv4 or a group)


def _group_rules(parent: pulumi.Resource, name: str, group: aws.ec2.SecurityGroup, rules: list[Rule]) -> None:
    """One ingress rule per entry, and egress to anywhere."""
    for rule_name, proto, low, high, source in rules:
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-{rule_name.replace('/', '_')}",
            security_group_id=group.id,
            ip_protocol=proto,
            from_port=low,
            to_port=high,
            **source,
            opts=_child(parent),
        )
    aws.vpc.SecurityGroupEgressRule(
        f"{name}-egress-all",
        security_group_id=group.id,
        ip_protocol="-1",
        cidr_ipv4="0.0.0.0/0",
        opts=_child(parent),
    )


def _host_key_user_data(parent: pulumi.Resource, name: str, user_data: str) -> tuple[tls.PrivateKey, pulumi.Output[str]]:
    """An ed25519 host key generated here, and the user-data that installs it (cloud-init
    ssh_keys): the bootstrap pins the key from its first connection. The user-data is a secret."""
    host_key = tls.PrivateKey(f"{name}-host-key", algorithm="ED25519", opts=_child(parent))
    with_key: pulumi.Output[str] = pulumi.Output.secret(
        pulumi.Output.all(host_key.private_key_openssh, host_key.public_key_openssh).apply(
            lambda keys: user_data_with_host_key(user_data, *keys)
        )
    )
    return host_key, with_key


def _instance(
    parent: pulumi.Resource,
    name: str,
    s: Settings,
    *,
    label: str,
    ami_id: str,
    instance_type: str,
    subnet_id: str,
    private_ip: str,
    security_group_id: pulumi.Input[str],
    user_data: pulumi.Input[str],
    tags: dict[str, str] | None = None,
    **extra,
) -> aws.ec2.Instance:
    """An instance as gir-lb makes every one: IMDSv2 only (hop limit 1), encrypted gp3 root volume,
    the stack's SSH key pair and tags, at a fixed private IP."""
    return aws.ec2.Instance(
        name,
        ami=ami_id,
        instance_type=instance_type,
        subnet_id=subnet_id,
        private_ip=private_ip,
        vpc_security_group_ids=[security_group_id],
        key_name=s.ssh.key_name,
        user_data=user_data,
        metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
            http_tokens="required", http_endpoint="enabled", http_put_response_hop_limit=1
        ),
        root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(encrypted=True, volume_type="gp3"),
        tags={"Name": label, "environment": s.environment, STACK_TAG: pulumi.get_stack(), **(tags or {})},
        # A newer AMI must not replace a running instance; a replacement keeps the private IP, so
        # the old instance must be gone before the new one starts.
        opts=_child(parent, ignore_changes=["ami"], delete_before_replace=True),
        **extra,
    )


def _status_check_alarm(
    parent: pulumi.Resource, name: str, s: Settings, label: str, instance: aws.ec2.Instance, topic: str
) -> aws.cloudwatch.MetricAlarm:
    """An alarm on an instance's EC2 status checks (monitoring.alarm_topic_arn)."""
    return aws.cloudwatch.MetricAlarm(
        f"{name}-status-check",
        alarm_description=f"gir-lb {s.environment} {label}: EC2 instance or system status check failed",
        namespace="AWS/EC2",
        metric_name="StatusCheckFailed",
        dimensions={"InstanceId": instance.id},
        statistic="Maximum",
        period=60,
        evaluation_periods=2,
        comparison_operator="GreaterThanOrEqualToThreshold",
        threshold=1,
        # A stopped instance publishes no status checks: "missing" would leave a node that was
        # fenced (stopped, then started) and never came back silent in INSUFFICIENT_DATA.
        treat_missing_data="breaching",
        alarm_actions=[topic],
        ok_actions=[topic],
        tags={"environment": s.environment},
        opts=_child(parent),
    )


class Network(pulumi.ComponentResource):
    """Security group: one rule per port and CIDR (web, SSH, the exporters); cluster traffic only
    from the group itself."""

    def __init__(self, name: str, s: Settings, vpc_id: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gir-lb:network:Network", name, None, opts)
        self.group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=vpc_id,
            description=f"gir-lb {s.environment} load balancer pair",
            tags={"Name": f"gir-lb-{s.environment}", "environment": s.environment},
            opts=_child(self),
        )
        rules: list[Rule] = []
        web_ports = [s.httpd.port] + ([s.httpd.tls.port] if s.httpd.tls.enabled else [])
        for port in web_ports:
            for cidr in s.network.client_cidrs:
                rules.append((f"http-{port}-{cidr}", "tcp", port, port, {"cidr_ipv4": str(cidr)}))
        for cidr in s.network.admin_cidrs:
            rules.append((f"ssh-{cidr}", "tcp", 22, 22, {"cidr_ipv4": str(cidr)}))
        # Both exporters (docs/monitoring.md), to monitoring.source_cidrs only; the settings refuse
        # those CIDRs for a profile without metrics.
        metrics_ports = [EXPORTER_PORT, s.profile.metrics.port] if s.profile.metrics else []
        for port in metrics_ports:
            for cidr in s.monitoring.source_cidrs:
                rules.append((f"metrics-{port}-{cidr}", "tcp", port, port, {"cidr_ipv4": str(cidr)}))
        self_ref = {"referenced_security_group_id": self.group.id}
        # Only corosync 3 profiles run on AWS (OsProfile.not_on): knet on 5405, and pcsd.
        rules.append(("corosync-knet", "udp", 5405, 5405, self_ref))
        rules.append(("pcsd", "tcp", 2224, 2224, self_ref))
        # Egress: GIR members (any port in the VPC and beyond), package repos, the EC2 API.
        _group_rules(self, name, self.group, rules)
        self.register_outputs({"security_group_id": self.group.id})


def check_subnet(s: Settings, subnet: aws.ec2.AwaitableGetSubnetResult) -> None:
    """The VIP and nodes against the real subnet, before anything is created."""
    net = ipaddress.IPv4Network(subnet.cidr_block)
    problems = []
    if net != s.network.subnet_cidr:
        problems.append(f"gir-lb:network.subnet_cidr: {s.network.subnet_id} is {net} in AWS, not {s.network.subnet_cidr}")
    if s.network.vip_mode != "overlay" and (problem := vip_problem(s.network.vip, net, on_aws=True)):
        problems.append(f"gir-lb:network.vip: {problem} (the subnet as AWS reports it)")
    if problems:
        raise SettingsError(problems, source=f"subnet {s.network.subnet_id}")


def check_overlay(
    s: Settings,
    first: aws.ec2.AwaitableGetSubnetResult,
    second: aws.ec2.AwaitableGetSubnetResult,
    vpc: aws.ec2.AwaitableGetVpcResult,
    tables: list[aws.ec2.AwaitableGetRouteTableResult],
) -> None:
    """vip_mode overlay against AWS, before anything is created: nodes[1]'s subnet as the stack
    says, in the same VPC as nodes[0]'s but another AZ; the VIP outside every CIDR block of the
    VPC (a route to it would lose to the local route); each route table in that VPC."""
    net = s.network
    assert net.second_subnet is not None and net.vpc_cidr is not None
    key = "gir-lb:network"
    problems = []
    if ipaddress.IPv4Network(second.cidr_block) != net.second_subnet.cidr:
        problems.append(f"{key}.second_subnet.cidr: {second.id} is {second.cidr_block} in AWS, not {net.second_subnet.cidr}")
    if second.vpc_id != first.vpc_id:
        problems.append(f"{key}.second_subnet.id: {second.id} is in {second.vpc_id}, not in nodes[0]'s VPC {first.vpc_id}")
    elif second.availability_zone == first.availability_zone:
        why = "both nodes would go with that AZ: pick a subnet in another AZ"
        problems.append(f"{key}.second_subnet.id: {second.id} is in {second.availability_zone}, as is subnet_id: {why}")
    blocks = {ipaddress.IPv4Network(b.cidr_block) for b in vpc.cidr_block_associations}
    if net.vpc_cidr not in blocks:
        shown = ", ".join(sorted(map(str, blocks)))
        problems.append(f"{key}.vpc_cidr: {net.vpc_cidr} is not a CIDR block of {vpc.id}, which has {shown}")
    problems += [
        f"{key}.vip: {net.vip} is inside {b}, a CIDR block of {vpc.id}: an overlay VIP must be outside the VPC"
        for b in sorted(blocks)
        if net.vip in b and b != net.vpc_cidr
    ]
    problems += [
        f"{key}.route_table_ids[{i}]: {t.route_table_id} is in {t.vpc_id}, not in the nodes' VPC {vpc.id}"
        for i, t in enumerate(tables)
        if t.vpc_id != vpc.id
    ]
    if problems:
        raise SettingsError(problems, source=f"VPC {vpc.id}")


def check_arbiter_subnet(s: Settings, subnet: aws.ec2.AwaitableGetSubnetResult, vpc_id: str) -> None:
    """The arbiter's own subnet (cluster.quorum_device.subnet_id) against AWS, before anything is
    created: its CIDR as the stack says, in the nodes' VPC (its security group admits the nodes'
    group, which only works within one VPC), the address usable in it."""
    qd = s.cluster.quorum_device
    assert qd is not None and qd.subnet_id is not None and qd.subnet_cidr is not None
    key = "gir-lb:cluster.quorum_device"
    net = ipaddress.IPv4Network(subnet.cidr_block)
    problems = []
    if net != qd.subnet_cidr:
        problems.append(f"{key}.subnet_cidr: {qd.subnet_id} is {net} in AWS, not {qd.subnet_cidr}")
    if subnet.vpc_id != vpc_id:
        problems.append(
            f"{key}.subnet_id: {qd.subnet_id} is in {subnet.vpc_id}, not in the nodes' VPC {vpc_id}"
            f" (network.subnet_id {s.network.subnet_id})"
        )
    if problem := vip_problem(qd.address, net, on_aws=True):
        problems.append(f"{key}.address: {problem} (the subnet as AWS reports it)")
    if problems:
        raise SettingsError(problems, source=f"subnet {qd.subnet_id}")


def check_pool_is_free(s: Settings) -> None:
    """For a stack whose addresses come from network.address_pool: no other stack's instance may
    hold one of them. Two test stacks whose names hash to one block would otherwise pass the
    preview and fail halfway through `up`, on an address already in use."""
    if s.network.address_pool is None:
        return
    ours = [str(n.ip) for n in s.cluster.nodes] + [str(s.network.vip)]
    qd = s.cluster.quorum_device
    if qd is not None and qd.create and qd.subnet_id is None:  # a fixed address in the same subnet
        ours.append(str(qd.address))
    found = aws.ec2.get_instances(
        filters=[
            aws.ec2.GetInstancesFilterArgs(name="network-interface.addresses.private-ip-address", values=ours),
            aws.ec2.GetInstancesFilterArgs(name="subnet-id", values=[s.network.subnet_id]),
        ],
        instance_state_names=LIVE_STATES,
    )
    problems = []
    for instance_id in found.ids:
        other = aws.ec2.get_instance(instance_id=instance_id)
        stack = other.tags.get(STACK_TAG)
        if stack == pulumi.get_stack():
            continue
        on_it = {other.private_ip, *other.secondary_private_ips}
        # An address on a second ENI is in neither list: then the filter is all we know.
        held = [a for a in ours if a in on_it] or [" or ".join(ours)]
        owner = f"stack {stack}" if stack else f"no {STACK_TAG} tag"
        for a in held:
            if qd is not None and a == str(qd.address):  # fixed in the stack, not from the pool
                problems.append(f"gir-lb:cluster.quorum_device.address: {a} is held by instance {instance_id} ({owner})")
            else:
                problems.append(
                    f"gir-lb:network.address_pool: {a} is held by instance {instance_id} ({owner}): rename the stack"
                    " (its environment) or give it another pool"
                )
    if problems:
        raise SettingsError(problems, source=f"stack {pulumi.get_stack()}")


class Address(pulumi.ComponentResource):
    """Reserves the VIP in the subnet so AWS never gives it to another ENI. Pacemaker (awsvip)
    owns where it is assigned: it is deliberately on no instance or ENI attribute."""

    def __init__(self, name: str, s: Settings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gir-lb:network:Address", name, None, opts)
        self.reservation = aws.ec2.SubnetCidrReservation(
            f"{name}-vip",
            subnet_id=s.network.subnet_id,
            cidr_block=f"{s.network.vip}/32",
            reservation_type="explicit",
            description=f"gir-lb {s.environment} VIP (moved by Pacemaker)",
            opts=_child(self),
        )
        self.register_outputs({"vip": str(s.network.vip)})


class OverlayRoutes(pulumi.ComponentResource):
    """vip_mode overlay: the VIP's route in every named table, first to nodes[0]'s interface.
    aws-vpc-move-ip only replaces it (never creates it) and Pacemaker owns its target from then
    on, so a later `pulumi up` leaves the target alone."""

    def __init__(self, name: str, s: Settings, first_interface: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None):
        super().__init__("gir-lb:network:OverlayRoutes", name, None, opts)
        self.routes = [
            aws.ec2.Route(
                f"{name}-{table}",
                route_table_id=table,
                destination_cidr_block=f"{s.network.vip}/32",
                network_interface_id=first_interface,
                opts=_child(self, ignore_changes=["network_interface_id"]),
            )
            for table in s.network.route_table_ids
        ]
        self.register_outputs({"vip": str(s.network.vip)})


class Identity(pulumi.ComponentResource):
    """Instance role with only what awsvip and fence_aws call, scoped to this cluster's resources."""

    def __init__(self, name: str, s: Settings, account_id: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gir-lb:identity:Identity", name, None, opts)
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
                }
            ),
            opts=_child(self),
        )
        aws.iam.RolePolicy(f"{name}-policy", role=self.role.id, policy=json.dumps(agent_policy(s, account_id)), opts=_child(self))
        self.profile = aws.iam.InstanceProfile(f"{name}-profile", role=self.role.name, opts=_child(self))
        self.register_outputs({"instance_profile": self.profile.name})


class Hosts(pulumi.ComponentResource):
    """The two nodes (in the one subnet, or with overlay one each), IMDSv2 only, encrypted root volume, user-data from the
    bundle plus each node's SSH host key, generated here so the bootstrap pins it (the user-data is
    therefore a secret); with monitoring.alarm_topic_arn, an alarm on each one's status checks."""

    def __init__(
        self,
        name: str,
        s: Settings,
        bundle: Bundle,
        ami_id: str,
        security_group_id: pulumi.Input[str],
        instance_profile: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gir-lb:hosts:Hosts", name, None, opts)
        self.instances = []
        self.host_keys = []
        for index, node in enumerate(s.cluster.nodes):
            host_key, user_data = _host_key_user_data(self, f"{name}-{node.name}", bundle.user_data)
            self.host_keys.append(host_key)
            self.instances.append(
                _instance(
                    self,
                    f"{name}-{node.name}",
                    s,
                    label=node.name,
                    ami_id=ami_id,
                    instance_type=s.network.instance_type,
                    subnet_id=s.network.node_subnet(index)[0],
                    private_ip=str(node.ip),
                    security_group_id=security_group_id,
                    user_data=user_data,
                    tags={CLUSTER_TAG: s.cluster.name},  # fence_aws may stop exactly these (blueprint/iam.py)
                    iam_instance_profile=instance_profile,
                    # The node answers for the VIP (IPaddr2, aws-vpc-move-ip) on this ENI: AWS must
                    # not drop it as spoofed.
                    source_dest_check=False,
                )
            )
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        if topic := s.monitoring.alarm_topic_arn:
            self.alarms = [
                _status_check_alarm(self, f"{name}-{node.name}", s, node.name, instance, topic)
                for node, instance in zip(s.cluster.nodes, self.instances, strict=True)
            ]
        self.register_outputs({"instance_ids": [i.id for i in self.instances]})


class Arbiter(pulumi.ComponentResource):
    """The quorum device's arbiter (cluster.quorum_device.create): one small instance running
    corosync-qnetd, at quorum_device.address in its own subnet or the nodes'. Its group admits only
    the nodes' group (qnetd, and pcsd, which signs the nodes' certificates) and SSH from
    network.admin_cidrs; it has no instance profile (it calls no AWS API) and no cluster tag
    (fence_aws cannot stop it). Same AMI, key pair, IMDSv2, encrypted volume and pinned host key
    as the nodes; with monitoring.alarm_topic_arn, the same status-check alarm."""

    def __init__(
        self,
        name: str,
        s: Settings,
        bundle: Bundle,
        ami_id: str,
        vpc_id: str,
        nodes_group_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gir-lb:arbiter:Arbiter", name, None, opts)
        qd = s.cluster.quorum_device
        assert qd is not None and qd.create and bundle.arbiter_user_data is not None
        label = f"gir-lb-{s.environment}-arbiter"
        self.group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=vpc_id,
            description=f"gir-lb {s.environment} quorum device arbiter",
            tags={"Name": label, "environment": s.environment},
            opts=_child(self),
        )
        nodes = {"referenced_security_group_id": nodes_group_id}
        # corosync-qdevice on the nodes connects out to qnetd; the nodes' pcs asks pcsd to sign.
        rules: list[Rule] = [("qnetd", "tcp", 5403, 5403, nodes), ("pcsd", "tcp", 2224, 2224, nodes)]
        rules += [(f"ssh-{cidr}", "tcp", 22, 22, {"cidr_ipv4": str(cidr)}) for cidr in s.network.admin_cidrs]
        _group_rules(self, name, self.group, rules)  # egress: the package repositories
        self.host_key, user_data = _host_key_user_data(self, name, bundle.arbiter_user_data)
        self.instance = _instance(
            self,
            f"{name}-instance",
            s,
            label=label,
            ami_id=ami_id,
            instance_type=qd.instance_type,
            subnet_id=qd.subnet_id or s.network.subnet_id,
            private_ip=str(qd.address),
            security_group_id=self.group.id,
            user_data=user_data,
        )
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        if topic := s.monitoring.alarm_topic_arn:
            self.alarms = [_status_check_alarm(self, name, s, "arbiter", self.instance, topic)]
        self.register_outputs({"instance_id": self.instance.id, "address": str(qd.address)})


def find_ami(s: Settings) -> str:
    if s.ami.id:
        return s.ami.id
    lookup = s.profile.ami
    assert lookup is not None, "the settings refuse a profile without AMI data on aws"
    ami = aws.ec2.get_ami(
        owners=[s.ami.owner or lookup.owner],
        most_recent=True,
        filters=[
            aws.ec2.GetAmiFilterArgs(name="name", values=[s.ami.name_filter or lookup.name_filter]),
            aws.ec2.GetAmiFilterArgs(name="architecture", values=["x86_64"]),
        ],
    )
    return ami.id


class LoadBalancerPair(pulumi.ComponentResource):
    def __init__(self, name: str, s: Settings, bundle: Bundle, secrets: dict, opts: pulumi.ResourceOptions | None = None):
        subnet = aws.ec2.get_subnet(id=s.network.subnet_id)
        check_subnet(s, subnet)  # all before anything is registered
        net = s.network
        if net.second_subnet is not None:
            tables = [aws.ec2.get_route_table(route_table_id=t) for t in net.route_table_ids]
            check_overlay(s, subnet, aws.ec2.get_subnet(id=net.second_subnet.id), aws.ec2.get_vpc(id=subnet.vpc_id), tables)
        qd = s.cluster.quorum_device
        arbiter_made = qd is not None and qd.create
        if qd is not None and qd.create and qd.subnet_id is not None:
            check_arbiter_subnet(s, aws.ec2.get_subnet(id=qd.subnet_id), subnet.vpc_id)
        check_pool_is_free(s)
        super().__init__("gir-lb:index:LoadBalancerPair", name, None, opts)
        account_id = aws.get_caller_identity().account_id
        child = pulumi.ResourceOptions(parent=self, protect=s.is_protected)
        self.network = Network(f"{name}-net", s, subnet.vpc_id, child)
        self.identity = Identity(f"{name}-id", s, account_id, child)
        ami_id = find_ami(s)
        self.hosts = Hosts(f"{name}-hosts", s, bundle, ami_id, self.network.group.id, self.identity.profile.name, child)
        # Where the VIP lives before Pacemaker moves it: reserved in the subnet, or routed.
        vip_ready: list[pulumi.Resource]
        if net.vip_mode == "overlay":
            first = self.hosts.instances[0].primary_network_interface_id
            vip_ready = list(OverlayRoutes(f"{name}-vip", s, first, child).routes)
        else:
            vip_ready = [Address(f"{name}-addr", s, child).reservation]
        self.arbiter: Arbiter | None = None
        if arbiter_made:
            self.arbiter = Arbiter(f"{name}-arbiter", s, bundle, ami_id, subnet.vpc_id, self.network.group.id, child)
        password = secrets.get("hacluster_password")
        if password is None:
            password = random.RandomPassword(f"{name}-hacluster", length=32, special=False, opts=child).result
        tls_pair = None
        if s.httpd.tls.enabled:
            if secrets.get("tls_cert") is not None:
                tls_pair = (secrets["tls_cert"], secrets["tls_key"])
            else:
                key = tls.PrivateKey(f"{name}-tls-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
                cert = tls.SelfSignedCert(
                    f"{name}-tls-cert",
                    private_key_pem=key.private_key_pem,
                    validity_period_hours=24 * 365,
                    allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
                    subject=tls.SelfSignedCertSubjectArgs(common_name=f"gir-lb-{s.environment}"),
                    ip_addresses=[str(s.network.vip)],
                    opts=child,
                )
                tls_pair = (cert.cert_pem, key.private_key_pem)
        machines = [
            Machine(resource=i, host=i.private_ip, host_key=k.public_key_openssh, identity=i.id, instance_id=i.id)
            for i, k in zip(self.hosts.instances, self.hosts.host_keys, strict=True)
        ]
        if self.arbiter is not None:  # machines[ARBITER]: its instance id names nothing in the fence map
            arbiter = self.arbiter.instance
            host_key = self.arbiter.host_key.public_key_openssh
            machines.append(
                Machine(resource=arbiter, host=arbiter.private_ip, host_key=host_key, identity=arbiter.id, instance_id=arbiter.id)
            )
        key = secrets["ssh_private_key"]
        proxy = None
        if s.ssh.bastion_host:
            proxy = remote.ProxyConnectionArgs(
                host=s.ssh.bastion_host, user=s.ssh.bastion_user, private_key=key, host_key=s.ssh.bastion_host_key
            )
        self.bootstrap = Bootstrap(
            f"{name}-boot",
            s,
            build_plan(s, bundle),
            machines,
            Access(user=s.ssh.user, private_key=key, proxy=proxy),
            password,
            tls_pair,
            pulumi.ResourceOptions(parent=self),
            ready=vip_ready,
        )
        self.register_outputs({})
