"""The Pulumi program under mocks: inventory, security, ordering, triggers, secrets, protection."""

from __future__ import annotations

import base64
import json

import pulumi
import pytest
from pulumi.runtime import rpc

from blueprint.render import render_bundle
from blueprint.stack_config import SettingsError, parse_settings
from components.aws import LoadBalancerPair
from harness import pulumi_mocks as pulumi_harness
from harness.pulumi_mocks import GENERATED_KEY, GENERATED_PASSWORD, SUBNET, plain, run
from tests.conftest import stack_config

SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nSSH-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n"
PASSWORD = "Given-Hacluster-Pw-42"
# stacks/Pulumi.dev-multi-az.yaml's second subnet, as AWS reports it
SECOND_SUBNET = {**SUBNET, "id": "subnet-0a1b2c3d4e5f60729", "cidrBlock": "10.20.2.0/24", "availabilityZone": "eu-west-1b"}


def deploy(cfg: dict, secrets: dict | None = None, subnet: dict | None = None, subnets: list[dict] | None = None, **aws):
    """Builds the pair under mocks; `aws`: more of what the mocked AWS answers (harness.run's vpc=, route_table_vpcs=)."""
    s = parse_settings(cfg)

    def build():
        given = {
            "ssh_private_key": pulumi.Output.secret(SSH_KEY),
            "hacluster_password": None,
            "tls_key": None,
            "tls_cert": None,
            **(secrets or {}),
        }
        LoadBalancerPair("gir-lb", s, render_bundle(s), given)

    monitor, mocks = run(build, subnet=subnet, stack=s.environment, subnets=subnets, **aws)
    return monitor.registered, mocks


def of_type(resources, typ):
    return [r for r in resources if r.type == typ]


def by_name(resources):
    return {r.name: r for r in resources}


@pytest.fixture(scope="module")
def dev():
    return deploy(stack_config("dev"))[0]


def test_inventory_and_parenting(dev):
    types = [r.type for r in dev]
    for component in (
        "LoadBalancerPair",
        "network:Network",
        "network:Address",
        "identity:Identity",
        "hosts:Hosts",
        "bootstrap:Bootstrap",
    ):
        assert sum(t.endswith(component) for t in types) == 1, component
    assert types.count("aws:ec2/instance:Instance") == 2
    # cluster-check, prepare x2, cluster-setup, seed-cib x2, cluster-start, cluster-join x2,
    # quorum-device (every corosync 3 stack: it removes a device left out), httpd-push x2, cluster-resources
    assert types.count("command:remote:Command") == 13
    components = {r.urn for r in dev if r.type.startswith("gir-lb:")}
    for r in dev:
        if r.type.startswith(("aws:", "command:", "random:", "tls:")):
            assert r.parent in components, f"{r.name} is not parented to a gir-lb component"


def test_instances_in_one_subnet_without_the_vip(dev):
    instances = of_type(dev, "aws:ec2/instance:Instance")
    assert {i.inputs["subnetId"] for i in instances} == {"subnet-0a1b2c3d4e5f60718"}
    assert sorted(i.inputs["privateIp"] for i in instances) == ["10.20.1.11", "10.20.1.12"]
    for r in dev:
        if r.type in ("aws:ec2/instance:Instance", "aws:ec2/networkInterface:NetworkInterface"):
            assert "10.20.1.50" not in json.dumps(plain(r.inputs)), r.name
    reservation = of_type(dev, "aws:ec2/subnetCidrReservation:SubnetCidrReservation")[0].inputs
    assert reservation["cidrBlock"] == "10.20.1.50/32" and reservation["reservationType"] == "explicit"


