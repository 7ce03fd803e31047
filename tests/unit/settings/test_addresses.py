"""The VIP and node addresses inside the subnet (vip_problem), members never on the balancer's own
addresses, and a test stack's addresses derived from its name (network.address_pool)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from blueprint.settings import addresses_from_pool, vip_problem
from blueprint.stack_config import parse_settings
from tests.conftest import base_config, stack_config
from tests.unit.settings.conftest import only_problem, rp_member


def test_vip_outside_subnet():
    cfg = base_config()
    cfg["network"]["vip"] = "10.0.2.50"
    assert only_problem(cfg) == "gir-lb:network.vip: 10.0.2.50 is outside subnet_cidr 10.0.1.0/24"


@pytest.mark.parametrize("vip", ["10.0.1.0", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.255"])
def test_vip_on_an_aws_reserved_address(vip):
    cfg = base_config()
    cfg["network"]["vip"] = vip
    assert only_problem(cfg).startswith("gir-lb:network.vip: ")


def test_vip_equal_to_a_member_address():
    cfg = base_config()
    cfg["network"]["vip"] = "10.0.1.77"
    cfg["tenants"][1]["rp"]["members"][0]["url"] = "http://10.0.1.77:8889"
    assert only_problem(cfg) == (
        "gir-lb:tenants[1].rp.members[0].url: 10.0.1.77 is network.vip: a member cannot be the balancer itself"
    )


def test_vip_equal_to_a_node_address():
    cfg = base_config()
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.50"
    assert only_problem(cfg) == "gir-lb:cluster.nodes[1].ip: 10.0.1.50 is also network.vip"


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://10.0.1.50:8080", "10.0.1.50 is network.vip"),
        ("https://10.0.1.11:9443", "10.0.1.11 is cluster.nodes[0].ip"),
        ("http://lb-b:8080", "lb-b is cluster.nodes[1].name"),
        ("http://127.0.0.1:80", "127.0.0.1:80 is this node's own httpd"),
        ("http://127.1.2.3:80", "127.1.2.3:80 is this node's own httpd"),
        ("http://localhost:80", "localhost:80 is this node's own httpd"),
        ("http://0.0.0.0:80", "0.0.0.0:80 is this node's own httpd"),
    ],
)
def test_a_member_cannot_be_the_balancer_itself(url, why):
    assert only_problem(rp_member(url)) == f"gir-lb:tenants[0].rp.members[0].url: {why}: a member cannot be the balancer itself"


def test_a_loopback_member_is_refused_only_on_the_ports_httpd_listens_on():
    tls = {"tls": {"enabled": True, "port": 8443}}
    assert only_problem(rp_member("https://localhost:8443", httpd=tls)) == (
        "gir-lb:tenants[0].rp.members[0].url: localhost:8443 is this node's own httpd: a member cannot be the balancer itself"
    )
    parse_settings(rp_member("https://localhost:443"))  # TLS off: nothing listens on 443
    parse_settings(rp_member("http://127.0.0.1:8080"))  # a local service on another port
    parse_settings(rp_member("http://127.0.0.1:80", httpd={"port": 8080}))


@pytest.mark.parametrize("ip, why", [
    ("10.0.1.0", "10.0.1.0 is the network or broadcast address of 10.0.1.0/24"),
    ("10.0.1.255", "10.0.1.255 is the network or broadcast address of 10.0.1.0/24"),
    ("10.0.1.1", "10.0.1.1 is one of the addresses AWS reserves in 10.0.1.0/24"),
    ("10.0.1.3", "10.0.1.3 is one of the addresses AWS reserves in 10.0.1.0/24"),
    ("10.0.2.11", "10.0.2.11 is outside subnet_cidr 10.0.1.0/24"),
])
def test_a_node_ip_must_be_a_usable_address_of_the_subnet(ip, why):
    cfg = base_config()
    cfg["cluster"]["nodes"][1]["ip"] = ip
    assert only_problem(cfg) == f"gir-lb:cluster.nodes[1].ip: {why}"


def test_off_aws_only_the_network_and_broadcast_addresses_are_reserved():
    cfg = base_config("rhel6")  # platform lan
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.1"
    parse_settings(cfg)
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.0"
    assert only_problem(cfg) == "gir-lb:cluster.nodes[1].ip: 10.0.1.0 is the network or broadcast address of 10.0.1.0/24"


def test_the_lab_with_the_ec2_emulator_keeps_awss_reserved_addresses_for_the_vip_and_the_nodes():
    """One rule for both: addresses moved through the EC2 API (vip_mode aws, on AWS or against the
    lab's emulator) avoid AWS's reserved ones; the lab's l2 mode has only network and broadcast."""
    cfg = base_config("debian12")  # platform lab, vip_mode l2
    cfg["network"]["vip"], cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.2", "10.0.1.1"
    assert parse_settings(cfg).in_ec2_subnet is False
    cfg["network"]["vip_mode"] = "aws"
    assert only_problem(cfg) == "gir-lb:network.vip: 10.0.1.2 is one of the addresses AWS reserves in 10.0.1.0/24"
    cfg["network"]["vip"] = "10.0.1.50"
    assert only_problem(cfg) == "gir-lb:cluster.nodes[1].ip: 10.0.1.1 is one of the addresses AWS reserves in 10.0.1.0/24"


# --- network.address_pool: a test stack's addresses derived from its name ------------------------


def pooled(environment: str = "test-pr-7", pool: str = "10.0.1.128/26") -> dict:
    """base_config as a test stack on a pool: no VIP, no node addresses."""
    cfg = base_config(environment=environment)
    del cfg["network"]["vip"]
    cfg["network"]["address_pool"] = pool
    for node in cfg["cluster"]["nodes"]:
        del node["ip"]
    return cfg


def test_a_pool_gives_the_nodes_and_the_vip_three_addresses_of_one_block():
    s = parse_settings(pooled())
    a, b, vip = s.cluster.nodes[0].ip, s.cluster.nodes[1].ip, s.network.vip
    assert (b, vip) == (a + 1, a + 2) and int(a) % 4 == 0 and a in ipaddress.ip_network("10.0.1.128/26")
    assert s.network.address_pool == ipaddress.ip_network("10.0.1.128/26")
    assert s.base_url == f"http://{vip}"  # what the render, the plan and the components read


def test_the_test_example_stack_keeps_its_addresses():
    # A changed rule would move every deployed test stack: this pins it.
    s = parse_settings(stack_config("test-example"))
    assert [str(n.ip) for n in s.cluster.nodes] + [str(s.network.vip)] == ["10.20.1.160", "10.20.1.161", "10.20.1.162"]


def test_a_pool_is_for_test_stacks_only():
    assert only_problem(pooled(environment="staging")) == (
        "gir-lb:network.address_pool: is only for throw-away test-… stacks:"
        " environment 'staging' sets network.vip and cluster.nodes[].ip instead"
    )


def test_a_pool_must_lie_inside_the_subnet():
    why = "10.0.2.0/26 is not inside subnet_cidr 10.0.1.0/24"
    assert only_problem(pooled(pool="10.0.2.0/26")) == f"gir-lb:network.address_pool: {why}"


RESERVED_ONLY = "holds an address AWS reserves in 10.0.1.0/24: use a larger pool"


@pytest.mark.parametrize("pool, why", [
    ("10.0.1.128/31", "10.0.1.128/31 is smaller than one block of 4 addresses: a pool must be a /30 or larger"),
    ("10.0.1.0/30", f"every block of 4 addresses in 10.0.1.0/30 {RESERVED_ONLY}"),  # the subnet's first 4
    ("10.0.1.252/30", f"every block of 4 addresses in 10.0.1.252/30 {RESERVED_ONLY}"),  # its last 4, with the broadcast
])
def test_a_pool_without_a_usable_block_is_refused(pool, why):
    assert only_problem(pooled(pool=pool)) == f"gir-lb:network.address_pool: {why}"


def test_a_pool_skips_the_reserved_blocks_at_the_ends_of_the_subnet():
    def vip(n: int) -> str:
        cfg = pooled(f"test-pr-{n}", pool="10.0.1.0/28")
        cfg["network"]["subnet_cidr"] = "10.0.1.0/28"
        return str(parse_settings(cfg).network.vip)

    # blocks .0 (AWS's first four) and .12 (with the broadcast .15) are skipped
    assert {vip(n) for n in range(40)} == {"10.0.1.6", "10.0.1.10"}


def test_addresses_given_beside_a_pool_are_refused_by_key():
    cfg = pooled()
    cfg["network"]["vip"] = "10.0.1.150"
    assert only_problem(cfg) == "gir-lb:network.vip: must be omitted: network.address_pool gives this stack its VIP"
    cfg = pooled()
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.151"
    why = "must be omitted: network.address_pool gives the nodes their addresses"
    assert only_problem(cfg) == f"gir-lb:cluster.nodes[1].ip: {why}"


def test_without_a_pool_the_vip_and_node_addresses_are_required():
    cfg = base_config()
    del cfg["network"]["vip"]
    assert only_problem(cfg) == "gir-lb:network.vip: Field required"
    cfg = base_config()
    del cfg["cluster"]["nodes"][0]["ip"]
    # judged once network is valid: whether a node needs its address depends on network.address_pool
    assert only_problem(cfg) == "gir-lb:cluster.nodes[0].ip: Field required"


def test_a_member_on_a_derived_address_is_the_balancer_itself():
    vip = parse_settings(pooled()).network.vip
    cfg = pooled()
    cfg["tenants"][0]["rp"]["members"][0]["url"] = f"http://{vip}:8889"
    why = f"{vip} is network.vip: a member cannot be the balancer itself"
    assert only_problem(cfg) == f"gir-lb:tenants[0].rp.members[0].url: {why}"


SUBNETS = st.builds(
    lambda base, prefix: ipaddress.ip_network((base, prefix), strict=False), st.integers(0, 2**32 - 1), st.integers(16, 28)
)


@st.composite
def subnet_and_pool(draw) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    """A subnet AWS allows and a pool inside it, often at its first or last address."""
    net = draw(SUBNETS)
    prefix = draw(st.integers(net.prefixlen, 30))
    index = draw(st.integers(0, 2 ** (prefix - net.prefixlen) - 1))
    return net, ipaddress.ip_network((int(net.network_address) + index * 2 ** (32 - prefix), prefix))


NAMES = st.from_regex(r"test-[a-z0-9-]{1,27}", fullmatch=True)


def usable_blocks(pool: ipaddress.IPv4Network, net: ipaddress.IPv4Network) -> list[ipaddress.IPv4Network]:
    """The rule as written: the pool's blocks of 4 without an address AWS reserves, in order."""
    return [b for b in pool.subnets(new_prefix=30) if all(vip_problem(a, net, on_aws=True) is None for a in b)]


@given(where=subnet_and_pool(), name=NAMES)
@hsettings(max_examples=300, deadline=None)
def test_pool_addresses_are_stable_inside_pool_and_subnet_never_reserved_and_distinct(where, name):
    net, pool = where
    try:
        got = addresses_from_pool(pool, net, name)
    except ValueError:
        # only a /30 pool that is the subnet's first or last block has no usable block
        assert pool.prefixlen == 30 and pool.network_address in (net.network_address, net.broadcast_address - 3)
        return
    assert addresses_from_pool(pool, net, name) == got
    addresses = [*got.nodes, got.vip]
    assert len(set(addresses)) == 3
    assert all(a in pool and a in net and vip_problem(a, net, on_aws=True) is None for a in addresses)
    assert addresses == [got.nodes[0] + i for i in range(3)] and int(got.nodes[0]) % 4 == 0
    if pool.prefixlen >= 22:  # the shortcut over the first and last block picks what listing every block would
        blocks = usable_blocks(pool, net)
        assert got.nodes[0] == blocks[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(blocks)].network_address


def test_different_names_spread_over_the_blocks():
    net, pool = ipaddress.ip_network("10.20.1.0/24"), ipaddress.ip_network("10.20.1.128/26")  # 16 blocks
    blocks = Counter(addresses_from_pool(pool, net, f"test-pr-{n}").vip for n in range(1, 1601))
    assert len(blocks) == 16 and max(blocks.values()) < 2 * min(blocks.values()), blocks
