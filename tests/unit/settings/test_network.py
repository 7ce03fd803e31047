"""network: the subnet's size and the client and admin CIDR lists."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blueprint.settings.addresses import OVERLAY_UNROUTABLE
from blueprint.stack_config import SettingsError, parse_settings
from tests.conftest import base_config
from tests.unit.settings.conftest import only_problem, problems


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "10.0.0.0/8", "10.0.0.0/15", "10.0.1.0/29", "10.0.1.7/32"])
def test_a_subnet_must_be_a_16_to_a_28(cidr):
    cfg = base_config()
    cfg["network"]["subnet_cidr"] = cidr
    prefix = cidr.split("/")[1]
    why = f"{cidr} is a /{prefix}: a subnet must be /16 to /28 (the sizes AWS allows)"
    assert only_problem(cfg) == f"gir-lb:network.subnet_cidr: {why}"


def test_a_28_subnet_is_accepted():
    cfg = base_config()
    cfg["network"].update(subnet_cidr="10.0.1.0/28", vip="10.0.1.10")
    assert parse_settings(cfg).network.subnet_cidr.num_addresses == 16


@pytest.mark.parametrize("key", ["client_cidrs", "admin_cidrs"])
def test_a_cidr_listed_twice_is_refused(key):
    cfg = base_config()
    cfg["network"][key] = ["10.0.0.0/16", "10.9.0.0/16", "10.0.0.0/255.255.0.0"]  # the same network, as a netmask
    assert only_problem(cfg) == f"gir-lb:network.{key}[2]: 10.0.0.0/16 is also {key}[0]"


# --- vip_mode overlay --------------------------------------------------------------------------


def overlay_config(**network) -> dict:
    cfg = base_config()
    cfg["network"].update(
        {
            "vip_mode": "overlay",
            "second_subnet": {"id": "subnet-0123456789abcdef1", "cidr": "10.0.2.0/24"},
            "vpc_cidr": "10.0.0.0/16",
            "route_table_ids": ["rtb-0123456789abcdef0"],
            "vip": "192.168.50.10",
        }
        | network
    )
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.2.12"
    return cfg


def test_an_overlay_pair_puts_each_node_in_its_own_subnet():
    s = parse_settings(overlay_config())
    assert s.network.node_subnet(0) == ("subnet-0123456789abcdef0", ipaddress.IPv4Network("10.0.1.0/24"))
    assert s.network.node_subnet(1) == ("subnet-0123456789abcdef1", ipaddress.IPv4Network("10.0.2.0/24"))
    assert s.base_url == "http://192.168.50.10" and s.in_ec2_subnet


def test_an_overlay_stack_without_its_keys_gets_every_problem_at_once():
    cfg = overlay_config()
    for key in ("second_subnet", "vpc_cidr", "route_table_ids"):
        del cfg["network"][key]
    assert problems(cfg) == [
        "gir-lb:network.second_subnet: required with vip_mode overlay",
        "gir-lb:network.vpc_cidr: required with vip_mode overlay",
        "gir-lb:network.route_table_ids: required with vip_mode overlay: name at least one",
    ]


@pytest.mark.parametrize(
    ("vip", "why"),
    [
        ("10.0.7.10", "is inside vpc_cidr 10.0.0.0/16: an overlay VIP must be outside the VPC's CIDR"),
        ("169.254.169.254", "is link-local, where AWS serves instance metadata, DNS and time (169.254.0.0/16)"),
        ("127.0.0.10", "is loopback (127.0.0.0/8)"),
        ("0.1.2.3", "is 'this network' (0.0.0.0/8)"),
        ("224.0.0.18", "is multicast (224.0.0.0/4)"),
        ("250.1.1.1", "is reserved (240.0.0.0/4)"),
    ],
)
def test_an_overlay_vip_is_refused_inside_the_vpc_or_a_range_aws_never_routes(vip, why):
    assert only_problem(overlay_config(vip=vip)).startswith(f"gir-lb:network.vip: {vip} {why}")


@given(st.ip_addresses(v=4))
def test_any_overlay_vip_is_accepted_exactly_when_it_is_outside_the_vpc_and_the_reserved_ranges(vip):
    refused = vip in ipaddress.IPv4Network("10.0.0.0/16") or any(vip in net for net in OVERLAY_UNROUTABLE)
    try:
        parse_settings(overlay_config(vip=str(vip)))
    except SettingsError as e:
        assert refused and len(e.problems) == 1 and e.problems[0].startswith("gir-lb:network.vip:"), e.problems
    else:
        assert not refused


def test_overlay_keys_are_refused_on_another_vip_mode_and_a_route_table_twice():
    cfg = base_config()
    cfg["network"].update(vpc_cidr="10.0.0.0/16", route_table_ids=["rtb-0123456789abcdef0"])
    assert problems(cfg) == [
        "gir-lb:network.vpc_cidr: only for vip_mode overlay, not aws: leave it out",
        "gir-lb:network.route_table_ids: only for vip_mode overlay, not aws: leave it out",
    ]
    twice = overlay_config(route_table_ids=["rtb-0123456789abcdef0", "rtb-0123456789abcdef1", "rtb-0123456789abcdef0"])
    assert only_problem(twice) == "gir-lb:network.route_table_ids[2]: rtb-0123456789abcdef0 is also route_table_ids[0]"


def test_an_overlay_second_subnet_must_be_another_subnet_inside_the_vpc():
    same = overlay_config(second_subnet={"id": "subnet-0123456789abcdef0", "cidr": "10.0.1.128/25"})
    assert problems(same) == [
        "gir-lb:network.second_subnet: subnet-0123456789abcdef0 is also subnet_id: nodes[1] needs a subnet"
        " of its own, in another AZ"
    ]
    outside = overlay_config(vpc_cidr="10.0.2.0/23")
    assert only_problem(outside).startswith("gir-lb:network.vpc_cidr: 10.0.2.0/23 does not hold subnet_cidr")
    cfg = overlay_config()
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.12"  # in nodes[0]'s subnet
    assert only_problem(cfg) == "gir-lb:cluster.nodes[1].ip: 10.0.1.12 is outside network.second_subnet.cidr 10.0.2.0/24"


def test_an_overlay_lan_stack_is_refused_and_a_pool_is_not_for_overlay():
    lan = overlay_config()
    lan.update(platform="lan", cluster={**lan["cluster"], "fencing": {"mode": "disabled"}})
    why = "overlay (aws-vpc-move-ip) calls the EC2 API, which platform lan has not: use l2"
    assert only_problem(lan) == f"gir-lb:network.vip_mode: {why}"
    pooled = overlay_config(address_pool="10.0.1.128/26")
    assert "gir-lb:network.address_pool: not with vip_mode overlay" in " ".join(problems(pooled))


def test_an_overlay_pairs_arbiter_must_live_in_a_third_az():
    why = "an AZ outage would take it with a node, and the survivor (1 vote of 3) would stop serving"
    cfg = overlay_config()
    cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", "create": True}
    key = "gir-lb:cluster.quorum_device.subnet_id"
    assert only_problem(cfg) == f"{key}: required with vip_mode overlay: a subnet in a third AZ ({why})"
    cfg["cluster"]["quorum_device"].update(subnet_id="subnet-0123456789abcdef1", subnet_cidr="10.0.2.0/24", address="10.0.2.20")
    assert only_problem(cfg) == f"{key}: subnet-0123456789abcdef1 is a node's subnet: use one in a third AZ ({why})"
    cfg["cluster"]["quorum_device"].update(subnet_id="subnet-0123456789abcdef3", subnet_cidr="10.0.3.0/24", address="10.0.3.20")
    assert parse_settings(cfg).cluster.quorum_device is not None
    existing = overlay_config()
    existing["hacluster_password"] = "x" * 16
    existing["cluster"]["quorum_device"] = {"address": "10.0.2.20", "create": False}
    assert only_problem(existing).startswith("gir-lb:cluster.quorum_device.address: 10.0.2.20 is in a node's subnet")
