"""Address arithmetic: which addresses a subnet leaves usable, and the pool a test stack draws from."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import NamedTuple


def vip_problem(vip: ipaddress.IPv4Address, net: ipaddress.IPv4Network, on_aws: bool) -> str | None:
    """Why address `vip` (the VIP or a node's) cannot be used in subnet `net`, or None. AWS reserves
    the first four addresses and the last one of every subnet; an L2 LAN the network and broadcast."""
    if vip not in net:
        return f"{vip} is outside subnet_cidr {net}"
    if vip in (net.network_address, net.broadcast_address):
        return f"{vip} is the network or broadcast address of {net}"
    if on_aws and int(vip) - int(net.network_address) <= 3:
        return f"{vip} is one of the addresses AWS reserves in {net}"
    return None


# Ranges an overlay VIP cannot come from: the VPC router never forwards them to an interface.
OVERLAY_UNROUTABLE = {
    ipaddress.IPv4Network("0.0.0.0/8"): "'this network' (0.0.0.0/8)",
    ipaddress.IPv4Network("127.0.0.0/8"): "loopback (127.0.0.0/8)",
    ipaddress.IPv4Network("169.254.0.0/16"): "link-local, where AWS serves instance metadata, DNS and time (169.254.0.0/16)",
    ipaddress.IPv4Network("224.0.0.0/4"): "multicast (224.0.0.0/4)",
    ipaddress.IPv4Network("240.0.0.0/4"): "reserved (240.0.0.0/4)",
}


def overlay_vip_problem(vip: ipaddress.IPv4Address, vpc: ipaddress.IPv4Network) -> str | None:
    """Why `vip` cannot be an overlay VIP of VPC `vpc`, or None: a route table cannot send an address
    of the VPC's own CIDR anywhere but its subnet (the local route wins), nor the ranges AWS reserves."""
    if vip in vpc:
        return f"{vip} is inside vpc_cidr {vpc}: an overlay VIP must be outside the VPC's CIDR (the local route wins)"
    for net, what in OVERLAY_UNROUTABLE.items():
        if vip in net:
            return f"{vip} is {what}: AWS routes no such address to an instance"
    return None


class PoolAddresses(NamedTuple):
    """The addresses a test stack takes from network.address_pool."""

    nodes: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]
    vip: ipaddress.IPv4Address


def addresses_from_pool(pool: ipaddress.IPv4Network, net: ipaddress.IPv4Network, environment: str) -> PoolAddresses:
    """The node and VIP addresses of stack `environment` in `pool` (inside subnet `net`).

    The pool is cut into aligned blocks of 4 addresses (its /30s); a block holding an address AWS
    reserves in the subnet (the network address, the next three, the broadcast address) is skipped.
    The stack takes usable block number int(sha256(environment)) mod (number of usable blocks): its
    first address is node a (cluster.nodes[0]), the second node b (cluster.nodes[1]), the third the
    VIP; the fourth stays free. The same name always gets the same block, so a re-preview never
    moves a deployed stack; two names may still share a block, which the Pulumi program refuses at
    preview. Raises ValueError with a sentence when the pool has no usable block.
    """
    if pool.prefixlen > 30:
        raise ValueError(f"{pool} is smaller than one block of 4 addresses: a pool must be a /30 or larger")
    count = pool.num_addresses // 4

    def block(i: int) -> list[ipaddress.IPv4Address]:
        return [pool.network_address + 4 * i + k for k in range(4)]

    # AWS reserves addresses in the subnet's first and last 4, aligned as the blocks are: only the
    # pool's first and last block can hold one, so a /16 pool costs no more than a /30.
    skipped = {i for i in {0, count - 1} if any(vip_problem(a, net, on_aws=True) for a in block(i))}
    if count == len(skipped):
        raise ValueError(f"every block of 4 addresses in {pool} holds an address AWS reserves in {net}: use a larger pool")
    index = int(hashlib.sha256(environment.encode()).hexdigest(), 16) % (count - len(skipped)) + (0 in skipped)
    first = block(index)[0]
    return PoolAddresses(nodes=(first, first + 1), vip=first + 2)


def is_local(host: str) -> bool:
    """The node itself: loopback, 0.0.0.0 (Linux connects it to the local host), localhost names."""
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified
