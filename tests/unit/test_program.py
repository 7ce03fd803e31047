"""`__main__.py` itself under mocks, with the stack's config as the engine passes it."""

from __future__ import annotations

import ipaddress
import json
import runpy
import subprocess

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config

from blueprint.plan import build_plan
from blueprint.render import render_bundle
from blueprint.settings import addresses_from_pool
from blueprint.stack_config import load_stack
from components.program import ERROR_SHOWN_EXIT_CODE, SettingsRefused
from harness import pulumi_mocks as pulumi_harness
from harness.pulumi_mocks import Ec2Instance, host_private_key, host_public_key, plain, run
from tests.conftest import REPO
from tests.unit.test_pulumi import SECOND_SUBNET

SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nPROGRAM-SSH-KEY\n-----END OPENSSH PRIVATE KEY-----\n"


def engine_config(stack: str, **extra) -> dict[str, str]:
    """Stack config as the Pulumi engine hands it to a program: strings, objects as JSON."""
    config = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    config.update({f"gir-lb:{k}": v for k, v in extra.items()})
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def run_program(config: dict[str, str], secret_keys=(), monkeypatch=None, subnet=None, instances=None, subnets=None):
    set_all_config(config, list(secret_keys))
    exports: dict = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exports.__setitem__(name, value))
    resolved: dict = {}

    def build():
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(exports).apply(resolved.update)

    try:
        monitor, _ = run(build, subnet=subnet, stack=config["gir-lb:environment"], instances=instances, subnets=subnets)
    finally:
        set_all_config({}, [])
    return monitor.registered, resolved


def test_program_builds_the_dev_stack_and_exports_what_gir_needs(monkeypatch):
    config = engine_config("dev", ssh_private_key=SSH_KEY)
    resources, exports = run_program(config, ["gir-lb:ssh_private_key"], monkeypatch)
    assert sum(r.type == "aws:ec2/instance:Instance" for r in resources) == 2
    assert exports["vip"] == "10.20.1.50" and exports["base_url"] == "https://10.20.1.50"
    assert len(exports["instance_ids"]) == 2 and all(i.startswith("i-") for i in exports["instance_ids"])
    assert exports["private_ips"] == ["10.20.1.11", "10.20.1.12"]
    assert exports["tenant_urls"]["t2"] == {
        "htcc.baseurl": "https://10.20.1.50/t2",
        "rps_url": "https://10.20.1.50/t2/rp/api",
        "rcs.base_uri": "https://10.20.1.50/t2/rcs",
        "interaction_receiver": "https://10.20.1.50/t2/interactionreceiver",
        "webdav_recordings": "https://10.20.1.50/t2/recordings",
    }
    assert "PROGRAM-SSH-KEY" not in json.dumps(exports)
    ssh = [r for r in resources if r.type == "command:remote:Command"][0].inputs["connection"]
    assert rpc.is_rpc_secret(ssh)
    assert "arbiter_address" not in exports  # no quorum device


def test_an_overlay_stack_exports_its_vip_outside_the_vpc_and_a_node_in_each_subnet(monkeypatch):
    config = engine_config("dev-multi-az", ssh_private_key=SSH_KEY)
    resources, exports = run_program(config, ["gir-lb:ssh_private_key"], monkeypatch, subnets=[SECOND_SUBNET])
    assert exports["vip"] == "192.168.20.50" and exports["base_url"] == "https://192.168.20.50"
    assert exports["private_ips"] == ["10.20.1.11", "10.20.2.12"]
    assert exports["tenant_urls"]["t1"]["rps_url"] == "https://192.168.20.50/t1/rp/api"
    assert sum(r.type == "aws:ec2/route:Route" for r in resources) == 2


