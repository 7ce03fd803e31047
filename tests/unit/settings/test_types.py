"""The string, number, URL and port types: a refused value is named by its key path in a sentence,
never as a pattern, and never shows a password."""

from __future__ import annotations

import re

import pytest

from blueprint.stack_config import parse_settings
from tests.conftest import REPO, base_config
from tests.unit.settings.conftest import only_problem, problems, rp_member, with_tenant


@pytest.mark.parametrize("bad", ["T1", "t 1", "t1/x", "..", "t1;", "t%2f", "t1\n", "tenant-one", ""])
def test_tenant_id_must_be_safe_in_url_apache_name_and_cookie_path(bad):
    cfg = base_config()
    cfg["tenants"][0]["id"] = bad
    why = "is not a tenant id: a lowercase letter, then up to 15 lowercase letters or digits (t1)"
    assert only_problem(cfg) == f"gir-lb:tenants[0].id: {bad!r} {why}"


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


def test_webdav_extra_path_must_be_a_safe_segment():
    cfg = with_tenant(base_config(), 0, lambda t: t["webdav"].update(extra_paths=["dest 2"]))
    assert only_problem(cfg) == (
        "gir-lb:tenants[0].webdav.extra_paths[0]: 'dest 2' is not a path segment: "
        "1 to 32 lowercase letters, digits or '-' or '_', first a letter or digit"
    )


@pytest.mark.parametrize("host", ["167772161", "0x0a000001", "012.0.0.1", "10.1", "0xa.0.0.1"])
def test_a_member_host_in_another_ipv4_notation_is_refused(host):
    # the resolver reads each as 10.0.0.1: it would slip past the VIP and node checks
    line = only_problem(rp_member(f"http://{host}:8080"))
    why = f"host {host} is the IPv4 address 10.0.0.1 in another notation: write 10.0.0.1"
    assert line == f"gir-lb:tenants[0].rp.members[0].url: {why}"


def test_a_member_host_in_another_notation_cannot_hide_the_vip():
    line = only_problem(rp_member("http://0x0a000132:8080"))  # 10.0.1.50, the VIP
    assert line.endswith("host 0x0a000132 is the IPv4 address 10.0.1.50 in another notation: write 10.0.1.50")


@pytest.mark.parametrize("host", ["10.0.0.256", "1.2.3.4.5", "0x1ffffffff"])
def test_an_invalid_ipv4_member_host_is_refused(host):
    line = only_problem(rp_member(f"http://{host}:8080"))
    assert line == f"gir-lb:tenants[0].rp.members[0].url: host {host} is not a valid IPv4 address (four numbers from 0 to 255)"


@pytest.mark.parametrize("bad", [True, False, 80.0, 8080.5, "8080", 0, 65536, -1, None])
def test_a_port_is_a_whole_number_not_a_yaml_boolean_or_float(bad):
    why = f"must be a port number, a whole number from 1 to 65535, got {bad!r}"
    assert only_problem(base_config(httpd={"port": bad})) == f"gir-lb:httpd.port: {why}"
    assert only_problem(base_config(httpd={"tls": {"port": bad}})) == f"gir-lb:httpd.tls.port: {why}"


def test_an_address_is_text_not_a_number():
    cfg = base_config()
    cfg["network"]["vip"] = 167772161  # YAML `vip: 167772161`
    cfg["network"]["client_cidrs"] = [167772160]
    assert problems(cfg) == [
        "gir-lb:network.vip: must be written as text like 10.0.1.50, got 167772161",
        "gir-lb:network.client_cidrs[0]: must be written as text like 10.0.1.0/24, got 167772160",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://admin:Pa55-word@h:21",
        "http://admin:Pa55-word@h:99999",
        "http://admin:Pa55-word@h",
        "http://admin:Pa55-word@h:8080",
        "http://admin:Pa55@word@h:8080",
        "http://admin:Pa55-word@h:8080/rws?x=1",
        "admin:Pa55-word@h:8080",
    ],
)
def test_a_refused_url_never_shows_its_password(url):
    line = only_problem(rp_member(url))
    assert line.startswith("gir-lb:tenants[0].rp.members[0].url: ") and "Pa55" not in line and "word" not in line, line
    assert "…@h" in line


def test_the_user_part_is_refused_with_the_url_redacted():
    assert only_problem(rp_member("http://admin:Pa55-word@h:8080")) == (
        "gir-lb:tenants[0].rp.members[0].url: must be http(s)://host:port without user, path or query, got 'http://…@h:8080'"
    )


LOWER = "lowercase letters, digits or '-'"


def set_path(cfg: dict, path: str, value) -> dict:
    *parents, leaf = path.split(".")
    node = cfg
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    node[leaf] = value
    return cfg


