"""The top-level Settings: every stack file is valid, unknown keys are refused by path, all problems
come in one error, secrets stay hidden, and a bastion comes with its host key."""

from __future__ import annotations

import pytest

from blueprint.stack_config import SettingsError, parse_settings
from tests.conftest import STACK_NAMES, base_config, stack_config
from tests.unit.settings.conftest import only_problem, problems


@pytest.mark.parametrize("name", STACK_NAMES)
def test_every_stack_file_is_valid(name):
    s = parse_settings(stack_config(name), source=name)
    assert s.environment == name or name.startswith("test")


def test_stacks_differ_as_documented():
    dev, prod = (parse_settings(stack_config(n)) for n in ("dev", "prod"))
    assert len(dev.tenants) == 2 and len(prod.tenants) == 3
    counts = {t.id: len(t.rws.members) for t in prod.tenants}
    assert len(set(counts.values())) > 1, counts
    assert prod.is_protected and not dev.is_protected


def test_base_config_is_valid():
    s = parse_settings(base_config())
    assert [t.id for t in s.tenants] == ["t1", "t2"]
    assert s.tenants[0].rcs.members[0].route == "T1_RCS_1"  # spaces become underscores


def test_unknown_key_is_rejected_with_its_path():
    cfg = base_config()
    cfg["httpd"] = {"max_agent": 10}
    assert only_problem(cfg) == "gir-lb:httpd.max_agent: Extra inputs are not permitted"


def test_all_problems_are_reported_at_once():
    cfg = base_config()
    cfg["network"]["vip"] = "10.0.9.9"
    cfg["tenants"][0]["rws"]["members"][1]["route"] = "T1RWS1"
    cfg["tenants"][1]["webdav"]["members"][0]["url"] = "http://h:1/x"
    cfg["tenants"][1]["id"] = "T2"
    cfg["cluster"]["nodes"][0]["name"] = "Bad_Name"
    found = problems(cfg)
    assert sorted(found) == sorted(
        [
            "gir-lb:network.vip: 10.0.9.9 is outside subnet_cidr 10.0.1.0/24",
            "gir-lb:tenants[0].rws.members[1].route: route 'T1RWS1' is already used by members[0]",
            "gir-lb:tenants[1].webdav.members[0].url: must be http(s)://host:port without user, path or query, got 'http://h:1/x'",
            "gir-lb:tenants[1].id: 'T2' is not a tenant id: a lowercase letter, then up to 15 lowercase letters or digits (t1)",
            "gir-lb:cluster.nodes[0].name: 'Bad_Name' is not a host name: up to 63 lowercase letters, digits or '-',"
            " not starting or ending with '-'",
        ]
    ), found
    with pytest.raises(SettingsError) as info:
        parse_settings(cfg, source="stacks/Pulumi.x.yaml")
    assert str(info.value).startswith("stacks/Pulumi.x.yaml: 5 problem(s) in the gir-lb settings:\n  - gir-lb:")


def test_secrets_are_hidden_in_the_model():
    s = parse_settings(base_config(hacluster_password="hunter2-very-secret"))
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.hacluster_password.get_secret_value() == "hunter2-very-secret"


def test_a_bastion_needs_its_host_key():
    config = base_config()
    config["ssh"] = {"bastion_host": "bastion.example"}
    assert only_problem(config) == (
        "gir-lb:ssh.bastion_host_key: required with ssh.bastion_host: the bootstrap pins every host key it connects to"
    )
    config["ssh"]["bastion_host_key"] = "bastion.example ssh-ed25519 AAAA"
    refused = "gir-lb:ssh.bastion_host_key: 'bastion.example ssh-ed25519 AAAA' is not a public SSH host key"
    assert only_problem(config).startswith(refused)
