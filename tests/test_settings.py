"""Every rejected input gives one line naming its key path; all problems come in one error."""

from __future__ import annotations

import pytest

from blueprint.stack_config import SettingsError, parse_settings
from conftest import STACK_NAMES, base_config, stack_config


def problems(cfg: dict) -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(cfg, source="test")
    return info.value.problems


def only_problem(cfg: dict) -> str:
    found = problems(cfg)
    assert len(found) == 1, found
    return found[0]


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


def with_tenant(cfg: dict, index: int, edit) -> dict:
    edit(cfg["tenants"][index])
    return cfg


def test_duplicate_tenant_id():
    cfg = base_config()
    cfg["tenants"][1]["id"] = "t1"
    assert only_problem(cfg) == "gir-lb:tenants[1].id: tenant id 't1' is also tenants[0].id"


@pytest.mark.parametrize("bad", ["T1", "t 1", "t1/x", "..", "t1;", "t%2f", "t1\n", "tenant-one", ""])
def test_tenant_id_must_be_safe_in_url_apache_name_and_cookie_path(bad):
    cfg = base_config()
    cfg["tenants"][0]["id"] = bad
    assert only_problem(cfg).startswith("gir-lb:tenants[0].id: String should match pattern")


def test_duplicate_rws_route():
    cfg = with_tenant(base_config(), 0, lambda t: t["rws"]["members"][1].update(route="T1RWS1"))
    assert only_problem(cfg) == "gir-lb:tenants[0].rws.members[1].route: route 'T1RWS1' is already used by members[0]"


def test_rcs_app_names_that_give_the_same_route():
    cfg = with_tenant(base_config(), 1, lambda t: t["rcs"]["members"][1].update(app_name="T2_RCS_1"))
    assert only_problem(cfg) == "gir-lb:tenants[1].rcs.members[1].route: route 'T2_RCS_1' is already used by members[0]"


@pytest.mark.parametrize("bad", ['RCS"1', "RCS\n1", "RCS.1", "RCS/1", "x" * 65])
def test_rcs_app_name_must_be_a_safe_route(bad):
    cfg = with_tenant(base_config(), 0, lambda t: t["rcs"]["members"][0].update(app_name=bad))
    assert only_problem(cfg).startswith("gir-lb:tenants[0].rcs.members[0].app_name:")


@pytest.mark.parametrize("bad", ["T1.RWS", "T1 RWS", "T1;RWS", ""])
def test_rws_route_must_be_safe(bad):
    cfg = with_tenant(base_config(), 0, lambda t: t["rws"]["members"][0].update(route=bad))
    assert only_problem(cfg).startswith("gir-lb:tenants[0].rws.members[0].route:")


@pytest.mark.parametrize(
    "bad, why",
    [
        ("ftp://h:21", "must start with http:// or https://"),
        ("http://h", "must name an explicit port"),
        ("http://h:8080/rws", "without user, path or query"),
        ("http://h:8080?x=1", "without user, path or query"),
        ("http://u:p@h:8080", "without user, path or query"),
        ('http://h:8080"evil', "no spaces or quotes"),
        ("http://h:8080 route=X", "no spaces or quotes"),
        ("http://h:99999", "invalid port"),
        ("http://h_x:80", "not a valid DNS name"),
        ("h:8080", "must start with http:// or https://"),
    ],
)
def test_member_url_must_be_scheme_host_port(bad, why):
    cfg = with_tenant(base_config(), 0, lambda t: t["rp"]["members"][1].update(url=bad))
    line = only_problem(cfg)
    assert line.startswith("gir-lb:tenants[0].rp.members[1].url: ") and why in line, line


def test_empty_service():
    cfg = with_tenant(base_config(), 1, lambda t: t["interaction_receiver"].update(members=[]))
    assert only_problem(cfg).startswith("gir-lb:tenants[1].interaction_receiver.members: List should have at least 1 item")