@pytest.mark.parametrize(
    "path, bad, what",
    [
        ("environment", "Prod", f"an environment name: a lowercase letter, then up to 31 {LOWER}"),
        ("network.region", "Ireland", "an AWS region name like eu-west-1"),
        ("network.subnet_id", "subnet-xyz", "a subnet id: subnet- and 8 to 17 hex digits"),
        ("network.instance_type", "large", "an EC2 instance type like t3.medium"),
        ("cluster.name", "gir-lb-much-too-long", f"a cluster name: a lowercase letter, then up to 14 {LOWER}"),
        ("cluster.nodes.0.name", "-lb", f"a host name: up to 63 {LOWER}, not starting or ending with '-'"),
        ("ami.id", "ami-1", "an AMI id: ami- and 8 to 17 hex digits"),
        ("ami.owner", "redhat", "a 12-digit account, amazon, self or aws-marketplace"),
        ("ami.name_filter", "RHEL;reboot", "an AMI name filter: 1 to 128 of A-Z a-z 0-9 space ._*?()/-"),
        ("ssh.user", "Root", f"a Linux user name: up to 32 {LOWER} or '_', first a letter or '_'"),
        ("ssh.bastion_user", "1x", f"a Linux user name: up to 32 {LOWER} or '_', first a letter or '_'"),
        ("ssh.key_name", "key/1", "an EC2 key pair name: 1 to 255 letters, digits, spaces or ._-"),
        ("ssh.bastion_host", "bastion;id", "a host name or IPv4 address: labels of letters, digits, inner '-', joined by '.'"),
        ("tenants.0.rws.members.0.route", "T1.RWS", "a route: 1 to 64 letters, digits, '_' or '-' (no dot, no space)"),
        ("tenants.0.rcs.members.0.app_name", "RCS/1", "an application name: 1 to 64 letters, digits, '_', '-' or inner spaces"),
    ],
)
def test_every_string_limit_is_refused_with_a_sentence_not_a_pattern(path, bad, what):
    line = only_problem(set_path(base_config(), path, bad))
    key = re.sub(r"\.(\d+)", r"[\1]", path)
    assert line == f"gir-lb:{key}: {bad!r} is not {what}"


def test_a_long_refused_value_is_shortened():
    line = only_problem(set_path(base_config(), "environment", "x" * 5000 + "!"))
    shown = repr("x" * 40 + "…")
    assert line == f"gir-lb:environment: {shown} is not an environment name: a lowercase letter, then up to 31 {LOWER}"


def test_no_message_shows_a_raw_regular_expression():
    source = "".join(p.read_text() for p in (REPO / "blueprint" / "settings").glob("*.py"))
    assert "StringConstraints" not in source and "pattern=" not in source  # every limit goes through _matching


@pytest.mark.parametrize(
    "name, why",
    [
        ("localhost", "'localhost' is every machine's own name: name the node"),
        ("123", "'123' is read as an IPv4 address by a resolver: use a name with a letter"),
    ],
)
def test_a_node_name_must_name_that_node(name, why):
    cfg = base_config()
    cfg["cluster"]["nodes"][1]["name"] = name
    assert only_problem(cfg) == f"gir-lb:cluster.nodes[1].name: {why}"


@pytest.mark.parametrize("bad", ["", " ", "   ", " RCS 1", "RCS 1 "])
def test_an_rcs_app_name_is_not_blank_or_edged_with_spaces(bad):
    cfg = with_tenant(base_config(), 0, lambda t: t["rcs"]["members"][0].update(app_name=bad))
    assert only_problem(cfg) == (
        f"gir-lb:tenants[0].rcs.members[0].app_name: {bad!r} is not an application name: "
        "1 to 64 letters, digits, '_', '-' or inner spaces"
    )


@pytest.mark.parametrize("bad", ["..", ".", "-oProxyCommand=id", "bastion-", "a..b", "-bastion.example.com", "x" * 254])
def test_a_bastion_host_is_a_host_name_or_address(bad):
    cfg = base_config(ssh={"bastion_host": bad, "bastion_host_key": "ssh-ed25519 " + "A" * 68})
    line = only_problem(cfg)
    why = "is not a host name or IPv4 address: labels of letters, digits, inner '-', joined by '.'"
    assert line.startswith("gir-lb:ssh.bastion_host: '") and line.endswith(why)


@pytest.mark.parametrize("good", ["bastion.example.com", "Bastion-1.Example.COM", "10.0.250.5", "b"])
def test_a_bastion_host_name_or_address_is_taken(good):
    cfg = base_config(ssh={"bastion_host": good, "bastion_host_key": "ssh-ed25519 " + "A" * 68})
    assert parse_settings(cfg).ssh.bastion_host == good