def test_security_group_rules(dev):
    rules = of_type(dev, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    seen = {(r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"], r.inputs.get("cidrIpv4", "group")) for r in rules}
    assert seen == {
        ("tcp", 80, 80, "10.20.0.0/16"),
        ("tcp", 443, 443, "10.20.0.0/16"),
        ("tcp", 22, 22, "10.20.250.0/24"),
        ("udp", 5405, 5405, "group"),
        ("tcp", 2224, 2224, "group"),
    }
    group_id = of_type(dev, "aws:ec2/securityGroup:SecurityGroup")[0].name + "-id"
    for r in rules:
        if "cidrIpv4" not in r.inputs:
            assert r.inputs["referencedSecurityGroupId"] == group_id


EXPORTER_PORTS = (9663, 44322)  # gir-lb-exporter, and PCP's pmproxy on rhel9 (docs/monitoring.md)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:gir-lb-alarms"


def with_monitoring(**monitoring) -> list:
    cfg = stack_config("dev")
    cfg["monitoring"] = monitoring
    return deploy(cfg)[0]


def exporter_rules(resources) -> list:
    rules = of_type(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    return [r for r in rules if {r.inputs["fromPort"], r.inputs["toPort"]} & set(EXPORTER_PORTS)]


def test_the_exporter_ports_open_to_exactly_the_monitoring_source_cidrs(dev):
    resources = with_monitoring(source_cidrs=["10.20.240.0/24", "192.168.7.0/28"])
    rules = exporter_rules(resources)
    seen = [(r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"], r.inputs["cidrIpv4"]) for r in rules]
    assert sorted(seen) == sorted(
        ("tcp", port, port, cidr) for port in EXPORTER_PORTS for cidr in ("10.20.240.0/24", "192.168.7.0/28")
    )
    group = of_type(resources, "aws:ec2/securityGroup:SecurityGroup")[0]
    assert all(r.inputs["securityGroupId"] == group.name + "-id" for r in rules)
    assert len({r.name for r in rules}) == 4  # one Pulumi name each
    # the other rules are the dev stack's own
    ingress = lambda rs: {r.name for r in of_type(rs, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}  # noqa: E731
    assert ingress(resources) - {r.name for r in rules} == ingress(dev)


def test_without_source_cidrs_no_exporter_port_opens(dev):
    assert exporter_rules(dev) == []
    assert exporter_rules(with_monitoring(alarm_topic_arn=TOPIC)) == []


def test_an_alarm_topic_gives_one_status_check_alarm_per_instance():
    resources = with_monitoring(alarm_topic_arn=TOPIC)
    alarms = by_name(of_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm"))
    instances = of_type(resources, "aws:ec2/instance:Instance")
    assert sorted(alarms) == sorted(f"{i.name}-status-check" for i in instances) and len(alarms) == 2
    for i in instances:  # each node's alarm watches that node's instance
        alarm = alarms[f"{i.name}-status-check"]
        assert alarm.inputs["dimensions"] == {"InstanceId": pulumi_harness.instance_id(i.name)}
        assert i.urn in alarm.dependencies
    for a in alarms.values():
        assert a.inputs["namespace"] == "AWS/EC2" and a.inputs["metricName"] == "StatusCheckFailed"
        assert (a.inputs["statistic"], a.inputs["period"], a.inputs["evaluationPeriods"]) == ("Maximum", 60, 2)
        assert (a.inputs["comparisonOperator"], a.inputs["threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
        assert a.inputs["alarmActions"] == [TOPIC] and a.inputs["okActions"] == [TOPIC]
        assert a.inputs["treatMissingData"] == "breaching"


def test_without_an_alarm_topic_there_is_no_alarm(dev):
    assert of_type(dev, "aws:cloudwatch/metricAlarm:MetricAlarm") == []
    assert of_type(with_monitoring(source_cidrs=["10.20.240.0/24"]), "aws:cloudwatch/metricAlarm:MetricAlarm") == []


def test_rhel6_is_refused_on_aws():
    # RHEL 6 ships neither awsvip nor fence_aws, and IPaddr2 alone cannot move an address on AWS
    cfg = stack_config("dev")
    cfg.update(os_profile="rhel6")
    cfg["network"]["vip_mode"] = "l2"
    cfg["cluster"]["fencing"] = {"mode": "disabled"}
    with pytest.raises(SettingsError, match="gir-lb:os_profile: RHEL 6 has neither awsvip nor fence_aws"):
        deploy(cfg)


def test_imdsv2_encryption_and_tags(dev):
    for i in of_type(dev, "aws:ec2/instance:Instance"):
        assert i.inputs["metadataOptions"]["httpTokens"] == "required"
        assert i.inputs["rootBlockDevice"]["encrypted"] is True
        assert i.inputs["tags"]["environment"] == "dev" and i.inputs["tags"]["stack"] == "dev"
        assert "ami" in i.ignore_changes


def test_iam_policy_grants_only_the_agents_actions(dev):
    policy = json.loads(of_type(dev, "aws:iam/rolePolicy:RolePolicy")[0].inputs["policy"])
    actions = sorted(a for st in policy["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]))
    assert actions == sorted(
        [
            "ec2:DescribeInstances",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
            "ec2:StopInstances",
            "ec2:StartInstances",
        ]
    )
    scoped = [st for st in policy["Statement"] if st["Resource"] != "*"]
    assert len(scoped) == 2 and all("Condition" in st for st in scoped)


def test_step_ordering(dev):
    cmds = {r.name.removeprefix("gir-lb-boot-"): r for r in of_type(dev, "command:remote:Command")}
    urn = {name: r.urn for name, r in cmds.items()}
    assert {urn["prepare-0"], urn["prepare-1"]} <= set(cmds["cluster-setup"].dependencies)
    for i in (0, 1):
        assert urn["cluster-setup"] in cmds[f"seed-cib-{i}"].dependencies
    assert {urn["seed-cib-0"], urn["seed-cib-1"]} <= set(cmds["cluster-start"].dependencies)
    assert urn["cluster-join-0"] in cmds["cluster-join-1"].dependencies  # never two `pcs host auth` at once
    assert urn["cluster-start"] in cmds["httpd-push-1"].dependencies
    assert urn["httpd-push-1"] in cmds["httpd-push-0"].dependencies  # node A only after node B
    assert {urn["cluster-start"], urn["httpd-push-0"]} <= set(cmds["cluster-resources"].dependencies)
    reservation = of_type(dev, "aws:ec2/subnetCidrReservation:SubnetCidrReservation")[0]
    for r in cmds.values():
        assert "delete" not in r.inputs  # destroy never needs a reachable host
        assert reservation.urn in r.dependencies  # the VIP is reserved before any step can assign it


def triggers(resources):
    return {r.name: r.inputs["triggers"] for r in of_type(resources, "command:remote:Command")}


def test_a_tenant_change_reruns_only_the_httpd_push(dev):
    cfg = stack_config("dev")
    cfg["tenants"][1]["rp"]["members"].append({"url": "http://t2-rp2.dev.gir.internal:8889"})
    changed, _ = deploy(cfg)
    before, after = triggers(dev), triggers(changed)
    differ = sorted(name for name in before if before[name] != after[name])
    assert differ == ["gir-lb-boot-httpd-push-0", "gir-lb-boot-httpd-push-1"]
    inputs = lambda rs: {r.name: json.dumps(plain(r.inputs), sort_keys=True) for r in of_type(rs, "aws:ec2/instance:Instance")}  # noqa: E731
    assert inputs(dev) == inputs(changed)  # user-data unchanged: no instance replaced


def test_a_replaced_instance_reruns_exactly_its_nodes_steps_and_the_fence_map(dev, monkeypatch):
    original = pulumi_harness.RecordingMocks.new_resource

    def new_instance_for_node_b(self, args):
        resource_id, outputs = original(self, args)
        if args.typ == "aws:ec2/instance:Instance" and args.name.endswith("lb-dev-b"):
            resource_id = "i-0fffffffffffffff0"  # what `pulumi up` sees after node B's instance is replaced
        return [resource_id, outputs]

    monkeypatch.setattr(pulumi_harness.RecordingMocks, "new_resource", new_instance_for_node_b)
    replaced, _ = deploy(stack_config("dev"))
    before, after = triggers(dev), triggers(replaced)
    differ = sorted(name.removeprefix("gir-lb-boot-") for name in before if before[name] != after[name])
    # node B prepared again, added back by node A, given its httpd files; fence_aws learns the new id
    assert differ == ["cluster-join-1", "cluster-resources", "httpd-push-1", "prepare-1"]
    assert "i-0fffffffffffffff0" in plain(commands(replaced)["cluster-resources"].inputs["create"])
    # the same private IP: the old instance must be deleted before its replacement is created
    assert all(r.delete_before_replace for r in of_type(replaced, "aws:ec2/instance:Instance"))


def test_same_config_twice_gives_identical_inputs(dev):
    again, _ = deploy(stack_config("dev"))

    def snap(rs):  # registration order is async; the Stack registers once per process
        return sorted(
            (r.type, r.name, json.dumps(plain(r.inputs), sort_keys=True), sorted(r.dependencies))
            for r in rs
            if r.type != "pulumi:pulumi:Stack"
        )

    assert len(snap(dev)) > 20 and snap(dev) == snap(again)


def test_secrets_stay_secret():
    cfg = stack_config("dev")
    resources, _ = deploy(cfg, secrets={"hacluster_password": pulumi.Output.secret(PASSWORD)})
    for r in resources:
        raw = r.inputs
        text = json.dumps({k: v for k, v in raw.items() if not rpc.is_rpc_secret(v)}, default=str)
        for secret in (PASSWORD, "SSH-KEY-MATERIAL", "GENERATED-KEY-MATERIAL", GENERATED_PASSWORD):
            assert secret not in text, f"{secret} in plain inputs of {r.name}"
    cmds = {r.name.removeprefix("gir-lb-boot-"): r for r in of_type(resources, "command:remote:Command")}
    for name in ("prepare-0", "prepare-1", "cluster-setup", "httpd-push-0", "httpd-push-1"):
        r = cmds[name]
        assert rpc.is_rpc_secret(r.inputs["stdin"]) and rpc.is_rpc_secret(r.inputs["connection"])
        assert r.inputs["logging"] == "stderr" and "stdout" in r.secret_outputs
    assert plain(cmds["cluster-setup"].inputs["stdin"]) == PASSWORD + "\n"
    assert "GENERATED-KEY-MATERIAL" not in json.dumps(plain(cmds["httpd-push-0"].inputs["create"]))


def commands(resources):
    return {r.name.removeprefix("gir-lb-boot-"): r for r in of_type(resources, "command:remote:Command")}


def test_a_tls_rotation_reruns_only_the_httpd_push_through_its_secret_stdin():
    """A new tls_cert/tls_key changes no trigger and no command, only the push steps' stdin (a
    secret): pulumi-command runs `create` again when any input changes (no `update` command is
    given), so the push re-runs exactly then, and the key never enters a plain input."""

    def pushed_with(n: int):
        pem = {k: pulumi.Output.secret(f"-----BEGIN X-----\nROTATED-{n}-{k}\n-----END X-----\n") for k in ("tls_cert", "tls_key")}
        cmds = commands(deploy(stack_config("dev"), secrets=pem)[0])
        return {name: {k: plain(v) for k, v in r.inputs.items()} for name, r in cmds.items()}, cmds

    (before, _), (after, cmds) = pushed_with(1), pushed_with(2)
    changed = {name: sorted(k for k in before[name] if before[name][k] != after[name][k]) for name in before}
    assert {name: keys for name, keys in changed.items() if keys} == {"httpd-push-0": ["stdin"], "httpd-push-1": ["stdin"]}
    assert rpc.is_rpc_secret(cmds["httpd-push-0"].inputs["stdin"])
    assert "ROTATED-2-tls_key" in base64.b64decode(after["httpd-push-0"]["stdin"].splitlines()[-1]).decode()


def test_200_tenants_travel_on_stdin_and_every_command_stays_far_below_the_argument_limit():
    """ssh runs a command as one argument of the node's shell (`sh -c <command>`): at most 128 KiB
    (MAX_ARG_STRLEN). The httpd files go on stdin, after which the TLS pair follows: all secret."""
    cfg = stack_config("dev")
    cfg["tenants"] = [{**cfg["tenants"][i % 2], "id": f"t{i + 1}"} for i in range(200)]
    cmds = commands(deploy(cfg)[0])
    assert max(len(plain(r.inputs["create"])) for r in cmds.values()) < 16 * 1024
    push = cmds["httpd-push-0"]
    stdin = plain(push.inputs["stdin"]).splitlines()
    assert len(stdin) > 200 + 2 and rpc.is_rpc_secret(push.inputs["stdin"])
    tenant_files = [base64.b64decode(line).decode() for line in stdin if b"<Proxy " in base64.b64decode(line)]
    assert len(tenant_files) == 200 and "balancer://t200-rws" in tenant_files[-1]
    assert base64.b64decode(stdin[-1]).decode() == GENERATED_KEY


def test_without_a_secret_the_push_payload_is_plain_stdin():
    cfg = stack_config("dev")
    cfg["httpd"]["tls"]["enabled"] = False
    push = commands(deploy(cfg)[0])["httpd-push-0"]
    assert not rpc.is_rpc_secret(push.inputs["stdin"]) and push.inputs["logging"] == "stdoutAndStderr"
    assert all(base64.b64decode(line) for line in push.inputs["stdin"].splitlines())


def test_prod_is_protected():  # the guardrails themselves: tests/unit/test_policy.py
    resources, _ = deploy(stack_config("prod"), subnet={**SUBNET, "cidrBlock": "10.40.1.0/24"})
    assert all(r.protect for r in resources if r.type.startswith("aws:"))


def test_subnet_mismatch_raises_before_any_resource(monkeypatch):
    seen = []
    original = pulumi_harness.RecordingMonitor.RegisterResource
    monkeypatch.setattr(
        pulumi_harness.RecordingMonitor, "RegisterResource", lambda self, req: seen.append(req.type) or original(self, req)
    )
    with pytest.raises(SettingsError) as info:
        deploy(stack_config("dev"), subnet={**SUBNET, "cidrBlock": "10.99.0.0/24"})
    assert "gir-lb:network.subnet_cidr" in str(info.value)
    assert [t for t in seen if t != "pulumi:pulumi:Stack"] == []


def test_unmocked_invoke_fails_the_test():
    def build():
        pulumi.runtime.invoke("aws:ec2/getVpcs:getVpcs", {})

    with pytest.raises(Exception, match="invoke not mocked"):
        run(build)


def test_generated_key_is_used_when_no_cert_is_given(dev):
    push = next(r for r in dev if r.name == "gir-lb-boot-httpd-push-0")
    stdin = plain(push.inputs["stdin"]).splitlines()  # the httpd files, then the certificate and key
    assert base64.b64decode(stdin[-1]).decode() == GENERATED_KEY


def test_ami_lookup_per_profile_or_explicit_id():
    _, mocks = deploy(stack_config("dev"))
    assert "aws:ec2/getAmi:getAmi" in mocks.invokes
    cfg = stack_config("dev")
    cfg["ami"] = {"id": "ami-0fedcba9876543210"}
    resources, mocks = deploy(cfg)
    assert "aws:ec2/getAmi:getAmi" not in mocks.invokes
    assert {r.inputs["ami"] for r in of_type(resources, "aws:ec2/instance:Instance")} == {"ami-0fedcba9876543210"}


def test_every_connection_pins_the_host_key_generated_for_its_node_and_cloud_init_installs_it(dev):
    """Each node gets an ed25519 host key from the program, installed by cloud-init (ssh_keys) in
    its user-data, which is therefore a secret; every step's connection accepts only that key."""
    registered = by_name(dev)
    instances = {r.inputs["privateIp"]: r for r in of_type(dev, "aws:ec2/instance:Instance")}
    for node in ("lb-dev-a", "lb-dev-b"):
        key = registered[f"gir-lb-hosts-{node}-host-key"]
        assert key.inputs["algorithm"] == "ED25519"
    for instance in instances.values():
        assert rpc.is_rpc_secret(instance.inputs["userData"])
        user_data = plain(instance.inputs["userData"])
        assert user_data.startswith("#cloud-config\n") and "ssh_genkeytypes: []" in user_data
        node = instance.name.removeprefix("gir-lb-hosts-")
        assert pulumi_harness.host_private_key(f"gir-lb-hosts-{node}-host-key").splitlines()[1] in user_data
    for step in commands(dev).values():
        connection = plain(step.inputs["connection"])
        node = next(i.name.removeprefix("gir-lb-hosts-") for ip, i in instances.items() if ip == connection["host"])
        assert connection["hostKey"] == pulumi_harness.host_public_key(f"gir-lb-hosts-{node}-host-key")
        assert instances[connection["host"]].urn in step.dependencies


def test_the_bastion_connection_pins_the_bastion_host_key():
    cfg = stack_config("test-example")
    resources, _ = deploy(cfg)
    for step in commands(resources).values():
        proxy = plain(step.inputs["connection"])["proxy"]
        assert proxy["hostKey"] == cfg["ssh"]["bastion_host_key"] and proxy["host"] == cfg["ssh"]["bastion_host"]


# --- the quorum device's arbiter (cluster.quorum_device) -----------------------------------------

ARBITER_IP = "10.20.1.13"
ARBITER = "gir-lb-arbiter"  # the Arbiter component's name, the prefix of its resources'
ARBITER_INSTANCE = f"{ARBITER}-instance"
# the arbiter's own subnet (another AZ), in the nodes' VPC
OWN_SUBNET = {**SUBNET, "id": "subnet-0b1c2d3e4f5a60718", "cidrBlock": "10.20.2.0/24", "availabilityZone": "eu-west-1b"}
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def with_device(stack: str = "dev", monitoring: dict | None = None, **device) -> dict:
    cfg = stack_config(stack)
    cfg["cluster"]["quorum_device"] = {"address": ARBITER_IP, "create": True, **device}
    if monitoring:
        cfg["monitoring"] = monitoring
    return cfg


@pytest.fixture(scope="module")
def arbitered():
    return deploy(with_device())[0]


def arbiter_instance(resources):
    (found,) = [i for i in of_type(resources, "aws:ec2/instance:Instance") if i.name == ARBITER_INSTANCE]
    return found


def test_the_arbiter_is_one_hardened_instance_at_its_address_without_an_instance_profile(arbitered):
    instances = of_type(arbitered, "aws:ec2/instance:Instance")
    assert len(instances) == 3
    node = next(i for i in instances if i.name != ARBITER_INSTANCE)
    a = arbiter_instance(arbitered)
    assert a.inputs["privateIp"] == ARBITER_IP and a.inputs["subnetId"] == SUBNET["id"]
    assert a.inputs["instanceType"] == "t3.micro"
    assert a.inputs["metadataOptions"] == {"httpTokens": "required", "httpEndpoint": "enabled", "httpPutResponseHopLimit": 1}
    assert a.inputs["rootBlockDevice"] == {"encrypted": True, "volumeType": "gp3"}
    assert (a.inputs["ami"], a.inputs.get("keyName")) == (node.inputs["ami"], node.inputs.get("keyName"))
    # it calls no AWS API; fence_aws may stop only the instances with the cluster tag
    assert "iamInstanceProfile" not in a.inputs and "gir-lb:cluster" not in a.inputs["tags"]
    assert "sourceDestCheck" not in a.inputs  # it holds no VIP
    assert a.inputs["tags"] == {"Name": "gir-lb-dev-arbiter", "environment": "dev", "stack": "dev"}
    assert a.ignore_changes == ["ami"] and a.delete_before_replace
    assert a.parent == by_name(arbitered)[ARBITER].urn and by_name(arbitered)[ARBITER].type == "gir-lb:arbiter:Arbiter"


def test_the_arbiter_user_data_is_secret_and_installs_qnetd_pcs_and_its_own_host_key(arbitered):
    a = arbiter_instance(arbitered)
    assert rpc.is_rpc_secret(a.inputs["userData"])
    user_data = plain(a.inputs["userData"])
    assert user_data.startswith("#cloud-config\n")
    assert "packages:\n- pcs\n- corosync-qnetd\n" in user_data and "- pcsd\n" in user_data
    assert "fence-agents-aws" not in user_data and "httpd" not in user_data  # nothing of a node's
    assert by_name(arbitered)[f"{ARBITER}-host-key"].inputs["algorithm"] == "ED25519"
    assert pulumi_harness.host_private_key(f"{ARBITER}-host-key").splitlines()[1] in user_data
    assert "ssh_genkeytypes: []" in user_data


def test_the_arbiter_group_admits_qnetd_and_pcsd_from_the_nodes_group_and_ssh_from_admin_cidrs_only(arbitered, dev):
    groups = by_name(of_type(arbitered, "aws:ec2/securityGroup:SecurityGroup"))
    assert sorted(groups) == ["gir-lb-arbiter-sg", "gir-lb-net-sg"]
    arbiter_group, nodes_group = "gir-lb-arbiter-sg-id", "gir-lb-net-sg-id"
    assert groups["gir-lb-arbiter-sg"].inputs["vpcId"] == SUBNET["vpcId"]
    rules = [r for r in of_type(arbitered, INGRESS) if r.inputs["securityGroupId"] == arbiter_group]
    source = lambda r: r.inputs.get("cidrIpv4") or r.inputs["referencedSecurityGroupId"]  # noqa: E731
    seen = sorted((r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"], source(r)) for r in rules)
    assert seen == [("tcp", 22, 22, "10.20.250.0/24"), ("tcp", 2224, 2224, nodes_group), ("tcp", 5403, 5403, nodes_group)]
    egress = of_type(arbitered, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    egress = [r for r in egress if r.inputs["securityGroupId"] == arbiter_group]
    assert [(r.inputs["ipProtocol"], r.inputs["cidrIpv4"]) for r in egress] == [("-1", "0.0.0.0/0")]  # package repositories
    assert arbiter_instance(arbitered).inputs["vpcSecurityGroupIds"] == [arbiter_group]
    # the nodes' group is as without an arbiter: qdevice connects out
    nodes_rules = lambda rs: sorted(r.name for r in of_type(rs, INGRESS) if r.inputs["securityGroupId"] == nodes_group)  # noqa: E731
    assert nodes_rules(arbitered) == nodes_rules(dev)


def test_the_arbiter_steps_connect_to_the_arbiter_with_its_pinned_host_key_and_rerun_when_it_is_replaced(arbitered):
    cmds = commands(arbitered)
    a = arbiter_instance(arbitered)
    prepare = cmds["arbiter-prepare"]
    connection = plain(prepare.inputs["connection"])
    assert connection["host"] == ARBITER_IP and connection["hostKey"] == pulumi_harness.host_public_key(f"{ARBITER}-host-key")
    assert a.urn in prepare.dependencies and cmds["cluster-check"].urn in prepare.dependencies
    assert rpc.is_rpc_secret(prepare.inputs["stdin"]) and plain(prepare.inputs["stdin"]) == GENERATED_PASSWORD + "\n"
    assert prepare.inputs["logging"] == "stderr" and "stdout" in prepare.secret_outputs
    assert plain(prepare.inputs["create"]).startswith("sudo cloud-init status --wait")
    # a new arbiter instance (another CA) re-runs its preparation and the nodes' enrolment
    arbiter_id = pulumi_harness.instance_id(ARBITER_INSTANCE)
    assert [name for name, r in cmds.items() if arbiter_id in r.inputs["triggers"]] == ["arbiter-prepare", "quorum-device"]
    device = cmds["quorum-device"]
    assert plain(device.inputs["connection"])["host"] == "10.20.1.11"  # on node a
    assert {prepare.urn, cmds["cluster-start"].urn} <= set(device.dependencies)
    assert device.urn in cmds["cluster-resources"].dependencies  # priority-fencing-delay 0 only with the device
    assert f"host={ARBITER_IP}" in plain(device.inputs["create"])


def test_only_the_arbiter_steps_wait_for_the_arbiter(arbitered):
    """The nodes' other steps neither wait for the arbiter instance nor depend on it (its id fills no
    argument): only its own step, and the nodes' enrolment, whose trigger holds its instance id."""
    urn = arbiter_instance(arbitered).urn
    waiting = sorted(name for name, r in commands(arbitered).items() if urn in r.dependencies)
    assert waiting == ["arbiter-prepare", "quorum-device"]


def test_a_replaced_arbiter_reruns_exactly_the_arbiter_steps(arbitered, monkeypatch):
    original = pulumi_harness.RecordingMocks.new_resource

    def new_arbiter(self, args):
        resource_id, outputs = original(self, args)
        if args.typ == "aws:ec2/instance:Instance" and args.name == ARBITER_INSTANCE:
            resource_id = "i-0eeeeeeeeeeeeeee0"
        return [resource_id, outputs]

    monkeypatch.setattr(pulumi_harness.RecordingMocks, "new_resource", new_arbiter)
    replaced, _ = deploy(with_device())
    before, after = triggers(arbitered), triggers(replaced)
    differ = sorted(name.removeprefix("gir-lb-boot-") for name in before if before[name] != after[name])
    assert differ == ["arbiter-prepare", "quorum-device"]  # the fence map names the nodes only


def test_the_arbiter_in_its_own_subnet():
    cfg = with_device(subnet_id=OWN_SUBNET["id"], subnet_cidr=OWN_SUBNET["cidrBlock"])
    cfg["cluster"]["quorum_device"]["address"] = "10.20.2.13"
    resources, mocks = deploy(cfg, subnets=[OWN_SUBNET])
    a = arbiter_instance(resources)
    assert (a.inputs["subnetId"], a.inputs["privateIp"]) == (OWN_SUBNET["id"], "10.20.2.13")
    nodes = [i for i in of_type(resources, "aws:ec2/instance:Instance") if i.name != ARBITER_INSTANCE]
    assert {i.inputs["subnetId"] for i in nodes} == {SUBNET["id"]}


def test_an_arbiter_subnet_that_differs_in_aws_is_refused_before_any_resource(monkeypatch):
    seen = []
    original = pulumi_harness.RecordingMonitor.RegisterResource
    monkeypatch.setattr(
        pulumi_harness.RecordingMonitor, "RegisterResource", lambda self, req: seen.append(req.type) or original(self, req)
    )
    cfg = with_device(subnet_id=OWN_SUBNET["id"], subnet_cidr=OWN_SUBNET["cidrBlock"])
    cfg["cluster"]["quorum_device"]["address"] = "10.20.2.13"
    elsewhere = {**OWN_SUBNET, "cidrBlock": "10.20.3.0/24", "vpcId": "vpc-0other"}
    with pytest.raises(SettingsError) as info:
        deploy(cfg, subnets=[elsewhere])
    assert info.value.problems == [
        f"gir-lb:cluster.quorum_device.subnet_cidr: {OWN_SUBNET['id']} is 10.20.3.0/24 in AWS, not 10.20.2.0/24",
        f"gir-lb:cluster.quorum_device.subnet_id: {OWN_SUBNET['id']} is in vpc-0other, not in the nodes' VPC vpc-0abc"
        f" (network.subnet_id {SUBNET['id']})",
        "gir-lb:cluster.quorum_device.address: 10.20.2.13 is outside subnet_cidr 10.20.3.0/24 (the subnet as AWS reports it)",
    ]
    assert [t for t in seen if t != "pulumi:pulumi:Stack"] == []
    # the same subnet as the stack says: accepted
    deploy(cfg, subnets=[OWN_SUBNET])


def test_the_arbiter_gets_the_same_status_check_alarm_as_the_nodes():
    resources = deploy(with_device(monitoring={"alarm_topic_arn": TOPIC}))[0]
    alarms = by_name(of_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm"))
    nodes = [f"gir-lb-hosts-{node}-status-check" for node in ("lb-dev-a", "lb-dev-b")]
    assert sorted(alarms) == [f"{ARBITER}-status-check", *nodes]
    arbiter_alarm, node_alarm = alarms[f"{ARBITER}-status-check"], alarms[nodes[0]]
    assert arbiter_alarm.inputs["dimensions"] == {"InstanceId": pulumi_harness.instance_id(ARBITER_INSTANCE)}
    assert arbiter_alarm.inputs["alarmDescription"] == "gir-lb dev arbiter: EC2 instance or system status check failed"
    same = lambda a: {k: v for k, v in a.inputs.items() if k not in ("dimensions", "alarmDescription")}  # noqa: E731
    assert same(arbiter_alarm) == same(node_alarm)
    assert arbiter_instance(resources).urn in arbiter_alarm.dependencies


def test_without_a_device_nothing_of_an_arbiter_exists(dev):
    assert not [r.name for r in dev if "arbiter" in r.name]
    assert len(of_type(dev, "aws:ec2/instance:Instance")) == 2
    device = commands(dev)["quorum-device"]  # removes a device left out of the stack
    assert len(device.inputs["triggers"]) == 1 and "pcs quorum device remove" in plain(device.inputs["create"])


def test_an_existing_arbiter_makes_no_resource_and_the_nodes_enrol_with_the_given_password():
    cfg = with_device(create=False)
    cfg["cluster"]["quorum_device"]["address"] = "10.20.9.9"  # anywhere the nodes reach
    cfg["hacluster_password"] = PASSWORD
    resources, _ = deploy(cfg, secrets={"hacluster_password": pulumi.Output.secret(PASSWORD)})
    assert not [r.name for r in resources if "arbiter" in r.name]
    assert len(of_type(resources, "aws:ec2/instance:Instance")) == 2
    assert len(of_type(resources, "aws:ec2/securityGroup:SecurityGroup")) == 1
    cmds = commands(resources)
    assert "arbiter-prepare" not in cmds
    device = cmds["quorum-device"]
    assert plain(device.inputs["stdin"]) == PASSWORD + "\n" and rpc.is_rpc_secret(device.inputs["stdin"])
    assert "host=10.20.9.9" in plain(device.inputs["create"]) and len(device.inputs["triggers"]) == 1


def test_with_an_arbiter_secrets_stay_secret():
    resources, _ = deploy(with_device(), secrets={"hacluster_password": pulumi.Output.secret(PASSWORD)})
    for r in resources:
        text = json.dumps({k: v for k, v in r.inputs.items() if not rpc.is_rpc_secret(v)}, default=str)
        for secret in (PASSWORD, "SSH-KEY-MATERIAL", "GENERATED-KEY-MATERIAL", f"HOST-KEY-MATERIAL-{ARBITER}"):
            assert secret not in text, f"{secret} in plain inputs of {r.name}"
    for name in ("arbiter-prepare", "quorum-device"):
        assert plain(commands(resources)[name].inputs["stdin"]) == PASSWORD + "\n"
        assert PASSWORD not in json.dumps(plain(commands(resources)[name].inputs["create"]))


# --- vip_mode overlay: the pair across two AZs (stacks/Pulumi.dev-multi-az.yaml) -----------------

OVERLAY_TABLES = ["rtb-0a1b2c3d4e5f60718", "rtb-0a1b2c3d4e5f60729"]


@pytest.fixture(scope="module")
def overlay():
    return deploy(stack_config("dev-multi-az"), subnets=[SECOND_SUBNET])[0]


def test_an_overlay_pair_has_a_node_in_each_subnet_and_the_vip_routed_to_node_a(overlay):
    a, b = sorted(of_type(overlay, "aws:ec2/instance:Instance"), key=lambda r: r.name)  # registered in any order
    assert (a.inputs["subnetId"], a.inputs["privateIp"]) == (SUBNET["id"], "10.20.1.11")
    assert (b.inputs["subnetId"], b.inputs["privateIp"]) == (SECOND_SUBNET["id"], "10.20.2.12")
    assert a.inputs["sourceDestCheck"] is False and b.inputs["sourceDestCheck"] is False  # both may carry the VIP
    assert of_type(overlay, "aws:ec2/subnetCidrReservation:SubnetCidrReservation") == []  # the VIP is in no subnet
    routes = of_type(overlay, "aws:ec2/route:Route")
    assert sorted(r.inputs["routeTableId"] for r in routes) == OVERLAY_TABLES
    eni_a = "eni-" + pulumi_harness.instance_id(a.name).removeprefix("i-")
    for r in routes:
        assert r.inputs["destinationCidrBlock"] == "192.168.20.50/32" and r.inputs["networkInterfaceId"] == eni_a
        assert r.ignore_changes == ["networkInterfaceId"]  # Pacemaker owns the target after the first up
        assert a.urn in r.dependencies
    # every step waits for the routes: cluster-resources must not start the agent before they exist
    for step in of_type(overlay, "command:remote:Command"):
        assert {r.urn for r in routes} <= set(step.dependencies), step.name


def test_an_overlay_pairs_role_may_rewrite_only_the_named_route_tables(overlay):
    policy = json.loads(of_type(overlay, "aws:iam/rolePolicy:RolePolicy")[0].inputs["policy"])
    statements = {st["Sid"]: st for st in policy["Statement"]}
    assert statements["Describe"] == {
        "Sid": "Describe",
        "Effect": "Allow",
        "Action": ["ec2:DescribeInstances", "ec2:DescribeRouteTables"],
        "Resource": "*",
    }
    assert statements["MoveVip"]["Action"] == "ec2:ReplaceRoute"  # the agent never creates a route
    assert statements["MoveVip"]["Resource"] == [f"arn:aws:ec2:eu-west-1:123456789012:route-table/{t}" for t in OVERLAY_TABLES]
    assert statements["Fence"]["Action"] == ["ec2:StopInstances", "ec2:StartInstances"]  # fence_aws as with one subnet


def test_an_overlay_pair_serves_clients_on_the_vip_and_exports_it(overlay):
    rules = {r.name for r in of_type(overlay, INGRESS)}
    # a security group filters by source and port, whatever the destination: the rules that admit
    # clients to the node addresses admit them to the overlay VIP
    assert {"gir-lb-net-http-80-10.20.0.0_16", "gir-lb-net-http-443-10.20.0.0_16"} <= rules
    s = parse_settings(stack_config("dev-multi-az"))
    assert s.base_url == "https://192.168.20.50" and s.tenant_urls["t1"]["htcc.baseurl"] == "https://192.168.20.50/t1"


def overlay_refusal(seen: list, **aws) -> list[str]:
    with pytest.raises(SettingsError) as info:
        deploy(stack_config("dev-multi-az"), **aws)
    assert [t for t in seen if t != "pulumi:pulumi:Stack"] == []  # nothing registered
    return info.value.problems


def test_an_overlay_stack_is_checked_against_aws_before_any_resource(monkeypatch):
    seen: list[str] = []
    original = pulumi_harness.RecordingMonitor.RegisterResource
    monkeypatch.setattr(
        pulumi_harness.RecordingMonitor, "RegisterResource", lambda self, req: seen.append(req.type) or original(self, req)
    )
    same_az = {**SECOND_SUBNET, "availabilityZone": SUBNET["availabilityZone"]}
    assert overlay_refusal(seen, subnets=[same_az]) == [
        f"gir-lb:network.second_subnet.id: {SECOND_SUBNET['id']} is in eu-west-1a, as is subnet_id: both nodes would"
        " go with that AZ: pick a subnet in another AZ"
    ]
    elsewhere = {**SECOND_SUBNET, "cidrBlock": "10.20.3.0/24", "vpcId": "vpc-0other"}
    two_blocks = {**pulumi_harness.VPC, "cidrBlockAssociations": [{"cidrBlock": "10.20.0.0/16"}, {"cidrBlock": "192.168.0.0/16"}]}
    assert overlay_refusal(seen, subnets=[elsewhere], vpc=two_blocks, route_table_vpcs={OVERLAY_TABLES[1]: "vpc-0other"}) == [
        f"gir-lb:network.second_subnet.cidr: {SECOND_SUBNET['id']} is 10.20.3.0/24 in AWS, not 10.20.2.0/24",
        f"gir-lb:network.second_subnet.id: {SECOND_SUBNET['id']} is in vpc-0other, not in nodes[0]'s VPC vpc-0abc",
        "gir-lb:network.vip: 192.168.20.50 is inside 192.168.0.0/16, a CIDR block of vpc-0abc: an overlay VIP must be"
        " outside the VPC",
        f"gir-lb:network.route_table_ids[1]: {OVERLAY_TABLES[1]} is in vpc-0other, not in the nodes' VPC vpc-0abc",
    ]
    other_block = {**pulumi_harness.VPC, "cidrBlockAssociations": [{"cidrBlock": "10.21.0.0/16"}]}
    assert overlay_refusal(seen, subnets=[SECOND_SUBNET], vpc=other_block) == [
        "gir-lb:network.vpc_cidr: 10.20.0.0/16 is not a CIDR block of vpc-0abc, which has 10.21.0.0/16"
    ]
