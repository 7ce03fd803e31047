"""cluster.quorum_device: an arbiter's third vote (corosync-qnetd). Where it may run (a corosync 3
profile; gir-lb makes it on aws or in the lab, a lan names an existing one), its address (a third
host, usable in its subnet), its subnet pair, the password an existing arbiter needs, and no
priority-fencing-delay beside it. Every refusal names its key path; all come at once."""

from __future__ import annotations

import pytest

from blueprint.stack_config import parse_settings
from tests.conftest import base_config, stack_config
from tests.unit.settings.conftest import only_problem, problems

KEY = "gir-lb:cluster.quorum_device"
PASSWORD = "Existing-Arbiter-Pw-1"


def with_device(os_profile: str = "rhel9", **device) -> dict:
    cfg = base_config(os_profile)
    cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", "create": True, **device}
    return cfg


def on_lan(**device) -> dict:
    cfg = with_device(**device)
    cfg["platform"] = "lan"
    cfg["network"]["vip_mode"] = "l2"
    cfg["cluster"]["fencing"] = {"mode": "disabled"}
    return cfg


# --- accepted -------------------------------------------------------------------------------------


def test_no_device_by_default():
    assert parse_settings(base_config()).cluster.quorum_device is None


def test_aws_with_create_and_its_defaults():
    qd = parse_settings(with_device()).cluster.quorum_device
    assert qd is not None
    defaults = {
        "address": "10.0.1.20",
        "create": True,
        "algorithm": "ffsplit",
        "tie_breaker": "lowest",
        "instance_type": "t3.micro",
        "subnet_id": None,
        "subnet_cidr": None,
    }
    assert qd.model_dump(mode="json").items() >= defaults.items()


def test_aws_with_create_in_its_own_subnet():
    cfg = with_device(address="10.0.2.20", subnet_id="subnet-0123456789abcdef1", subnet_cidr="10.0.2.0/24")
    cfg["cluster"]["quorum_device"] |= {"algorithm": "lms", "tie_breaker": "highest", "instance_type": "t3.small"}
    qd = parse_settings(cfg).cluster.quorum_device
    assert qd is not None
    assert (str(qd.address), qd.subnet_id, str(qd.subnet_cidr)) == ("10.0.2.20", "subnet-0123456789abcdef1", "10.0.2.0/24")
    assert (qd.algorithm, qd.tie_breaker, qd.instance_type) == ("lms", "highest", "t3.small")


def test_aws_with_an_existing_arbiter_and_its_hacluster_password():
    """An existing arbiter may be anywhere the nodes reach: its address is not checked against a subnet."""
    cfg = with_device(address="192.168.7.5", create=False)
    cfg["hacluster_password"] = PASSWORD
    s = parse_settings(cfg)
    assert s.cluster.quorum_device is not None and not s.cluster.quorum_device.create


def test_the_lab_makes_its_arbiter():
    assert parse_settings(with_device("debian12")).cluster.quorum_device is not None
    cfg = stack_config("lab-aws")  # with the EC2 emulator; its priority-fencing-delay given up for the device
    cfg["cluster"]["fencing"] = {"mode": "fence_aws"}
    cfg["cluster"]["quorum_device"] = {"address": "198.18.0.30", "create": True}
    assert parse_settings(cfg).cluster.quorum_device is not None


def test_a_lan_names_an_existing_arbiter():
    cfg = on_lan(create=False)
    cfg["hacluster_password"] = PASSWORD
    assert parse_settings(cfg).cluster.quorum_device is not None


# --- refused --------------------------------------------------------------------------------------


def test_rhel6_has_no_corosync_qdevice():
    cfg = with_device("rhel6")
    assert only_problem(cfg) == f"{KEY}: rhel6 runs cman, which has no corosync-qdevice: leave it out"


@pytest.mark.parametrize("address, taken", [("10.0.1.11", "cluster.nodes[0].ip"), ("10.0.1.12", "cluster.nodes[1].ip"),
                                            ("10.0.1.50", "network.vip")])  # fmt: skip
def test_the_arbiter_is_a_third_host(address, taken):
    for create in (True, False):
        cfg = with_device(address=address, create=create)
        cfg["hacluster_password"] = PASSWORD
        why = "the arbiter must be a third host: a node or the VIP cannot vote for itself"
        assert only_problem(cfg) == f"{KEY}.address: {address} is also {taken}: {why}"


def test_gir_lb_makes_no_arbiter_on_a_lan():
    assert only_problem(on_lan()) == f"{KEY}.create: gir-lb makes an arbiter on aws or in the lab; on a lan name an existing one"


def test_the_lab_makes_its_own_arbiter():
    cfg = with_device("debian12", create=False)
    cfg["hacluster_password"] = PASSWORD
    assert only_problem(cfg) == f"{KEY}.create: the lab makes its own arbiter (a box on its switch): use true"


def test_the_lab_has_one_subnet():
    cfg = with_device("debian12", subnet_id="subnet-0123456789abcdef1", subnet_cidr="10.0.1.0/24")
    assert only_problem(cfg) == f"{KEY}.subnet_id: the lab has one subnet: leave it out"


