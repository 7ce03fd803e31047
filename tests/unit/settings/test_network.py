"""network: the subnet's size and the client and admin CIDR lists."""

from __future__ import annotations

import pytest

from blueprint.stack_config import parse_settings
from tests.conftest import base_config
from tests.unit.settings.conftest import only_problem


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
