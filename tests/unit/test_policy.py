"""The CrossGuard pack (policy/) run in-process against what the mocked program registers: the
real policy objects, fed the args the engine would build from each registration."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import grpc
import pytest
from google.protobuf.empty_pb2 import Empty
from pulumi.runtime.config import CONFIG
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from blueprint.profiles import EXPORTER_PORT, PROFILES
from harness.pulumi_mocks import SUBNET, Registered, plain
from policy.guardrails import INGRESS_RULE, METRICS_PORTS, POLICIES
from tests.conftest import REPO, stack_config
from tests.unit.test_pulumi import SECOND_SUBNET, deploy


def policy_args(r: Registered) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(r.protect, r.ignore_changes, None, [], PolicyCustomTimeouts(0, 0, 0), r.secret_outputs, r.parent)
    # The engine hands policies plain values (secrets unwrapped) behind the unknown-checking proxy.
    return ResourceValidationArgs(r.type, unknown_checking_proxy(plain(r.inputs)), r.urn, r.name, opts, None)


def violations(resources: list[Registered], environment: str, network: dict | None = None) -> set[tuple[str, str]]:
    """(policy, resource) for every report_violation; the stack's config is what the CLI would pass
    (objects as JSON)."""
    found: set[tuple[str, str]] = set()
    token = CONFIG.set({"gir-lb:environment": environment} | ({"gir-lb:network": json.dumps(network)} if network else {}))
    try:
        for r in resources:
            args = policy_args(r)
            for policy in POLICIES:
                policy.validate(args, lambda _message, _urn=None, name=policy.name, resource=r.name: found.add((name, resource)))
    finally:
        CONFIG.reset(token)
    return found


@pytest.fixture(scope="module")
def prod():
    return deploy(stack_config("prod"), subnet={**SUBNET, "cidrBlock": "10.40.1.0/24"})[0]


@pytest.fixture(scope="module")
def dev():
    return deploy(stack_config("dev"))[0]


def test_prod_and_dev_pass(prod, dev):
    assert violations(prod, "prod") == set()
    assert violations(dev, "dev") == set()  # dev is unprotected: the prod check keys on the environment


def test_prod_with_exporter_rules_and_alarms_passes():
    cfg = stack_config("prod")
    cfg["monitoring"] = {"source_cidrs": ["10.40.240.0/24"], "alarm_topic_arn": "arn:aws:sns:eu-west-1:123456789012:gir-lb"}
    resources = deploy(cfg, subnet={**SUBNET, "cidrBlock": "10.40.1.0/24"})[0]
    types = [r.type for r in resources]
    assert types.count("aws:cloudwatch/metricAlarm:MetricAlarm") == 2
    assert violations(resources, "prod") == set()


def test_prod_with_an_arbiter_passes():
    cfg = stack_config("prod")
    cfg["cluster"]["quorum_device"] = {"address": "10.40.1.13", "create": True}
    cfg["monitoring"] = {"alarm_topic_arn": "arn:aws:sns:eu-west-1:123456789012:gir-lb"}
    resources = deploy(cfg, subnet={**SUBNET, "cidrBlock": "10.40.1.0/24"})[0]
    arbiter = [r for r in resources if r.name.startswith("gir-lb-arbiter")]
    assert {r.type for r in arbiter} >= {"aws:ec2/instance:Instance", "aws:ec2/securityGroup:SecurityGroup", INGRESS_RULE}
    assert violations(resources, "prod") == set()


def test_exporters_open_to_the_world_are_caught():
    # The settings only warn of it outside prod; the pack refuses it everywhere, like SSH.
    cfg = stack_config("dev")
    cfg["monitoring"] = {"source_cidrs": ["0.0.0.0/0"]}
    resources = deploy(cfg)[0]
    assert violations(resources, "dev") == {
        ("no-public-metrics", "gir-lb-net-metrics-9663-0.0.0.0_0"),
        ("no-public-metrics", "gir-lb-net-metrics-44322-0.0.0.0_0"),
    }


def test_the_pack_knows_every_exporter_port():
    assert set(METRICS_PORTS) == {EXPORTER_PORT} | {p.metrics.port for p in PROFILES.values() if p.metrics}


def test_each_violation_is_caught_by_its_policy(prod):
    bad = copy.deepcopy(prod)
    named = {r.name: r for r in bad}
    a, b = "gir-lb-hosts-lb-prod-a", "gir-lb-hosts-lb-prod-b"
    named[a].inputs["metadataOptions"]["httpTokens"] = "optional"
    named[b].inputs["rootBlockDevice"]["encrypted"] = False
    named["gir-lb-net-ssh-10.40.250.0_24"].inputs["cidrIpv4"] = "0.0.0.0/0"
    named["gir-lb-net-sg"].protect = False
    del named["gir-lb-boot-cluster-check"].inputs["connection"]["value"]["hostKey"]  # a secret: its value
    assert violations(bad, "prod") == {
        ("ssh-host-key-pinned", "gir-lb-boot-cluster-check"),
        ("imdsv2-required", a),
        ("volumes-encrypted", b),
        ("no-public-ssh", "gir-lb-net-ssh-10.40.250.0_24"),
        ("prod-protected", "gir-lb-net-sg"),
    }
    assert ("prod-protected", "gir-lb-net-sg") not in violations(bad, "staging")


def test_a_bastion_without_a_pinned_host_key_is_caught():
    bad = deploy(stack_config("test-example"))[0]
    push = next(r for r in bad if r.name == "gir-lb-boot-httpd-push-0")
    connection = push.inputs["connection"]["value"]  # a secret: its value
    del connection["proxy"]["hostKey"]
    assert ("ssh-host-key-pinned", push.name) in violations(bad, "test-pr-1")


def test_ssh_open_to_any_ipv6_is_caught(dev):
    bad = copy.deepcopy(dev)
    rule = next(r for r in bad if r.name == "gir-lb-net-ssh-10.20.250.0_24")
    del rule.inputs["cidrIpv4"]
    rule.inputs.update(cidrIpv6="::/0", fromPort=0, toPort=1024)  # a range containing 22 counts too
    assert violations(bad, "dev") == {("no-public-ssh", rule.name)}


def test_the_pack_starts_and_declares_the_policies():
    # As the CLI runs it: `python -m pulumi.policy <engine> policy`, which prints its gRPC port.
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "policy"], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(Empty())
    finally:
        proc.kill()
        proc.wait()
    assert info.name == "gir-lb-guardrails"
    assert {(p.name, p.enforcementLevel) for p in info.policies} == {(p.name, analyzer_pb2.MANDATORY) for p in POLICIES}


def test_an_all_traffic_rule_open_to_the_world_is_caught(dev):
    bad = copy.deepcopy(dev)
    rule = next(r for r in bad if r.name == "gir-lb-net-ssh-10.20.250.0_24")
    rule.inputs.update(cidrIpv4="0.0.0.0/0", ipProtocol="-1", fromPort=0, toPort=0)  # AWS ignores ports for -1
    assert violations(bad, "dev") == {("no-public-ssh", rule.name), ("no-public-metrics", rule.name)}


def test_an_overlay_stack_passes_and_its_route_permissions_are_checked():
    config = stack_config("dev-multi-az")
    network = config["network"]
    resources = deploy(config, subnets=[SECOND_SUBNET])[0]
    assert violations(resources, "dev-multi-az", network) == set()
    role_policy = next(r for r in resources if r.type == "aws:iam/rolePolicy:RolePolicy")
    document = json.loads(role_policy.inputs["policy"])
    move = next(st for st in document["Statement"] if st["Sid"] == "MoveVip")
    for anywhere in ("*", [], ["arn:aws:ec2:eu-west-1:123456789012:route-table/*"]):
        move["Resource"] = anywhere
        role_policy.inputs["policy"] = json.dumps(document)
        assert violations(resources, "dev-multi-az", network) == {("overlay-route-tables-named", role_policy.name)}
    document["Statement"].remove(move)  # no route permission at all: the VIP could never move
    role_policy.inputs["policy"] = json.dumps(document)
    assert violations(resources, "dev-multi-az", network) == {("overlay-route-tables-named", role_policy.name)}
    assert violations(resources, "dev", {**network, "vip_mode": "aws"}) == set()