def test_a_stack_with_an_arbiter_builds_it_and_exports_its_address(monkeypatch):
    config = engine_config("dev", ssh_private_key=SSH_KEY)
    cluster = json.loads(config["gir-lb:cluster"])
    cluster["quorum_device"] = {"address": "10.20.1.13", "create": True}
    config["gir-lb:cluster"] = json.dumps(cluster)
    resources, exports = run_program(config, ["gir-lb:ssh_private_key"], monkeypatch)
    instances = [r for r in resources if r.type == "aws:ec2/instance:Instance"]
    assert sorted(r.inputs["privateIp"] for r in instances) == ["10.20.1.11", "10.20.1.12", "10.20.1.13"]
    assert exports["arbiter_address"] == "10.20.1.13"
    assert exports["private_ips"] == ["10.20.1.11", "10.20.1.12"] and len(exports["instance_ids"]) == 2  # the nodes'


def test_a_missing_ssh_key_stops_the_program_before_any_resource(monkeypatch):
    with pytest.raises(SettingsRefused, match="gir-lb:ssh_private_key: required"):
        run_program(engine_config("dev"), (), monkeypatch)


def test_a_bad_stack_reports_every_problem_before_any_resource(monkeypatch):
    registered = []
    original = pulumi_harness.RecordingMonitor.RegisterResource
    monkeypatch.setattr(
        pulumi_harness.RecordingMonitor, "RegisterResource", lambda self, req: registered.append(req.type) or original(self, req)
    )
    config = engine_config("dev", ssh_private_key=SSH_KEY)
    network = json.loads(config["gir-lb:network"])
    network["vip"] = "10.20.9.9"
    tenants = json.loads(config["gir-lb:tenants"])
    tenants[1]["rcs"]["members"][0]["url"] = "http://t2-rcs1:8008/rcs"
    config.update({"gir-lb:network": json.dumps(network), "gir-lb:tenants": json.dumps(tenants)})
    errors: list[str] = []
    monkeypatch.setattr(pulumi.log, "error", lambda msg, *a, **k: errors.append(msg))
    with pytest.raises(SettingsRefused) as info:
        run_program(config, ["gir-lb:ssh_private_key"], monkeypatch)
    # the engine shows the whole key-path list as one error, without a traceback, and no second
    # "unhandled error" line: the exit code says it was shown
    assert errors == [str(info.value)] and info.value.code == ERROR_SHOWN_EXIT_CODE
    assert str(info.value).splitlines()[1:] == [
        "  - gir-lb:network.vip: 10.20.9.9 is outside subnet_cidr 10.20.1.0/24",
        "  - gir-lb:tenants[1].rcs.members[0].url: must be http(s)://host:port without user, path or query,"
        " got 'http://t2-rcs1:8008/rcs'",
    ]
    assert [t for t in registered if t != "pulumi:pulumi:Stack"] == []


def test_scalar_config_arrives_as_text_and_is_converted(monkeypatch):
    config = engine_config("dev", ssh_private_key=SSH_KEY, protect=True)
    assert config["gir-lb:protect"] == "true"
    resources, _ = run_program(config, ["gir-lb:ssh_private_key"], monkeypatch)
    assert all(r.protect for r in resources if r.type.startswith("aws:"))


def test_test_stack_goes_through_the_bastion_and_warns_about_stonith(monkeypatch):
    warnings = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    config = engine_config("test-example", ssh_private_key=SSH_KEY)
    resources, exports = run_program(config, ["gir-lb:ssh_private_key"], monkeypatch)
    from harness.pulumi_mocks import plain

    for r in resources:
        if r.type == "command:remote:Command":
            proxy = plain(r.inputs["connection"])["proxy"]
            assert proxy["host"] == "bastion.dev.gir.internal" and proxy["user"] == "ec2-user"
    assert any("STONITH is disabled" in w for w in warnings)
    assert not any(r.protect for r in resources)
    # from address_pool 10.20.1.128/26 for the name test-example (a changed rule would move deployed stacks)
    assert exports["tenant_urls"]["t1"]["rps_url"] == "https://10.20.1.162/t1/rp/api"
    assert exports["private_ips"] == ["10.20.1.160", "10.20.1.161"]


