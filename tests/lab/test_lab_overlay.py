"""The two-AZ overlay VIP in the lab (stacks/Pulumi.lab-overlay.yaml): the VIP's aws-vpc-move-ip
agent and fence_aws as the stack renders them, on nodes in two subnets joined by the lab's VPC
router, against the EC2 emulator's route tables, under a probe of the VIP every 100 ms. Ground truth comes from the
emulator (its route tables, asked through its API; its history of routes and power changes), from
the router (where it sends the VIP's traffic) and from the probe (which node proxied each answer).
Downtime bounds are sanity limits; the printed figures are the measurements (medians:
bench/failover.py)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time

import pytest

from lab import ec2
from lab.boxes import wait_for
from lab.runner import Failover, Lab

# Node loss pays detection (~2 s), the priority fencing delay (5 s), Pacemaker's election,
# fence_aws, then the agent's start over two tables (the stock one: three rounds of one AWS CLI
# call and a 1 s pause per table, check, replace, check again), then httpd: ~20 s measured with
# the stock start.
SANITY_NODE_LOSS_S = 45
SANITY_HTTPD_S = 10


@pytest.fixture(scope="module")
def lab():
    lab = Lab(f"co{os.getpid()}", stack="lab-overlay")
    try:
        lab.up()
        yield lab
    finally:
        lab.down()


def node_ip(lab: Lab, name: str) -> str:
    return str(next(n.ip for n in lab.settings.cluster.nodes if n.name == name))


def eni_of(lab: Lab, name: str) -> str:
    return next(n["eni"] for n in lab.ec2_world["nodes"] if n["name"] == name)


def instance_of(lab: Lab, name: str) -> str:
    return next(n["instance_id"] for n in lab.ec2_world["nodes"] if n["name"] == name)


def other(lab: Lab, name: str) -> str:
    return next(n.name for n in lab.settings.cluster.nodes if n.name != name)


def routed_to(lab: Lab, name: str) -> None:
    """Every named table routes the VIP to `name`'s ENI (asked of the EC2 API), and the lab's
    router sends the VIP's traffic to that ENI's address."""
    assert lab.vip_routes() == dict.fromkeys(map(str, lab.settings.network.route_table_ids), eni_of(lab, name))
    assert lab.router_vip_route() == node_ip(lab, name)


def route_events(f: Failover) -> list[dict[str, str | None]]:
    return [e["targets"] for e in f.ec2 if e["event"] == "route"]


def run(lab: Lab, node: str, script: str) -> str:
    return lab.box(node).run("bash", "-c", script, net_only=True, check=True).stdout


def test_the_nodes_live_in_two_subnets_joined_by_the_router(lab):
    """Each node in its own subnet, its default route via the router's .1 there; the client reaches
    the VIP through the router too; each node gets its own identity from the metadata service
    through the router (its ENI by the MAC of its own eth0, as aws-vpc-move-ip asks)."""
    s = lab.settings
    for i, node in enumerate(s.cluster.nodes):
        subnet = s.network.node_subnet(i)[1]
        address = run(lab, node.name, "ip -o -4 addr show dev eth0").split()[3]
        assert ipaddress.IPv4Interface(address).network == subnet
        assert run(lab, node.name, "ip route show default").split()[:3] == ["default", "via", str(subnet.network_address + 1)]
        mac = lab.box(node.name).run("cat", "/sys/class/net/eth0/address", check=True).stdout.strip()
        world = next(n for n in lab.ec2_world["nodes"] if n["name"] == node.name)
        assert mac == world["mac"]
        md = "http://169.254.169.254/latest"
        imds = (
            f't=$(curl -sf -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" {md}/api/token)'
            f' && curl -sf -H "X-aws-ec2-metadata-token: $t" {md}/meta-data/network/interfaces/macs/{mac}/interface-id'
        )
        assert run(lab, node.name, imds) == world["eni"]
    route = run(lab, "client", f"ip route get {s.network.vip}").split()
    assert route[route.index("via") + 1] == str(ec2.services_subnet(s).network_address + 1)
    assert {str(c) for c in lab.ec2_world["subnets"]} == {str(s.network.node_subnet(i)[1]) for i in (0, 1)}
    # the host takes no part: no address of the lab's on it (the router is the switch box's)
    addrs = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    assert "198.18." not in addrs and "198.19." not in addrs


def test_the_nodes_credentials_hold_only_the_programs_policy(lab):
    """The role the metadata service hands out reads the route tables and replaces the VIP's route
    (what aws-vpc-move-ip calls); anything else, a new route included, is refused by the emulator's
    IAM."""
    env = "set -a; . /etc/default/pacemaker; set +a; aws --profile default ec2 "
    table = str(lab.settings.network.route_table_ids[0])
    allowed = lab.box("lab-a").run("bash", "-c", env + f"describe-route-tables --route-table-ids {table}", timeout=60)
    assert allowed.returncode == 0 and table in allowed.stdout, allowed.stderr
    refused = lab.box("lab-a").run(
        "bash",
        "-c",
        env
        + f"create-route --route-table-id {table} --destination-cidr-block 198.18.255.0/32 --network-interface-id "
        + eni_of(lab, "lab-a"),
        timeout=60,
    )
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr and "ec2:CreateRoute" in refused.stderr
    assert lab.ec2_world["policy"]["Statement"][1]["Action"] == "ec2:ReplaceRoute"


def test_the_routers_route_is_the_one_in_the_emulators_table(lab):
    """At rest every table routes the VIP to the active node and the router follows it. A route
    changed by hand through the EC2 API is what the router follows at once (the call returns after
    the router changed), so the client's traffic goes where EC2 says, even to the node that does not
    hold the VIP; the active node's monitor then sees the route gone and the cluster points every
    table at one node again."""
    s = lab.settings
    active = lab.where("webserver")
    routed_to(lab, active)
    status, body = lab.get(f"/{s.tenants[0].id}/api/probe")
    assert status == 200 and isinstance(body, dict) and body["via"] == node_ip(lab, active)
    standby = other(lab, active)
    world = lab.ec2_world
    code = (
        "import boto3, sys; boto3.client('ec2', endpoint_url=sys.argv[1], region_name=sys.argv[2],"
        " aws_access_key_id=sys.argv[3], aws_secret_access_key=sys.argv[4])"
        ".replace_route(RouteTableId=sys.argv[5], DestinationCidrBlock=sys.argv[6], NetworkInterfaceId=sys.argv[7])"
    )
    first = str(s.network.route_table_ids[0])
    args = [world["endpoint"], world["region"], *world["admin_keys"], first, f"{s.network.vip}/32", eni_of(lab, standby)]
    lab.box("ec2").run(sys.executable, "-c", code, *args, net_only=True, check=True)
    assert lab.router_vip_route() == node_ip(lab, standby)  # set before the API call returned
    assert lab.vip_routes()[first] == eni_of(lab, standby)
    # the cluster notices (monapi) and brings every table and the router back to one node
    owner = lambda: len(set(lab.vip_routes().values())) == 1 and lab.where("webserver")  # noqa: E731
    wait_for("every table routing the VIP to one node running webserver", owner, 120, 2)
    lab.running_node().run("pcs", "resource", "cleanup", check=True)
    lab.wait_serving(60)
    routed_to(lab, lab.where("webserver"))


def test_httpd_killed_restarts_locally_and_the_route_stays(lab):
    f = lab.failover("httpd")
    print(f"\nlab-overlay httpd SIGKILL: downtime {f.downtime:.2f}s")
    assert f.serving_on == f.active
    assert f.downtime is not None and 0 < f.downtime < SANITY_HTTPD_S
    assert [e for e in f.ec2 if e["event"] in ("stop", "start", "route")] == []
    routed_to(lab, f.active)


def fenced_then_routed(lab: Lab, f: Failover) -> None:
    """The survivor fenced the lost node (reboot: stop, then start) before any table's route moved;
    every route change pointed one more table at the survivor; now every table, the router and
    every answer after the gap go to the survivor."""
    survivor = f.serving_on
    assert survivor and survivor != f.active
    assert f.downtime is not None and f.downtime < SANITY_NODE_LOSS_S
    lost, tables = instance_of(lab, f.active), [str(t) for t in lab.settings.network.route_table_ids]
    events = [(e["event"], e.get("instance")) for e in f.ec2 if e["event"] in ("stop", "start", "route")]
    assert events[:2] == [("stop", lost), ("start", lost)] and events[2:] == [("route", None)] * len(tables)
    # each change points one more table at the survivor (in whatever order), none back
    to_survivor = [sum(eni == eni_of(lab, survivor) for eni in targets.values()) for targets in route_events(f)]
    assert to_survivor == list(range(1, len(tables) + 1))
    assert all(set(t.values()) <= {eni_of(lab, f.active), eni_of(lab, survivor)} for t in route_events(f))
    routed_to(lab, survivor)
    served_by = {r.via for r in f.rows if r.status == 200 and r.at > f.at + f.downtime}
    assert served_by == {node_ip(lab, survivor)}


def test_node_loss_the_survivor_fences_it_and_takes_the_route(lab):
    f = lab.failover("node")
    print(f"\nlab-overlay node loss: downtime {f.downtime:.2f}s")
    fenced_then_routed(lab, f)


def test_an_az_outage_the_survivor_fences_the_lost_node_and_takes_the_route(lab):
    """The active node's power and its subnet go at once: fence_aws still stops and starts the
    instance through the API (the node boots into the cut-off subnet and joins once it is back)."""
    f = lab.failover("az")
    print(f"\nlab-overlay AZ outage: downtime {f.downtime:.2f}s")
    fenced_then_routed(lab, f)
    assert "blackhole" not in lab.box("switch").run("ip", "rule", net_only=True, check=True).stdout


def reaches(lab: Lab, name: str) -> bool:
    """The client opens a TCP connection to node `name`'s sshd within 2 s."""
    probe = f": </dev/tcp/{node_ip(lab, name)}/22"
    return lab.box("client").run("timeout", "2", "bash", "-c", probe, net_only=True).returncode == 0