@pytest.mark.parametrize(
    "device, why",
    [
        ({"address": "10.0.9.20"}, "10.0.9.20 is outside network.subnet_cidr 10.0.1.0/24"),
        ({"address": "10.0.1.2"}, "10.0.1.2 is one of the addresses AWS reserves in 10.0.1.0/24"),
        ({"address": "10.0.1.255"}, "10.0.1.255 is the network or broadcast address of 10.0.1.0/24"),
        (
            {"address": "10.0.1.20", "subnet_id": "subnet-0123456789abcdef1", "subnet_cidr": "10.0.2.0/24"},
            "10.0.1.20 is outside quorum_device.subnet_cidr 10.0.2.0/24",
        ),
        (
            {"address": "10.0.2.1", "subnet_id": "subnet-0123456789abcdef1", "subnet_cidr": "10.0.2.0/24"},
            "10.0.2.1 is one of the addresses AWS reserves in 10.0.2.0/24",
        ),
    ],
)
def test_a_made_arbiter_has_a_usable_address_of_its_subnet(device, why):
    assert only_problem(with_device(**device)) == f"{KEY}.address: {why}"


def test_off_the_ec2_api_only_the_network_and_broadcast_addresses_are_reserved():
    assert parse_settings(with_device("debian12", address="10.0.1.2")).cluster.quorum_device is not None
    assert only_problem(with_device("debian12", address="10.0.1.0")).startswith(f"{KEY}.address: 10.0.1.0 is the network")


def test_an_existing_arbiter_needs_the_hacluster_password_it_accepts():
    assert only_problem(with_device(create=False)) == (
        "gir-lb:hacluster_password: an existing arbiter's pcsd signs the nodes' certificates only for its hacluster user:"
        " set the password it accepts (a secret) with quorum_device.create: false"
    )


def test_no_priority_fencing_delay_beside_a_device():
    cfg = with_device()
    cfg["cluster"]["fencing"] = {"mode": "fence_aws", "delay_s": 5}
    assert only_problem(cfg) == (
        "gir-lb:cluster.fencing.delay_s: priority-fencing-delay is not used with a quorum device (the arbiter settles a split):"
        " leave it out"
    )
    cfg["cluster"]["fencing"] = {"mode": "fence_aws"}  # the default is not a choice
    assert parse_settings(cfg).cluster.quorum_device is not None


@pytest.mark.parametrize(
    "device, found",
    [
        (
            {"subnet_id": "subnet-0123456789abcdef1"},
            [f"{KEY}.subnet_cidr: required with subnet_id: the arbiter's address is checked against it"],
        ),
        ({"subnet_cidr": "10.0.1.0/24"}, [f"{KEY}.subnet_cidr: given without subnet_id"]),
        (
            {"create": False, "subnet_id": "subnet-0123456789abcdef1", "subnet_cidr": "10.0.1.0/24"},
            [f"{KEY}.subnet_id: only with create: true (an existing arbiter is reached at its address)"],
        ),
        ({"algorithm": "2nodelms"}, [f"{KEY}.algorithm: Input should be 'ffsplit' or 'lms'"]),
        ({"tie_breaker": "1"}, [f"{KEY}.tie_breaker: Input should be 'lowest' or 'highest'"]),
        ({"address": "arbiter.example"}, [f"{KEY}.address: Input is not a valid IPv4 address"]),
        ({"port": 5403}, [f"{KEY}.port: Extra inputs are not permitted"]),
    ],
)  # fmt: skip
def test_the_device_itself(device, found):
    cfg = with_device(**device)
    cfg["hacluster_password"] = PASSWORD
    assert problems(cfg) == found


def test_an_address_is_required():
    cfg = base_config()
    cfg["cluster"]["quorum_device"] = {"create": True}
    assert only_problem(cfg) == f"{KEY}.address: Field required"


def test_every_problem_comes_at_once():
    cfg = on_lan(address="10.0.1.50")
    cfg["cluster"]["fencing"] = {"mode": "disabled", "delay_s": 5}
    cfg["tenants"][0]["rp"]["members"][0]["url"] = "http://10.0.1.11:8080"  # a problem of another part
    assert sorted(problems(cfg)) == sorted(
        [
            f"{KEY}.address: 10.0.1.50 is also network.vip: the arbiter must be a third host: a node or the VIP cannot vote for"
            " itself",
            f"{KEY}.create: gir-lb makes an arbiter on aws or in the lab; on a lan name an existing one",
            "gir-lb:cluster.fencing.delay_s: priority-fencing-delay is not used with a quorum device (the arbiter settles a"
            " split): leave it out",
            "gir-lb:tenants[0].rp.members[0].url: 10.0.1.11 is cluster.nodes[0].ip: a member cannot be the balancer itself",
        ]
    )
    cfg = with_device(address="10.0.9.20", create=False)  # an existing arbiter: no subnet check, but the password
    cfg["cluster"]["fencing"] = {"mode": "fence_aws", "delay_s": 5}
    assert [p.split(":")[1] for p in problems(cfg)] == ["hacluster_password", "cluster.fencing.delay_s"]