def test_a_tls_key_that_does_not_match_its_certificate_stops_the_program_before_any_resource(monkeypatch, tmp_path):
    def pair(name: str) -> tuple[str, str]:
        key, crt = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", key, "-out", crt],
            check=True, capture_output=True,
        )
        return crt.read_text(), key.read_text()

    (cert, _), (_, other_key) = pair("one"), pair("two")
    config = engine_config("dev", ssh_private_key=SSH_KEY, tls_cert=cert, tls_key=other_key)
    registered = []
    original = pulumi_harness.RecordingMonitor.RegisterResource
    monkeypatch.setattr(
        pulumi_harness.RecordingMonitor, "RegisterResource", lambda self, req: registered.append(req.type) or original(self, req)
    )
    with pytest.raises(SettingsRefused, match="gir-lb:tls_key: does not match tls_cert") as info:
        run_program(config, ["gir-lb:ssh_private_key", "gir-lb:tls_key"], monkeypatch)
    assert "PRIVATE KEY" not in str(info.value)  # the message never echoes the key
    assert [t for t in registered if t != "pulumi:pulumi:Stack"] == []


def test_a_self_signed_prod_or_a_lan_stack_is_refused_before_any_resource_with_every_problem(monkeypatch):
    with pytest.raises(SettingsRefused) as info:
        run_program(engine_config("prod"), (), monkeypatch)
    assert str(info.value).splitlines()[1:] == [
        "  - gir-lb:tls_cert: prod must not serve a generated self-signed certificate: set tls_cert and tls_key",
        "  - gir-lb:ssh_private_key: required to bootstrap the nodes over SSH (pulumi config set --secret)",
    ]
    with pytest.raises(SettingsRefused, match="gir-lb:platform: a lan stack is rendered"):
        run_program(engine_config("lab", platform="lan", network=LAN_NETWORK), (), monkeypatch)


LAN_NETWORK = {
    "region": "eu-west-1",
    "subnet_id": "subnet-00000000000000000",
    "subnet_cidr": "198.18.0.0/24",
    "vip": "198.18.0.100",
    "vip_mode": "l2",
    "client_cidrs": ["198.18.0.0/24"],
    "admin_cidrs": ["198.18.0.0/24"],
}


def test_the_lab_stack_is_built_on_this_machine_and_bootstrapped_by_the_same_steps_over_pinned_ssh(monkeypatch):
    """platform lab: the boxes are local commands, and the AWS Bootstrap runs the plan over SSH
    through the lab's loopback gateway, each connection pinned to the key generated for its node."""
    resources, exports = run_program(engine_config("lab"), (), monkeypatch)
    by_name = {r.name: r for r in resources}
    assert not [r for r in resources if r.type.startswith(("aws:", "random:", "tls:"))]
    assert {"gir-lb-world", "gir-lb-lab-a", "gir-lb-lab-b", "gir-lb-ssh-key", "gir-lb-hacluster-password"} <= set(by_name)
    for index, node in enumerate(("lab-a", "lab-b")):
        box = by_name[f"gir-lb-{node}"]
        assert box.delete_before_replace and box.inputs["create"].endswith(f"-m lab node up --name lab --index {index}")
        assert rpc.is_rpc_secret(box.inputs["stdin"])  # its host key
    steps = [r for r in resources if r.type == "command:remote:Command"]
    lab = load_stack(str(REPO / "stacks/Pulumi.lab.yaml"))
    planned = sorted(st.name for st in build_plan(lab, render_bundle(lab)))
    assert sorted(r.name.removeprefix("gir-lb-boot-") for r in steps) == planned
    for step in steps:
        connection = plain(step.inputs["connection"])
        node = "lab-a" if connection["port"] == 2201 else "lab-b"
        assert connection["host"].startswith("127.") and connection["user"] == "root"
        assert connection["hostKey"] == host_public_key(f"gir-lb-{node}-host-key").strip()
        assert connection["privateKey"] == host_private_key("gir-lb-ssh-key")
        assert rpc.is_rpc_secret(step.inputs["connection"])
    assert exports["vip"] == "198.18.0.100" and set(exports["tenant_urls"]) == {"t1", "t2"}


# --- a test stack's pool addresses against the instances already in the subnet ------------------

PR = "test-pr-12"
PR_ADDRESSES = addresses_from_pool(ipaddress.ip_network("10.20.1.128/26"), ipaddress.ip_network("10.20.1.0/24"), PR)


