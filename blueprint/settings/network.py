"""network: the subnet, the VIP, who may connect."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from .addresses import vip_problem
from .types import Cidr, InstanceType, IPv4, Model, Region, SubnetId, raise_if, repeated_cidrs


class NetworkSettings(Model):
    region: Region
    subnet_id: SubnetId
    subnet_cidr: Cidr = Field(description="CIDR of subnet_id; checked offline here and against AWS at deploy time")
    vip_mode: Literal["aws", "l2"] = Field("aws", description="aws: awsvip+IPaddr2 group; l2: IPaddr2 alone (a LAN or the lab)")
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
        if not 16 <= v.prefixlen <= 28:
            raise ValueError(f"{v} is a /{v.prefixlen}: a subnet must be /16 to /28 (the sizes AWS allows)")
        return v

    # Field validators (not a model validator) so these run even when another network key failed.
    @field_validator("vip")
    @classmethod
    def _vip_in_subnet(cls, v: ipaddress.IPv4Address, info: ValidationInfo) -> ipaddress.IPv4Address:
        net = info.data.get("subnet_cidr")
        if net and (problem := vip_problem(v, net, on_aws=info.data.get("vip_mode") == "aws")):
            raise ValueError(problem)
        return v

    @field_validator("address_pool")
    @classmethod
    def _pool_in_subnet(cls, v: ipaddress.IPv4Network | None, info: ValidationInfo) -> ipaddress.IPv4Network | None:
        net = info.data.get("subnet_cidr")
        if v is not None and net and not v.subnet_of(net):
            raise ValueError(f"{v} is not inside subnet_cidr {net}")
        return v

    @field_validator("client_cidrs", "admin_cidrs")
    @classmethod
    def _each_cidr_once(cls, v: list[ipaddress.IPv4Network], info: ValidationInfo) -> list[ipaddress.IPv4Network]:
        raise_if(repeated_cidrs(v, str(info.field_name)))
        return v
