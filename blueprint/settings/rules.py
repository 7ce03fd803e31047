"""What holds across the parts of a stack: where its OS profile and VIP mode can run, the
addresses of nodes, VIP and members together, and the risky choices (warned, refused in prod).
Each function returns (key path, why) pairs; the model reports them all at once."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from ..profiles import PROFILES
from .addresses import is_local, vip_problem
from .tls import tls_pair
from .types import NAMESPACE

if TYPE_CHECKING:
    from .model import Settings


def risks(s: Settings) -> list[tuple[str, str, bool]]:
    """(key, why, refused in prod) of each accepted but risky choice."""
    out = []
    if not s.fencing:
        out.append(("cluster.fencing.mode", "STONITH is disabled; a split brain can put the VIP on both nodes", True))
    opened = (
        ("network.admin_cidrs", s.network.admin_cidrs, "SSH"),
        ("network.client_cidrs", s.network.client_cidrs, "HTTP(S)"),
        ("monitoring.source_cidrs", s.monitoring.source_cidrs, "the exporters"),
    )
    for key, cidrs, what in opened:
        for i, c in enumerate(cidrs):
            if c.prefixlen < 8:
                wide = "the whole internet" if c.prefixlen == 0 else "more than a /8 of addresses"
                why = f"{c} opens {what} to {wide}; list your own networks"
                out.append((f"{key}[{i}]", why, True))
    if s.environment == "prod":
        if s.httpd.tls.enabled and s.tls_cert is None:
            out.append(("tls_cert", "prod serves a generated self-signed certificate; set tls_cert and tls_key", False))
        if not s.httpd.tls.enabled:
            why = "prod serves plain HTTP: recordings and passwords cross the network in clear"
            out.append(("httpd.tls.enabled", why, False))
        if s.protect is False:
            out.append(("protect", "prod resources are not protected from deletion", False))
    return out


def warnings(s: Settings) -> list[str]:
    prod = s.environment == "prod"
    return [f"{NAMESPACE}:{key}: {why}" for key, why, refused in risks(s) if not (prod and refused)]


def deploy_problems(s: Settings) -> list[str]:
    items = []
    if s.platform == "lab" and s.httpd.tls.enabled:
        items.append(("httpd.tls.enabled", "the lab has no certificate source (pulumi-tls cannot be built here): use false"))
    if s.platform == "lan":
        why = "a lan stack is rendered (python -m blueprint render) and installed by hand; the program builds aws and lab"
        items.append(("platform", why))
    if s.environment == "prod" and s.httpd.tls.enabled and s.tls_cert is None:
        items.append(("tls_cert", "prod must not serve a generated self-signed certificate: set tls_cert and tls_key"))
    return [f"{NAMESPACE}:{key}: {why}" for key, why in items]


def platform_problems(s: Settings) -> list[tuple[str, str]]:
    items = []
    if why := s.profile.not_on.get(s.platform):
        there = " or ".join(name for name, p in PROFILES.items() if s.platform in p.platforms)
        items.append(("os_profile", f"{why}: use {there}"))
    if s.platform == "aws" and s.network.vip_mode == "l2":
        why = "l2 (IPaddr2 alone) cannot move an address on AWS, whose network delivers only addresses assigned"
        items.append(("network.vip_mode", why + " through its API: use aws"))
    if s.platform == "lan":
        # The lab runs both VIP modes: aws and fence_aws against its EC2 emulator.
        if s.network.vip_mode != "l2":
            agent = {"aws": "awsvip", "overlay": "aws-vpc-move-ip"}[s.network.vip_mode]
            why = f"{s.network.vip_mode} ({agent}) calls the EC2 API, which platform {s.platform} has not: use l2"
            items.append(("network.vip_mode", why))
        if s.fencing:
            why = f"fence_aws powers off EC2 instances, which platform {s.platform} has not: use disabled"
            items.append(("cluster.fencing.mode", why))
    if s.profile.metrics is None and s.monitoring.source_cidrs:
        why = f"{s.os_profile} nodes run no exporter (no Python 3, no packaged exporter): leave it empty"
        items.append(("monitoring.source_cidrs", why))
    arn = s.monitoring.alarm_topic_arn
    if arn is not None and s.platform != "aws":
        items.append(("monitoring.alarm_topic_arn", f"CloudWatch alarms exist only on aws, not on platform {s.platform}"))
    elif arn is not None and arn.split(":")[3] != s.network.region:
        why = f"the topic is in {arn.split(':')[3]}: CloudWatch notifies only a topic in the stack's region {s.network.region}"
        items.append(("monitoring.alarm_topic_arn", why))
    if s.cluster.transport not in (None, s.profile.transport):
        why = f"{s.os_profile} runs {s.profile.cluster_stack}: use {s.profile.transport}"
        items.append(("cluster.transport", why))
    return items


def address_problems(s: Settings) -> list[tuple[str, str]]:
    items = []
    net, nodes = s.network, s.cluster.nodes
    for i, node in enumerate(nodes):
        subnet = net.node_subnet(i)[1]
        if problem := vip_problem(node.ip, subnet, on_aws=s.in_ec2_subnet):
            where = "network.second_subnet.cidr" if subnet != net.subnet_cidr else "subnet_cidr"
            items.append((f"cluster.nodes[{i}].ip", problem.replace("subnet_cidr", where)))
        if node.ip == net.vip:
            items.append((f"cluster.nodes[{i}].ip", f"{node.ip} is also network.vip"))
    # A member on the balancer's own addresses (any port: the VIP and the nodes serve nothing
    # but the balancer and the cluster) or on this node's own httpd port sends requests in a loop.
    own = {str(net.vip): "network.vip"}
    for i, node in enumerate(nodes):
        own |= {str(node.ip): f"cluster.nodes[{i}].ip", node.name: f"cluster.nodes[{i}].name"}
    listen = {port for port, _ in s.httpd.listen_ports}
    for ti, t in enumerate(s.tenants):
        for svc, mi, m in t.members:
            key = f"tenants[{ti}].{svc}.members[{mi}].url"
            if m.host in own:
                items.append((key, f"{m.host} is {own[m.host]}: a member cannot be the balancer itself"))
            elif is_local(m.host) and m.port in listen:
                items.append((key, f"{m.host}:{m.port} is this node's own httpd: a member cannot be the balancer itself"))
    return items


def quorum_device_problems(s: Settings) -> list[tuple[str, str]]:
    qd = s.cluster.quorum_device
    if qd is None:
        return []
    key = "cluster.quorum_device"
    if s.profile.quorum_device is None:
        return [(key, f"{s.os_profile} runs {s.profile.cluster_stack}, which has no corosync-qdevice: leave it out")]
    items = []
    taken = {s.network.vip: "network.vip"} | {n.ip: f"cluster.nodes[{i}].ip" for i, n in enumerate(s.cluster.nodes)}
    if qd.address in taken:
        why = "the arbiter must be a third host: a node or the VIP cannot vote for itself"
        items.append((f"{key}.address", f"{qd.address} is also {taken[qd.address]}: {why}"))
    if qd.create and s.platform == "lan":
        items.append((f"{key}.create", "gir-lb makes an arbiter on aws or in the lab; on a lan name an existing one"))
    if not qd.create and s.platform == "lab":
        items.append((f"{key}.create", "the lab makes its own arbiter (a box on its switch): use true"))
    if qd.create and s.platform == "lab" and qd.subnet_id is not None:
        items.append((f"{key}.subnet_id", "the lab has one subnet: leave it out"))
    if qd.create and qd.address not in taken:
        net = qd.subnet_cidr or s.network.subnet_cidr
        where = "quorum_device.subnet_cidr" if qd.subnet_cidr else "network.subnet_cidr"
        if problem := vip_problem(qd.address, net, on_aws=s.in_ec2_subnet):
            items.append((f"{key}.address", problem.replace("subnet_cidr", where)))
    if s.network.vip_mode == "overlay":
        # The arbiter's vote only helps the survivor of an AZ outage if it lives in a third AZ.
        node_subnets = {s.network.node_subnet(i) for i in range(len(s.cluster.nodes))}
        why = "an AZ outage would take it with a node, and the survivor (1 vote of 3) would stop serving"
        if qd.create and qd.subnet_id is None and s.platform == "aws":
            items.append((f"{key}.subnet_id", f"required with vip_mode overlay: a subnet in a third AZ ({why})"))
        elif qd.subnet_id is not None and qd.subnet_id in {subnet_id for subnet_id, _ in node_subnets}:
            items.append((f"{key}.subnet_id", f"{qd.subnet_id} is a node's subnet: use one in a third AZ ({why})"))
        elif not qd.create and any(qd.address in cidr for _, cidr in node_subnets):
            items.append((f"{key}.address", f"{qd.address} is in a node's subnet: use an arbiter in a third AZ ({why})"))
    if not qd.create and s.hacluster_password is None:
        why = "an existing arbiter's pcsd signs the nodes' certificates only for its hacluster user: set the"
        items.append(("hacluster_password", f"{why} password it accepts (a secret) with quorum_device.create: false"))
    if "delay_s" in s.cluster.fencing.model_fields_set:
        why = "priority-fencing-delay is not used with a quorum device (the arbiter settles a split): leave it out"
        items.append(("cluster.fencing.delay_s", why))
    return items


def problems(s: Settings) -> list[tuple[str, str]]:
    """Every problem across parts, in the order they are reported."""
    items = platform_problems(s) + address_problems(s) + quorum_device_problems(s)
    for tid, n in Counter(t.id for t in s.tenants).items():
        if n > 1:
            idx = [i for i, t in enumerate(s.tenants) if t.id == tid]
            items.append((f"tenants[{idx[1]}].id", f"tenant id {tid!r} is also tenants[{idx[0]}].id"))
    if s.ssh.bastion_host and not s.ssh.bastion_host_key:
        why = "required with ssh.bastion_host: the bootstrap pins every host key it connects to"
        items.append(("ssh.bastion_host_key", why))
    if s.tls_key is not None and s.tls_cert is None:
        items.append(("tls_key", "a TLS key was given without tls_cert"))
    if s.tls_cert is not None and s.tls_key is None:
        items.append(("tls_cert", "a TLS certificate was given without tls_key"))
    items += tls_pair(s.tls_cert, s.tls_key.get_secret_value() if s.tls_key else None)
    if s.environment == "prod":
        items += [(key, f"{why} (not allowed in prod)") for key, why, refused in risks(s) if refused]
    return items
