"""`__main__.py` itself under mocks, with the stack's config as the engine passes it."""

from __future__ import annotations

import json
import runpy
import subprocess

import pulumi
import pulumi_harness
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi_harness import run

from conftest import REPO

SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nPROGRAM-SSH-KEY\n-----END OPENSSH PRIVATE KEY-----\n"


def engine_config(stack: str, **extra) -> dict[str, str]:
    """Stack config as the Pulumi engine hands it to a program: strings, objects as JSON."""
    config = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    config.update({f"gir-lb:{k}": v for k, v in extra.items()})
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def run_program(config: dict[str, str], secret_keys=(), monkeypatch=None, subnet=None):
    set_all_config(config, list(secret_keys))
    exports: dict = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exports.__setitem__(name, value))
    resolved: dict = {}

    def build():
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
        return pulumi.Output.from_input(exports).apply(resolved.update)

    try:
        monitor, _ = run(build, subnet=subnet, stack=json.loads(json.dumps(config["gir-lb:environment"])))
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


def test_a_missing_ssh_key_stops_the_program_before_any_resource(monkeypatch):
    with pytest.raises(pulumi.RunError, match="gir-lb:ssh_private_key: required"):
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
    with pytest.raises(pulumi.RunError) as info:
        run_program(config, ["gir-lb:ssh_private_key"], monkeypatch)
    # the engine shows the whole key-path list as the error, without a traceback
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
    from pulumi_harness import plain

    for r in resources:
        if r.type == "command:remote:Command":
            proxy = plain(r.inputs["connection"])["proxy"]
            assert proxy["host"] == "bastion.dev.gir.internal" and proxy["user"] == "ec2-user"
    assert any("STONITH is disabled" in w for w in warnings)
    assert not any(r.protect for r in resources)
    assert exports["tenant_urls"]["t1"]["rps_url"] == "https://10.20.1.150/t1/rp/api"


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
    with pytest.raises(pulumi.RunError, match="gir-lb:tls_key: does not match tls_cert") as info:
        run_program(config, ["gir-lb:ssh_private_key", "gir-lb:tls_key"], monkeypatch)
    assert "PRIVATE KEY" not in str(info.value)  # the message never echoes the key
    assert [t for t in registered if t != "pulumi:pulumi:Stack"] == []


def test_a_lab_stack_or_a_self_signed_prod_is_refused_before_any_resource_with_every_problem(monkeypatch):
    with pytest.raises(pulumi.RunError) as info:
        run_program(engine_config("prod"), (), monkeypatch)
    assert str(info.value).splitlines()[1:] == [
        "  - gir-lb:tls_cert: prod must not serve a generated self-signed certificate: set tls_cert and tls_key",
        "  - gir-lb:ssh_private_key: required to bootstrap the nodes over SSH (pulumi config set --secret)",
    ]
    with pytest.raises(pulumi.RunError, match="gir-lb:platform: a lab stack runs on this machine with python -m lab"):
        run_program(engine_config("lab", ssh_private_key=SSH_KEY), ["gir-lb:ssh_private_key"], monkeypatch)