def recorded_registrations(monkeypatch) -> list[str]:
    """The types registered from now on, the stack itself aside."""
    registered: list[str] = []
    original = pulumi_harness.RecordingMonitor.RegisterResource

    def register(self, req):
        if req.type != "pulumi:pulumi:Stack":
            registered.append(req.type)
        return original(self, req)

    monkeypatch.setattr(pulumi_harness.RecordingMonitor, "RegisterResource", register)
    return registered


def run_pr_stack(monkeypatch, instances: list[Ec2Instance]) -> dict:
    """The test-example template deployed as stack test-pr-12, with `instances` already in the subnet: its exports."""
    config = engine_config("test-example", environment=PR, ssh_private_key=SSH_KEY)
    return run_program(config, ["gir-lb:ssh_private_key"], monkeypatch, instances=instances)[1]


def test_a_pool_stack_with_its_addresses_free_is_built_on_them(monkeypatch):
    registered = recorded_registrations(monkeypatch)
    elsewhere = Ec2Instance("i-0dev0000000000001", "10.20.1.11", tags={"stack": "dev"})  # not on our addresses
    gone = Ec2Instance("i-0gone00000000009", str(PR_ADDRESSES.vip), tags={"stack": "test-pr-9"}, state="terminated")
    exports = run_pr_stack(monkeypatch, [elsewhere, gone])
    assert registered.count("aws:ec2/instance:Instance") == 2
    assert exports["vip"] == str(PR_ADDRESSES.vip)
    assert exports["private_ips"] == [str(ip) for ip in PR_ADDRESSES.nodes]


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_another_stacks_instance_on_a_pool_address_stops_the_preview_before_any_resource(monkeypatch, state):
    registered = recorded_registrations(monkeypatch)
    # test-pr-9's node, with the VIP it moved there as a secondary address
    other = Ec2Instance("i-0feed000000000009", "10.20.1.200", [str(PR_ADDRESSES.vip)], tags={"stack": "test-pr-9"}, state=state)
    with pytest.raises(SettingsRefused) as info:
        run_pr_stack(monkeypatch, [other])
    assert str(info.value).splitlines()[1:] == [
        f"  - gir-lb:network.address_pool: {PR_ADDRESSES.vip} is held by instance i-0feed000000000009 (stack test-pr-9):"
        " rename the stack (its environment) or give it another pool"
    ]
    assert registered == []


def test_a_re_preview_of_a_deployed_pool_stack_finds_its_own_instances_and_goes_on(monkeypatch):
    registered = recorded_registrations(monkeypatch)
    ours = [
        Ec2Instance(f"i-0own00000000000{n}", str(ip), [str(PR_ADDRESSES.vip)] if n == 0 else [], tags={"stack": PR})
        for n, ip in enumerate(PR_ADDRESSES.nodes)
    ]
    exports = run_pr_stack(monkeypatch, ours)
    assert registered.count("aws:ec2/instance:Instance") == 2 and exports["vip"] == str(PR_ADDRESSES.vip)


def test_another_stacks_instance_on_the_arbiter_address_stops_the_preview_before_any_resource(monkeypatch):
    registered = recorded_registrations(monkeypatch)
    cluster = yaml.safe_load((REPO / "stacks" / "Pulumi.test-example.yaml").read_text())["config"]["gir-lb:cluster"]
    cluster["quorum_device"] = {"address": "10.20.1.20", "create": True}
    config = engine_config("test-example", environment=PR, ssh_private_key=SSH_KEY, cluster=cluster)
    other = Ec2Instance("i-0feed00000000000a", "10.20.1.20", tags={"stack": "test-pr-9"})
    with pytest.raises(SettingsRefused) as info:
        run_program(config, ["gir-lb:ssh_private_key"], monkeypatch, instances=[other])
    assert str(info.value).splitlines()[1:] == [
        "  - gir-lb:cluster.quorum_device.address: 10.20.1.20 is held by instance i-0feed00000000000a (stack test-pr-9)"
    ]
    assert registered == []