def test_the_standbys_az_fails_the_active_keeps_serving_and_the_route(lab):
    """The standby's power and subnet go at once: the active node fences it at once (no delay: the
    standby runs no httpd) and keeps the route; fence_aws's reboot starts it again, into its
    subnet, which the router still cuts off; 0 failed requests; it joins once its subnet is back."""
    active = lab.where("webserver")
    standby = other(lab, active)
    assert reaches(lab, active) and reaches(lab, standby)
    probe = lab.start_probe(max_seconds=150)
    time.sleep(1)
    at = time.time()
    lab.az_outage(standby)
    try:
        booted = lambda: [e for e in lab.ec2_history() if e["t"] >= at and e["event"] == "booted"]  # noqa: E731
        wait_for("the standby fenced and booted again", booted, 60, 0.3)
        assert lab.box(standby).pid and not reaches(lab, standby) and reaches(lab, active)  # running, but cut off
    finally:
        lab.az_outage(standby, False)
    lab.wait_both_online()
    rows = probe.stop()
    events = [(e["event"], e.get("instance")) for e in lab.ec2_moves(at)]
    print(f"\nlab-overlay standby's AZ outage: {len(rows)} probes, {sum(r.status != 200 for r in rows)} failed")
    assert events == [("stop", instance_of(lab, standby)), ("start", instance_of(lab, standby))]  # no route moved
    assert rows[0].at < at and rows[-1].at > at + 3
    assert [r for r in rows if r.status != 200] == [] and {r.via for r in rows} == {node_ip(lab, active)}
    assert lab.where("webserver") == active and reaches(lab, standby)
    routed_to(lab, active)


def test_a_cut_link_between_the_subnets_leaves_exactly_one_route_owner(lab):
    """The router drops what goes between the nodes' subnets, the client still reaches both: the
    node running httpd fences the other (priority-fencing-delay), no table's route ever moves,
    every answer comes through one node, 0 failed requests."""
    f = lab.failover("split")
    standby = other(lab, f.active)
    print(f"\nlab-overlay split: downtime {f.downtime:.2f}s; fenced {[e['instance'] for e in f.ec2 if e['event'] == 'stop']}")
    assert [e["instance"] for e in f.ec2 if e["event"] == "stop"] == [instance_of(lab, standby)]
    assert f.serving_on == f.active
    assert route_events(f) == []  # the route owner throughout: the active node, in every table
    routed_to(lab, f.active)
    stopped_at = next(e["t"] for e in f.ec2 if e["event"] == "stop")
    assert f.rows[0].at < f.at and f.rows[-1].at > stopped_at + 2  # the probe ran across the cut and the fencing
    assert [r for r in f.rows if r.status != 200] == []
    assert {r.via for r in f.rows} == {node_ip(lab, f.active)}
    assert f.downtime == 0.0
    assert "blackhole" not in lab.box("switch").run("ip", "rule", net_only=True, check=True).stdout
