"""network: the subnet(s), the VIP, who may connect."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from .addresses import overlay_vip_problem, vip_problem
from .types import Cidr, InstanceType, IPv4, Model, Region, RouteTableId, SubnetId, raise_if, repeated_cidrs


def _aws_subnet_size(v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    if not 16 <= v.prefixlen <= 28:
        raise ValueError(f"{v} is a /{v.prefixlen}: a subnet must be /16 to /28 (the sizes AWS allows)")
    return v


class SubnetSettings(Model):
    id: SubnetId
    cidr: Cidr = Field(description="CIDR of id; checked offline here and against AWS at deploy time")

    @field_validator("cidr")
    @classmethod
    def _size(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        return _aws_subnet_size(v)


class NetworkSettings(Model):
    region: Region
    subnet_id: SubnetId = Field(description="the nodes' subnet; with vip_mode overlay nodes[0]'s")
    subnet_cidr: Cidr = Field(description="CIDR of subnet_id; checked offline here and against AWS at deploy time")
    vip_mode: Literal["aws", "l2", "overlay"] = Field(
        "aws",
        description="aws: awsvip+IPaddr2 group (one subnet); l2: IPaddr2 alone (a LAN or the lab);"
        " overlay: aws-vpc-move-ip routes a VIP outside the VPC to the active node (two AZs)",
    )
    second_subnet: SubnetSettings | None = Field(
        None, validate_default=True, description="vip_mode overlay: nodes[1]'s subnet, in another AZ"
    )
    vpc_cidr: Cidr | None = Field(
        None,
        validate_default=True,
        description="vip_mode overlay: the VPC's CIDR, which the VIP must stay out of; checked against AWS at deploy time"
    )
    route_table_ids: list[RouteTableId] = Field(
        [], validate_default=True, description="vip_mode overlay: the route tables whose route to the VIP follows the active node"
    )
    # None only while a stack with address_pool is validated: Settings fills it from the pool,
    # so every reader after validation sees an address (hence the type, and the ignore).
    vip: IPv4 = Field(None, description="omitted when address_pool gives it")  # type: ignore[assignment]
    address_pool: Cidr | None = Field(
        None, description="test-… stacks only: the VIP and node addresses, derived from the environment name in this range"
    )
    client_cidrs: list[Cidr] = Field(min_length=1)
    admin_cidrs: list[Cidr] = Field(min_length=1)
    instance_type: InstanceType = "t3.medium"

    @field_validator("subnet_cidr")
    @classmethod
    def _subnet_size(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        return _aws_subnet_size(v)

    # Field validators (not a model validator) so these run even when another network key failed.
    @field_validator("second_subnet", "vpc_cidr", "route_table_ids")
    @classmethod
    def _overlay_only(cls, v: object, info: ValidationInfo) -> object:
        overlay = info.data.get("vip_mode") == "overlay"
        if overlay and not v:
            raise ValueError("required with vip_mode overlay" + (": name at least one" if v == [] else ""))
        if not overlay and v and "vip_mode" in info.data:
            raise ValueError(f"only for vip_mode overlay, not {info.data['vip_mode']}: leave it out")
        if isinstance(v, SubnetSettings):
            first = info.data.get("subnet_cidr")
            if v.id == info.data.get("subnet_id"):
                raise ValueError(f"{v.id} is also subnet_id: nodes[1] needs a subnet of its own, in another AZ")
            if first and v.cidr.overlaps(first):
                raise ValueError(f"{v.cidr} overlaps subnet_cidr {first}")
        if isinstance(v, ipaddress.IPv4Network):
            for key in ("subnet_cidr", "second_subnet"):
                net = info.data.get(key)
                net = net.cidr if isinstance(net, SubnetSettings) else net
                if net and not net.subnet_of(v):
                    raise ValueError(f"{v} does not hold {key} {net}: name the VPC's CIDR block holding both subnets")
        if isinstance(v, list):
            raise_if([(f"[{i}]", f"{t} is also route_table_ids[{v.index(t)}]") for i, t in enumerate(v) if v.index(t) < i])
        return v

    @field_validator("vip")
    @classmethod
    def _vip_in_subnet(cls, v: ipaddress.IPv4Address, info: ValidationInfo) -> ipaddress.IPv4Address:
        mode = info.data.get("vip_mode")
        if mode == "overlay":
            vpc = info.data.get("vpc_cidr")
            problem = overlay_vip_problem(v, vpc) if vpc else None
        else:
            net = info.data.get("subnet_cidr")
            problem = vip_problem(v, net, on_aws=mode == "aws") if net else None
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("address_pool")
    @classmethod
    def _pool_in_subnet(cls, v: ipaddress.IPv4Network | None, info: ValidationInfo) -> ipaddress.IPv4Network | None:
        net = info.data.get("subnet_cidr")
        if v is not None and info.data.get("vip_mode") == "overlay":
            raise ValueError("not with vip_mode overlay: set network.vip and each node's ip in its own subnet")
        if v is not None and net and not v.subnet_of(net):
            raise ValueError(f"{v} is not inside subnet_cidr {net}")
        return v

    @field_validator("client_cidrs", "admin_cidrs")
    @classmethod
    def _each_cidr_once(cls, v: list[ipaddress.IPv4Network], info: ValidationInfo) -> list[ipaddress.IPv4Network]:
        raise_if(repeated_cidrs(v, str(info.field_name)))
        return v

    def node_subnet(self, index: int) -> tuple[str, ipaddress.IPv4Network]:
        """(subnet id, CIDR) node `index` lives in: the one subnet, or with overlay one per node."""
        if index == 1 and self.second_subnet is not None:
            return self.second_subnet.id, self.second_subnet.cidr
        return self.subnet_id, self.subnet_cidr
