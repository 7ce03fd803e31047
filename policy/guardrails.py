"""The platform guardrails as CrossGuard resource policies (the pack is policy/__main__.py).

Props are the inputs the engine sends: secrets unwrapped, numbers possibly floats; an unknown value
during preview raises UnknownValueError, which the SDK turns into an advisory diagnostic."""

from __future__ import annotations

import json
import re

import pulumi
from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
INSTANCE = "aws:ec2/instance:Instance"
REMOTE_COMMAND = "command:remote:Command"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROUTE_ACTIONS = {"ec2:ReplaceRoute", "ec2:CreateRoute", "ec2:DeleteRoute", "ec2:*", "*"}
ROUTE_TABLE_ARN = re.compile(r"arn:aws:ec2:[a-z0-9-]+:[0-9]{12}:route-table/rtb-[0-9a-f]{8,17}")
WORLD = (("cidrIpv4", "0.0.0.0/0"), ("cidrIpv6", "::/0"))
# gir-lb-exporter, PCP's pmproxy (RHEL), the node exporter (Debian): blueprint/profiles.py, which
# this directory cannot import (tests/unit/test_policy.py keeps the two in step).
METRICS_PORTS = (9663, 44322, 9100)


def _open_to_the_world(p, port: int) -> bool:
    every_port = p.get("ipProtocol") == "-1"  # "all traffic": AWS ignores the port fields
    return (every_port or p.get("fromPort", 0) <= port <= p.get("toPort", -1)) and any(p.get(k) == c for k, c in WORLD)


def no_public_ssh(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != INGRESS_RULE:
        return  # props of other types are never read: an unknown there must not trip this policy
    if _open_to_the_world(args.props, 22):
        report(f"{args.name}: SSH open to the world", None)


def no_public_metrics(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """The exporters answer anyone, without TLS: the cluster's state and every member's URL."""
    if args.resource_type != INGRESS_RULE:
        return
    if ports := [port for port in METRICS_PORTS if _open_to_the_world(args.props, port)]:
        report(f"{args.name}: metrics port {', '.join(map(str, ports))} open to the world", None)


def imdsv2_required(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == INSTANCE and (args.props.get("metadataOptions") or {}).get("httpTokens") != "required":
        report(f"{args.name}: IMDSv2 not required", None)


def volumes_encrypted(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == INSTANCE and not (args.props.get("rootBlockDevice") or {}).get("encrypted"):
        report(f"{args.name}: root volume not encrypted", None)


def ssh_host_key_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """pulumi-command accepts any host key when a connection names none: a step could then hand its
    secrets (stdin) to whoever answers at that address."""
    if args.resource_type != REMOTE_COMMAND:
        return
    connection = args.props.get("connection") or {}
    if not connection.get("host"):
        return  # not known yet (a first preview: the machine is not made); checked again at `up`
    if not connection.get("hostKey"):
        report(f"{args.name}: connects to {connection.get('host')} without a pinned host key", None)
    proxy = connection.get("proxy")
    if proxy and not proxy.get("hostKey"):
        report(f"{args.name}: connects through {proxy.get('host')} without a pinned host key", None)


def environment() -> str | None:
    # The same key the program reads (required by Pulumi.yaml): the CLI hands the stack's config to
    # the pack, so this is per stack without a policy-config file to keep in step.
    return pulumi.Config("gir-lb").get("environment")


def _as_list(value) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def overlay_route_tables_named(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Route changes only in named route tables: a role that may rewrite any table can send the
    VPC's traffic anywhere. An overlay stack (network.vip_mode) must grant them on at least one, or
    its VIP never moves."""
    if args.resource_type != ROLE_POLICY:
        return
    statements = _as_list(json.loads(args.props.get("policy") or "{}").get("Statement"))
    routing = [st for st in statements if ROUTE_ACTIONS & set(_as_list(st.get("Action")))]
    for st in routing:
        tables = _as_list(st.get("Resource"))
        if not tables or not all(isinstance(r, str) and ROUTE_TABLE_ARN.fullmatch(r) for r in tables):
            report(f"{args.name}: changes routes in {tables or 'no table'}, not only in named route tables", None)
    network = pulumi.Config("gir-lb").get_object("network") or {}
    if network.get("vip_mode") == "overlay" and not routing:
        report(f"{args.name}: an overlay stack's role may change no route table (network.route_table_ids)", None)


def prod_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if environment() == "prod" and args.resource_type.startswith("aws:") and not args.opts.protect:
        report(f"{args.name}: not protected in prod", None)


POLICIES: list[Policy] = [
    ResourceValidationPolicy("no-public-ssh", "No ingress rule opens port 22 to the world.", no_public_ssh),
    ResourceValidationPolicy("no-public-metrics", "No ingress rule opens an exporter's port to the world.", no_public_metrics),
    ResourceValidationPolicy("imdsv2-required", "Instances require IMDSv2 tokens.", imdsv2_required),
    ResourceValidationPolicy("volumes-encrypted", "Instance root volumes are encrypted.", volumes_encrypted),
    ResourceValidationPolicy("prod-protected", "In prod every AWS resource is protected.", prod_protected),
    ResourceValidationPolicy(
        "overlay-route-tables-named",
        "Route changes are granted only on named route tables, and an overlay stack names at least one.",
        overlay_route_tables_named,
    ),
    ResourceValidationPolicy("ssh-host-key-pinned", "Every SSH connection and its bastion pin a host key.", ssh_host_key_pinned),
]