def test_missing_service():
    cfg = with_tenant(base_config(), 0, lambda t: t.pop("rcs"))
    assert only_problem(cfg) == "gir-lb:tenants[0].rcs: Field required"


def test_webdav_needs_an_active_member():
    cfg = with_tenant(base_config(), 0, lambda t: t["webdav"]["members"][0].update(hot_standby=True))
    assert only_problem(cfg) == "gir-lb:tenants[0].webdav.members: at least one member must not be a hot standby"


@pytest.mark.parametrize("bad", ["rcs", "recordings", "api"])
def test_webdav_extra_path_cannot_shadow_a_service(bad):
    cfg = with_tenant(base_config(), 0, lambda t: t["webdav"].update(extra_paths=["dest2", bad]))
    assert only_problem(cfg) == f"gir-lb:tenants[0].webdav.extra_paths[1]: {bad!r} is already a GIR service path"


def test_webdav_extra_path_must_be_a_safe_segment():
    cfg = with_tenant(base_config(), 0, lambda t: t["webdav"].update(extra_paths=["dest 2"]))
    assert only_problem(cfg).startswith("gir-lb:tenants[0].webdav.extra_paths[0]: String should match pattern")


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
    assert only_problem(cfg) == "gir-lb:tenants[1].rp.members[0].url: member address 10.0.1.77 is the VIP"


def test_vip_equal_to_a_node_address():
    cfg = base_config()
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.50"
    assert only_problem(cfg) == "gir-lb:cluster.nodes[1].ip: 10.0.1.50 is also network.vip"


def test_tls_key_without_cert():
    cfg = base_config(tls_key="-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
    assert only_problem(cfg) == "gir-lb:tls_key: a TLS key was given without tls_cert"


def test_unknown_key_is_rejected_with_its_path():
    cfg = base_config()
    cfg["httpd"] = {"max_agent": 10}
    assert only_problem(cfg) == "gir-lb:httpd.max_agent: Extra inputs are not permitted"


def test_rhel6_cannot_use_aws_agents():
    cfg = base_config("rhel6")
    cfg["network"]["vip_mode"] = "aws"
    cfg["cluster"]["fencing"] = {"mode": "fence_aws"}
    found = problems(cfg)
    assert any(p.startswith("gir-lb:network.vip_mode: RHEL 6") for p in found), found
    assert any(p.startswith("gir-lb:cluster.fencing.mode: RHEL 6") for p in found), found


def test_transport_must_match_the_cluster_stack():
    cfg = base_config("rhel9")
    cfg["cluster"]["transport"] = "udpu"
    assert only_problem(cfg) == "gir-lb:cluster.transport: rhel9 runs corosync 3: use knet"


def test_token_below_the_measured_safe_minimum():
    cfg = base_config()
    cfg["cluster"]["token_ms"] = 300
    assert only_problem(cfg).startswith("gir-lb:cluster.token_ms: Input should be greater than or equal to 500")


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
            "gir-lb:tenants[1].id: String should match pattern '^[a-z][a-z0-9]{0,15}$'",
            "gir-lb:cluster.nodes[0].name: String should match pattern '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'",
        ]
    ), found
    with pytest.raises(SettingsError) as info:
        parse_settings(cfg, source="stacks/Pulumi.x.yaml")
    assert str(info.value).startswith("stacks/Pulumi.x.yaml: 5 problem(s) in the gir-lb settings:\n  - gir-lb:")


def test_secrets_are_hidden_in_the_model():
    s = parse_settings(base_config(hacluster_password="hunter2-very-secret"))
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    assert s.hacluster_password.get_secret_value() == "hunter2-very-secret"


def test_fencing_opt_out_is_explicit_and_warned():
    s = parse_settings(base_config())
    assert s.cluster.fencing.mode == "fence_aws" and s.warnings() == []
    cfg = base_config()
    cfg["cluster"]["fencing"] = {"mode": "disabled"}
    assert parse_settings(cfg).warnings() == [
        "gir-lb:cluster.fencing.mode: STONITH is disabled; a split brain can put the VIP on both nodes"
    ]
