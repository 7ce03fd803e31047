"""lab/ec2.py's extension of moto, in-process (moto's mock_aws): the EC2 behaviour awsvip and
fence_aws depend on, which stock moto 5.2 does not have."""

from __future__ import annotations

import pytest

moto = pytest.importorskip("moto")

import boto3  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from moto.ec2.models.elastic_network_interfaces import NetworkInterfaceBackend  # noqa: E402
from moto.ec2.models.instances import InstanceBackend  # noqa: E402
from moto.ec2.responses import EC2Response  # noqa: E402
from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces  # noqa: E402

from lab.ec2_emulator import extend_moto  # noqa: E402

VIP = "10.0.1.100"


@pytest.fixture
def world(monkeypatch):
    """Two instances in one subnet with moto extended; the patches are undone afterwards."""
    for owner, name in (
        (ElasticNetworkInterfaces, "assign_private_ip_addresses"),
        (NetworkInterfaceBackend, "unassign_private_ip_addresses"),
        (InstanceBackend, "stop_instances"),
        (InstanceBackend, "start_instances"),
        (EC2Response, "call_action"),
    ):
        monkeypatch.setattr(owner, name, getattr(owner, name))  # restored by monkeypatch
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    history: list[dict] = []
    powered: list[tuple[str, str]] = []
    throttle: list[int] = []  # [N]: every Nth call refused
    extend_moto(
        history.append,
        lambda i: powered.append(("off", i)),
        lambda i: powered.append(("on", i)),
        lambda: throttle[0] if throttle else None,
    )
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        instances = [
            ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnet, PrivateIpAddress=ip)[
                "Instances"
            ][0]
            for ip in ("10.0.1.11", "10.0.1.12")
        ]
        enis = [i["NetworkInterfaces"][0]["NetworkInterfaceId"] for i in instances]
        yield ec2, enis, [i["InstanceId"] for i in instances], history, powered, throttle


def holders(ec2, enis: list[str], ip: str) -> list[str]:
    found = ec2.describe_network_interfaces(NetworkInterfaceIds=enis)["NetworkInterfaces"]
    return [e["NetworkInterfaceId"] for e in found if ip in [a["PrivateIpAddress"] for a in e["PrivateIpAddresses"]]]


def test_allow_reassignment_moves_the_address(world):
    ec2, (a, b), _, history, _, _ = world
    ec2.assign_private_ip_addresses(NetworkInterfaceId=a, PrivateIpAddresses=[VIP])
    ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=[VIP], AllowReassignment=True)
    assert holders(ec2, [a, b], VIP) == [b]  # stock moto: on both
    assert [(e["event"], e["eni"], e["holders"]) for e in history] == [("assign", a, {VIP: [a]}), ("assign", b, {VIP: [b]})]


def test_an_address_held_elsewhere_is_refused_without_reassignment(world):
    ec2, (a, b), _, _, _, _ = world
    ec2.assign_private_ip_addresses(NetworkInterfaceId=a, PrivateIpAddresses=[VIP])
    with pytest.raises(ClientError, match=f"InvalidParameterValue.*{VIP} is assigned to {a}"):
        ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=[VIP])
    assert holders(ec2, [a, b], VIP) == [a]


def test_a_primary_address_is_never_moved(world):
    ec2, (a, b), _, _, _, _ = world
    with pytest.raises(ClientError, match="10.0.1.11 is assigned to"):
        ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=["10.0.1.11"], AllowReassignment=True)
    assert holders(ec2, [a, b], "10.0.1.11") == [a]


def test_unassigning_an_address_the_eni_does_not_hold_is_refused(world):
    ec2, (a, b), _, history, _, _ = world
    ec2.assign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=[VIP])
    with pytest.raises(ClientError, match="not assigned to interface"):
        ec2.unassign_private_ip_addresses(NetworkInterfaceId=a, PrivateIpAddresses=[VIP])
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=b, PrivateIpAddresses=[VIP])
    assert holders(ec2, [a, b], VIP) == [] and history[-1]["holders"] == {VIP: []}


def test_stop_and_start_power_the_node(world):
    ec2, _, (first, second), history, powered, _ = world
    ec2.stop_instances(InstanceIds=[second], Force=True)
    ec2.start_instances(InstanceIds=[second])
    assert powered == [("off", second), ("on", second)]
    assert [(e["event"], e["instance"]) for e in history] == [("stop", second), ("start", second)]
    state = ec2.describe_instances(InstanceIds=[second])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "running"


def test_throttling_refuses_every_nth_call_and_a_retrying_client_rides_it_out(world):
    """As EC2 over an account's request rate: RequestLimitExceeded, which botocore retries."""
    from botocore.config import Config

    ec2, enis, _, history, _, throttle = world
    throttle.append(2)
    once = boto3.client("ec2", region_name="eu-west-1", config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    outcomes = []
    for _ in range(4):
        try:
            once.describe_network_interfaces(NetworkInterfaceIds=enis)
            outcomes.append("ok")
        except ClientError as e:
            outcomes.append(e.response["Error"]["Code"])
    assert outcomes == ["ok", "RequestLimitExceeded", "ok", "RequestLimitExceeded"]
    assert [e["event"] for e in history] == ["throttled", "throttled"]
    for _ in range(4):  # the default client retries a throttled call
        ec2.describe_network_interfaces(NetworkInterfaceIds=enis)
    throttle.clear()
    assert once.describe_network_interfaces(NetworkInterfaceIds=enis)["NetworkInterfaces"]
