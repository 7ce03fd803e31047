"""Every rejected input gives one line naming its key path; all problems come in one error."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import re
from collections import Counter

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from blueprint.settings import SECRET_PLACEHOLDER, addresses_from_pool, check_tls_pair, vip_problem
from blueprint.stack_config import SettingsError, parse_settings
from conftest import REPO, STACK_NAMES, base_config, stack_config


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
    why = "is not a tenant id: a lowercase letter, then up to 15 lowercase letters or digits (t1)"
    assert only_problem(cfg) == f"gir-lb:tenants[0].id: {bad!r} {why}"


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
    assert only_problem(cfg) == (
        "gir-lb:tenants[0].webdav.extra_paths[0]: 'dest 2' is not a path segment: "
        "1 to 32 lowercase letters, digits or '-' or '_', first a letter or digit"
    )


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
    assert only_problem(cfg) == (
        "gir-lb:tenants[1].rp.members[0].url: 10.0.1.77 is network.vip: a member cannot be the balancer itself"
    )


def test_vip_equal_to_a_node_address():
    cfg = base_config()
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.50"
    assert only_problem(cfg) == "gir-lb:cluster.nodes[1].ip: 10.0.1.50 is also network.vip"


def test_tls_key_without_cert(pem):
    cfg = base_config(tls_key=pem.key())
    assert only_problem(cfg) == "gir-lb:tls_key: a TLS key was given without tls_cert"


# ---- certificates and keys, read by a real X.509 parser -----------------------------------------


class Pem:
    """Throwaway EC P-256 keys and certificates as PEM text."""

    def __init__(self):
        self.keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("ca", "server", "other")}

    def key(self, name="server", password: bytes | None = None) -> str:
        crypt = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        return self.keys[name].private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, crypt).decode()

    def cert(self, name="server", issuer="ca") -> str:
        subject, by = (x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, n)]) for n in (name, issuer))
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder(subject_name=subject, issuer_name=by, public_key=self.keys[name].public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(self.keys[issuer], hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pem():
    return Pem()


GARBAGE_CERT = "-----BEGIN CERTIFICATE-----\nMIIBnotreallyacertificate\n-----END CERTIFICATE-----\n"
GARBAGE_KEY = "-----BEGIN PRIVATE KEY-----\nMIGHnotreallyakey\n-----END PRIVATE KEY-----\n"
MISMATCH = "gir-lb:tls_key: does not match tls_cert: it is not the private key of its first (server) certificate"


def test_a_certificate_and_its_key_are_accepted_without_their_last_newline(pem):
    # `pulumi config set tls_cert < cert.pem` drops the file's last newline
    chain = pem.cert("server") + pem.cert("ca", "ca")
    s = parse_settings(base_config(tls_cert=chain.rstrip("\n"), tls_key=pem.key().rstrip("\n")))
    assert s.tls_cert == chain.rstrip("\n")


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("tls_cert", GARBAGE_CERT, "gir-lb:tls_cert: has a CERTIFICATE header but is not a readable X.509 certificate"),
        ("tls_cert", "MIIB...", "gir-lb:tls_cert: must be PEM certificate(s) (-----BEGIN CERTIFICATE-----)"),
        ("tls_key", GARBAGE_KEY, "gir-lb:tls_key: has a -----BEGIN PRIVATE KEY----- header but is not a readable private key"),
        ("tls_key", "-----BEGIN PRIVATE KEY-----\nMIGH", "gir-lb:tls_key: has a -----BEGIN line without its -----END line"),
    ],
)
def test_garbage_with_a_pem_header_is_refused(pem, field, value, problem):
    cfg = base_config(tls_cert=pem.cert(), tls_key=pem.key())
    cfg[field] = value
    assert only_problem(cfg) == problem


def test_a_key_in_the_certificate_field_and_a_certificate_in_the_key_field_are_refused_at_once(pem):
    found = problems(base_config(tls_cert=pem.key(), tls_key=pem.cert()))
    assert found == [
        "gir-lb:tls_cert: is a private key, which must not be here: this value is stored and deployed as plain text",
        "gir-lb:tls_key: holds a certificate: it belongs in tls_cert; tls_key takes the private key alone",
    ]


def test_a_certificate_and_key_pasted_together_in_the_key_field_are_refused(pem):
    assert only_problem(base_config(tls_cert=pem.cert(), tls_key=pem.key() + pem.cert())).startswith(
        "gir-lb:tls_key: holds a certificate"
    )


def test_an_encrypted_key_is_refused(pem):
    cfg = base_config(tls_cert=pem.cert(), tls_key=pem.key(password=b"pass phrase"))
    assert only_problem(cfg) == (
        "gir-lb:tls_key: is encrypted: httpd would wait for a passphrase at start; give the key without a passphrase"
    )


def test_a_key_that_is_not_the_certificates_is_refused(pem):
    cfg = base_config(tls_cert=pem.cert(), tls_key=pem.key("other"))
    assert only_problem(cfg) == MISMATCH


def test_a_chain_must_start_with_the_server_certificate(pem):
    cfg = base_config(tls_cert=pem.cert("ca", "ca") + pem.cert("server"), tls_key=pem.key())
    assert only_problem(cfg) == (
        "gir-lb:tls_cert: tls_key belongs to certificate 2 of the chain: the server certificate must come first"
    )


def test_the_engine_checks_the_pair_the_model_sees_only_as_a_present_secret(pem):
    # the Pulumi program passes the secret as present only; components/stack_config.py checks the pair
    parse_settings(base_config(tls_cert=pem.cert(), tls_key=SECRET_PLACEHOLDER))
    assert check_tls_pair(pem.cert(), pem.key()) == []
    assert check_tls_pair(pem.cert(), None) == [] == check_tls_pair(None, None)
    assert check_tls_pair(pem.cert(), pem.key("other").rstrip("\n")) == [MISMATCH]
    assert check_tls_pair(pem.cert(), GARBAGE_KEY) == [
        "gir-lb:tls_key: has a -----BEGIN PRIVATE KEY----- header but is not a readable private key"
    ]
    assert pem.key().splitlines()[1] not in "".join(check_tls_pair(pem.cert(), pem.key() + pem.cert()))


def test_a_ca_bundle_of_several_certificates_is_accepted(pem):
    bundle = "# internal CAs\n" + pem.cert("ca", "ca") + "\n" + pem.cert("other", "other").rstrip("\n")
    s = parse_settings(base_config(httpd={"member_ca_cert": bundle}))
    assert s.httpd.member_ca_cert == bundle


@pytest.mark.parametrize(
    "tail, problem",
    [
        (GARBAGE_CERT, "PEM block 2 has a CERTIFICATE header but is not a readable X.509 certificate"),
        ("KEY", "PEM block 2 is a private key, which must not be here: this value is stored and deployed as plain text"),
        ("-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n", "PEM block 2 is a X509 CRL, not a CERTIFICATE"),
    ],
)
def test_every_certificate_of_a_ca_bundle_must_parse_and_a_key_is_refused(pem, tail, problem):
    cfg = base_config(httpd={"member_ca_cert": pem.cert("ca", "ca") + (pem.key("ca") if tail == "KEY" else tail)})
    assert only_problem(cfg) == f"gir-lb:httpd.member_ca_cert: {problem}"


def test_a_ca_bundle_without_a_certificate_is_refused():
    assert only_problem(base_config(httpd={"member_ca_cert": "not a certificate"})) == (
        "gir-lb:httpd.member_ca_cert: must be PEM certificate(s) (-----BEGIN CERTIFICATE-----)"
    )


# ---- ports -------------------------------------------------------------------------------------


@pytest.mark.parametrize("port, owner", [(22, "SSH"), (2224, "pcsd"), (5404, "corosync"), (5405, "corosync"), (5406, "corosync")])
def test_ports_of_the_nodes_daemons_are_refused(port, owner):
    assert only_problem(base_config(httpd={"port": port})) == f"gir-lb:httpd.port: {port} is the port of {owner} on the nodes"
    tls = base_config(httpd={"tls": {"enabled": True, "port": port}})
    assert only_problem(tls) == f"gir-lb:httpd.tls.port: {port} is the port of {owner} on the nodes"
    parse_settings(base_config(httpd={"tls": {"enabled": False, "port": port}}))  # not listened on: not checked


def test_the_tls_port_must_differ_from_the_http_port():
    cfg = base_config(httpd={"port": 8080, "tls": {"enabled": True, "port": 8080}})
    assert only_problem(cfg) == "gir-lb:httpd.tls.port: 8080 is also httpd.port"


@pytest.mark.parametrize("bad", [True, False, 80.0, 8080.5, "8080", 0, 65536, -1, None])
def test_a_port_is_a_whole_number_not_a_yaml_boolean_or_float(bad):
    why = f"must be a port number, a whole number from 1 to 65535, got {bad!r}"
    assert only_problem(base_config(httpd={"port": bad})) == f"gir-lb:httpd.port: {why}"
    assert only_problem(base_config(httpd={"tls": {"port": bad}})) == f"gir-lb:httpd.tls.port: {why}"


def test_a_port_may_be_any_other_number():
    s = parse_settings(base_config(httpd={"port": 8080, "tls": {"enabled": True, "port": 80}}))
    assert s.httpd.listen_ports == [(8080, "http"), (80, "https")] and s.base_url == "https://10.0.1.50:80"


def test_unknown_key_is_rejected_with_its_path():
    cfg = base_config()
    cfg["httpd"] = {"max_agent": 10}
    assert only_problem(cfg) == "gir-lb:httpd.max_agent: Extra inputs are not permitted"


def test_transport_must_match_the_cluster_stack():
    cfg = base_config("rhel9")
    cfg["cluster"]["transport"] = "udpu"
    assert only_problem(cfg) == "gir-lb:cluster.transport: rhel9 runs corosync3: use knet"


def test_token_below_the_measured_safe_minimum():
    cfg = base_config()
    cfg["cluster"]["token_ms"] = 300
    assert only_problem(cfg).startswith("gir-lb:cluster.token_ms: Input should be greater than or equal to 500")


def test_cluster_timer_defaults_follow_the_token_and_the_profile():
    """3000 ms on corosync 3 and 10000 ms with cman (bench token); knet timers left out follow the
    token (timeout token/4, at least 250; interval half of it); given ones are kept."""
    assert parse_settings(base_config("rhel9")).cluster.model_dump(
        include={"token_ms", "knet_ping_interval_ms", "knet_ping_timeout_ms"}
    ) == {"token_ms": 3000, "knet_ping_interval_ms": 375, "knet_ping_timeout_ms": 750}
    assert parse_settings(base_config("rhel6")).cluster.token_ms == 10000
    cfg = base_config("rhel9")
    cfg["cluster"]["token_ms"] = 1000
    assert parse_settings(cfg).cluster.knet_ping_timeout_ms == 250 and parse_settings(cfg).cluster.knet_ping_interval_ms == 125
    cfg["cluster"]["knet_ping_interval_ms"] = 100
    assert parse_settings(cfg).cluster.knet_ping_interval_ms == 100 and parse_settings(cfg).cluster.knet_ping_timeout_ms == 250
    cfg = base_config("rhel6")
    cfg["cluster"]["token_ms"] = 5000
    assert parse_settings(cfg).cluster.token_ms == 5000


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


def test_fencing_opt_out_is_explicit_and_warned():
    s = parse_settings(base_config())
    assert s.cluster.fencing.mode == "fence_aws" and s.warnings() == []
    cfg = base_config()
    cfg["cluster"]["fencing"] = {"mode": "disabled"}
    assert parse_settings(cfg).warnings() == [
        "gir-lb:cluster.fencing.mode: STONITH is disabled; a split brain can put the VIP on both nodes"
    ]


# ---- addresses ----------------------------------------------------------------------------------


def rp_member(url: str, **overrides) -> dict:
    cfg = base_config(**overrides)
    cfg["tenants"][0]["rp"]["members"][0]["url"] = url
    return cfg


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


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://10.0.1.50:8080", "10.0.1.50 is network.vip"),
        ("https://10.0.1.11:9443", "10.0.1.11 is cluster.nodes[0].ip"),
        ("http://lb-b:8080", "lb-b is cluster.nodes[1].name"),
        ("http://127.0.0.1:80", "127.0.0.1:80 is this node's own httpd"),
        ("http://127.1.2.3:80", "127.1.2.3:80 is this node's own httpd"),
        ("http://localhost:80", "localhost:80 is this node's own httpd"),
        ("http://0.0.0.0:80", "0.0.0.0:80 is this node's own httpd"),
    ],
)
def test_a_member_cannot_be_the_balancer_itself(url, why):
    assert only_problem(rp_member(url)) == f"gir-lb:tenants[0].rp.members[0].url: {why}: a member cannot be the balancer itself"


def test_a_loopback_member_is_refused_only_on_the_ports_httpd_listens_on():
    tls = {"tls": {"enabled": True, "port": 8443}}
    assert only_problem(rp_member("https://localhost:8443", httpd=tls)) == (
        "gir-lb:tenants[0].rp.members[0].url: localhost:8443 is this node's own httpd: a member cannot be the balancer itself"
    )
    parse_settings(rp_member("https://localhost:443"))  # TLS off: nothing listens on 443
    parse_settings(rp_member("http://127.0.0.1:8080"))  # a local service on another port
    parse_settings(rp_member("http://127.0.0.1:80", httpd={"port": 8080}))


@pytest.mark.parametrize("ip, why", [
    ("10.0.1.0", "10.0.1.0 is the network or broadcast address of 10.0.1.0/24"),
    ("10.0.1.255", "10.0.1.255 is the network or broadcast address of 10.0.1.0/24"),
    ("10.0.1.1", "10.0.1.1 is one of the addresses AWS reserves in 10.0.1.0/24"),
    ("10.0.1.3", "10.0.1.3 is one of the addresses AWS reserves in 10.0.1.0/24"),
    ("10.0.2.11", "10.0.2.11 is outside subnet_cidr 10.0.1.0/24"),
])
def test_a_node_ip_must_be_a_usable_address_of_the_subnet(ip, why):
    cfg = base_config()
    cfg["cluster"]["nodes"][1]["ip"] = ip
    assert only_problem(cfg) == f"gir-lb:cluster.nodes[1].ip: {why}"


def test_off_aws_only_the_network_and_broadcast_addresses_are_reserved():
    cfg = base_config("rhel6")  # platform lan
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.1"
    parse_settings(cfg)
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.0"
    assert only_problem(cfg) == "gir-lb:cluster.nodes[1].ip: 10.0.1.0 is the network or broadcast address of 10.0.1.0/24"


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


def test_an_address_is_text_not_a_number():
    cfg = base_config()
    cfg["network"]["vip"] = 167772161  # YAML `vip: 167772161`
    cfg["network"]["client_cidrs"] = [167772160]
    assert problems(cfg) == [
        "gir-lb:network.vip: must be written as text like 10.0.1.50, got 167772161",
        "gir-lb:network.client_cidrs[0]: must be written as text like 10.0.1.0/24, got 167772160",
    ]


# ---- members ------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["rws", "rp", "rcs", "interaction_receiver", "webdav"])
def test_the_same_member_twice_in_a_balancer_is_refused(service):
    # Apache shares one worker for both and ignores the second's parameters (AH01150)
    cfg = base_config()
    members = cfg["tenants"][1][service]["members"]
    members[0]["url"] = "http://gir-member.example:8080"
    members[1]["url"] = "HTTP://GIR-Member.example:8080/"  # the same URL once normalised
    assert only_problem(cfg) == (
        f"gir-lb:tenants[1].{service}.members[1].url: "
        "http://gir-member.example:8080 is also members[0].url: Apache would ignore it"
    )


def test_the_same_member_in_two_balancers_is_accepted():
    cfg = base_config()
    cfg["tenants"][0]["rp"]["members"][0]["url"] = cfg["tenants"][0]["rws"]["members"][0]["url"]
    parse_settings(cfg)


# ---- platform -----------------------------------------------------------------------------------


def test_aws_refuses_the_lab_profile_and_an_l2_vip():
    cfg = base_config()
    cfg["os_profile"] = "debian12"
    cfg["network"]["vip_mode"] = "l2"
    assert problems(cfg) == [
        "gir-lb:os_profile: debian12 is the local lab's profile, not for AWS: use rhel8 or rhel9",
        "gir-lb:network.vip_mode: l2 (IPaddr2 alone) cannot move an address on AWS, whose network delivers only addresses"
        " assigned through its API: use aws",
    ]


def test_rhel6_has_no_aws_agents_so_it_runs_on_a_lan():
    cfg = base_config("rhel6", platform="aws")
    cfg["network"]["vip_mode"] = "aws"
    assert only_problem(cfg) == (
        "gir-lb:os_profile: RHEL 6 has neither awsvip nor fence_aws, so its VIP cannot move on AWS: use rhel8 or rhel9"
    )
    assert parse_settings(base_config("rhel6")).platform == "lan"


def test_the_lab_needs_debian12_and_runs_either_vip_mode():
    cfg = base_config(platform="lab")
    assert problems(cfg) == ["gir-lb:os_profile: the lab runs Debian 12 in network namespaces: use debian12"]
    cfg["os_profile"] = "debian12"  # vip_mode aws and fence_aws: against the lab's EC2 emulator
    assert parse_settings(cfg).fencing


def test_a_lan_has_no_ec2_api():
    cfg = base_config("rhel8", platform="lan")
    assert problems(cfg) == [
        "gir-lb:network.vip_mode: aws (awsvip) calls the EC2 API, which platform lan has not: use l2",
        "gir-lb:cluster.fencing.mode: fence_aws powers off EC2 instances, which platform lan has not: use disabled",
    ]


def test_the_lab_stack_says_it_is_the_lab():
    assert parse_settings(stack_config("lab")).platform == "lab"
    cfg = stack_config("lab")
    del cfg["platform"]  # the default, aws
    assert [p.split(":")[1] for p in problems(cfg)] == ["os_profile", "network.vip_mode"]


def test_the_lab_runs_only_a_lab_stack_and_leaves_the_rest_to_the_model():
    from lab.runner import Lab, LabError

    assert Lab("unit", stack="lab").settings.platform == "lab"
    with pytest.raises(LabError, match="Pulumi.dev.yaml: the lab runs only stacks with gir-lb:platform: lab, not aws"):
        _ = Lab("unit", stack="dev").settings


def test_an_unknown_platform_is_refused():
    assert only_problem(base_config(platform="gcp")) == "gir-lb:platform: Input should be 'aws', 'lab' or 'lan'"


def test_the_pulumi_program_deploys_aws_and_lab_stacks_and_refuses_lan_and_a_lab_with_tls():
    assert parse_settings(base_config()).deploy_problems() == []
    assert parse_settings(base_config("debian12")).deploy_problems() == []
    assert parse_settings(base_config("rhel6")).deploy_problems() == [
        "gir-lb:platform: a lan stack is rendered (python -m blueprint render) and installed by hand; "
        "the program builds aws and lab"
    ]
    with_tls = base_config("debian12")
    with_tls["httpd"] = {"tls": {"enabled": True}}
    assert parse_settings(with_tls).deploy_problems() == [
        "gir-lb:httpd.tls.enabled: the lab has no certificate source (pulumi-tls cannot be built here): use false"
    ]


def test_a_bastion_needs_its_host_key():
    config = base_config()
    config["ssh"] = {"bastion_host": "bastion.example"}
    assert only_problem(config) == (
        "gir-lb:ssh.bastion_host_key: required with ssh.bastion_host: the bootstrap pins every host key it connects to"
    )
    config["ssh"]["bastion_host_key"] = "bastion.example ssh-ed25519 AAAA"
    refused = "gir-lb:ssh.bastion_host_key: 'bastion.example ssh-ed25519 AAAA' is not a public SSH host key"
    assert only_problem(config).startswith(refused)


# ---- ports and timings --------------------------------------------------------------------------


def test_port_problems_show_even_when_another_httpd_key_failed():
    cfg = base_config(httpd={"port": 2224, "tls": {"enabled": True, "port": 5405}, "max_agents": "many"})
    assert problems(cfg) == [
        "gir-lb:httpd.port: 2224 is the port of pcsd on the nodes",
        "gir-lb:httpd.tls.port: 5405 is the port of corosync on the nodes",
        "gir-lb:httpd.max_agents: Input should be a valid integer, unable to parse string as an integer",
    ]
    same = base_config(httpd={"tls": {"enabled": True, "port": 80}, "headroom_percent": -1})
    assert problems(same)[0] == "gir-lb:httpd.tls.port: 80 is also httpd.port"  # the default httpd.port


def test_a_partial_timeout_override_keeps_the_services_other_defaults():
    s = parse_settings(base_config(httpd={"services": {"rcs": {"timeout_s": 90}, "webdav": {"retry_s": 5}}}))
    t = s.httpd.services
    assert (t.rcs.connect_timeout_ms, t.rcs.timeout_s, t.rcs.retry_s) == (10000, 90, 30)
    assert (t.webdav.connect_timeout_ms, t.webdav.timeout_s, t.webdav.retry_s) == (3000, 300, 5)
    assert (t.rws.connect_timeout_ms, t.rws.timeout_s, t.rws.retry_s) == (3000, 300, 30)
    bad = base_config(httpd={"services": {"rp": {"retry_s": -1}, "ftp": {"timeout_s": 1}}})
    assert problems(bad) == [
        "gir-lb:httpd.services.rp.retry_s: Input should be greater than or equal to 0",
        "gir-lb:httpd.services.ftp: Extra inputs are not permitted",
    ]


# ---- messages -----------------------------------------------------------------------------------


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


# ---- warnings, and the dangerous ones refused in prod --------------------------------------------


FENCING_OFF = "gir-lb:cluster.fencing.mode: STONITH is disabled; a split brain can put the VIP on both nodes"


def risky(environment: str = "dev", **overrides) -> dict:
    cfg = base_config(environment=environment, **overrides)
    cfg["cluster"]["fencing"] = {"mode": "disabled"}
    cfg["network"]["admin_cidrs"] = ["10.0.250.0/24", "0.0.0.0/0"]
    cfg["network"]["client_cidrs"] = ["0.0.0.0/1", "128.0.0.0/1"]
    return cfg


def test_dangerous_choices_are_warned_outside_prod():
    assert parse_settings(risky()).warnings() == [
        FENCING_OFF,
        "gir-lb:network.admin_cidrs[1]: 0.0.0.0/0 opens SSH to the whole internet; list your own networks",
        "gir-lb:network.client_cidrs[0]: 0.0.0.0/1 opens HTTP(S) to more than a /8 of addresses; list your own networks",
        "gir-lb:network.client_cidrs[1]: 128.0.0.0/1 opens HTTP(S) to more than a /8 of addresses; list your own networks",
    ]
    assert parse_settings(base_config()).warnings() == []


def test_dangerous_choices_are_refused_in_prod():
    assert problems(risky("prod")) == [
        f"{FENCING_OFF} (not allowed in prod)",
        "gir-lb:network.admin_cidrs[1]: 0.0.0.0/0 opens SSH to the whole internet; list your own networks (not allowed in prod)",
        "gir-lb:network.client_cidrs[0]: 0.0.0.0/1 opens HTTP(S) to more than a /8 of addresses; list your own networks"
        " (not allowed in prod)",
        "gir-lb:network.client_cidrs[1]: 128.0.0.0/1 opens HTTP(S) to more than a /8 of addresses; list your own networks"
        " (not allowed in prod)",
    ]


def test_prod_warns_of_plain_http_and_of_unprotected_resources():
    assert parse_settings(base_config(environment="prod", protect=False)).warnings() == [
        "gir-lb:httpd.tls.enabled: prod serves plain HTTP: recordings and passwords cross the network in clear",
        "gir-lb:protect: prod resources are not protected from deletion",
    ]


def test_a_self_signed_certificate_in_prod_is_warned_at_render_and_refused_at_deploy(pem):
    s = parse_settings(base_config(environment="prod", httpd={"tls": {"enabled": True}}))
    assert s.warnings() == ["gir-lb:tls_cert: prod serves a generated self-signed certificate; set tls_cert and tls_key"]
    assert s.deploy_problems() == [
        "gir-lb:tls_cert: prod must not serve a generated self-signed certificate: set tls_cert and tls_key"
    ]
    with_cert = parse_settings(
        base_config(environment="prod", httpd={"tls": {"enabled": True}}, tls_cert=pem.cert(), tls_key=pem.key())
    )
    assert with_cert.warnings() == [] == with_cert.deploy_problems()
    dev = parse_settings(base_config(httpd={"tls": {"enabled": True}}))
    assert dev.warnings() == [] == dev.deploy_problems()  # self-signed is what dev and test stacks use


# --- network.address_pool: a test stack's addresses derived from its name ------------------------


def pooled(environment: str = "test-pr-7", pool: str = "10.0.1.128/26") -> dict:
    """base_config as a test stack on a pool: no VIP, no node addresses."""
    cfg = base_config(environment=environment)
    del cfg["network"]["vip"]
    cfg["network"]["address_pool"] = pool
    for node in cfg["cluster"]["nodes"]:
        del node["ip"]
    return cfg


def test_a_pool_gives_the_nodes_and_the_vip_three_addresses_of_one_block():
    s = parse_settings(pooled())
    a, b, vip = s.cluster.nodes[0].ip, s.cluster.nodes[1].ip, s.network.vip
    assert (b, vip) == (a + 1, a + 2) and int(a) % 4 == 0 and a in ipaddress.ip_network("10.0.1.128/26")
    assert s.network.address_pool == ipaddress.ip_network("10.0.1.128/26")
    assert s.base_url == f"http://{vip}"  # what the render, the plan and the components read


def test_the_test_example_stack_keeps_its_addresses():
    # A changed rule would move every deployed test stack: this pins it.
    s = parse_settings(stack_config("test-example"))
    assert [str(n.ip) for n in s.cluster.nodes] + [str(s.network.vip)] == ["10.20.1.160", "10.20.1.161", "10.20.1.162"]


def test_a_pool_is_for_test_stacks_only():
    assert only_problem(pooled(environment="staging")) == (
        "gir-lb:network.address_pool: is only for throw-away test-… stacks:"
        " environment 'staging' sets network.vip and cluster.nodes[].ip instead"
    )


def test_a_pool_must_lie_inside_the_subnet():
    why = "10.0.2.0/26 is not inside subnet_cidr 10.0.1.0/24"
    assert only_problem(pooled(pool="10.0.2.0/26")) == f"gir-lb:network.address_pool: {why}"


RESERVED_ONLY = "holds an address AWS reserves in 10.0.1.0/24: use a larger pool"


@pytest.mark.parametrize("pool, why", [
    ("10.0.1.128/31", "10.0.1.128/31 is smaller than one block of 4 addresses: a pool must be a /30 or larger"),
    ("10.0.1.0/30", f"every block of 4 addresses in 10.0.1.0/30 {RESERVED_ONLY}"),  # the subnet's first 4
    ("10.0.1.252/30", f"every block of 4 addresses in 10.0.1.252/30 {RESERVED_ONLY}"),  # its last 4, with the broadcast
])
def test_a_pool_without_a_usable_block_is_refused(pool, why):
    assert only_problem(pooled(pool=pool)) == f"gir-lb:network.address_pool: {why}"


def test_a_pool_skips_the_reserved_blocks_at_the_ends_of_the_subnet():
    def vip(n: int) -> str:
        cfg = pooled(f"test-pr-{n}", pool="10.0.1.0/28")
        cfg["network"]["subnet_cidr"] = "10.0.1.0/28"
        return str(parse_settings(cfg).network.vip)

    # blocks .0 (AWS's first four) and .12 (with the broadcast .15) are skipped
    assert {vip(n) for n in range(40)} == {"10.0.1.6", "10.0.1.10"}


def test_addresses_given_beside_a_pool_are_refused_by_key():
    cfg = pooled()
    cfg["network"]["vip"] = "10.0.1.150"
    assert only_problem(cfg) == "gir-lb:network.vip: must be omitted: network.address_pool gives this stack its VIP"
    cfg = pooled()
    cfg["cluster"]["nodes"][1]["ip"] = "10.0.1.151"
    why = "must be omitted: network.address_pool gives the nodes their addresses"
    assert only_problem(cfg) == f"gir-lb:cluster.nodes[1].ip: {why}"


def test_without_a_pool_the_vip_and_node_addresses_are_required():
    cfg = base_config()
    del cfg["network"]["vip"]
    assert only_problem(cfg) == "gir-lb:network.vip: Field required"
    cfg = base_config()
    del cfg["cluster"]["nodes"][0]["ip"]
    # judged once network is valid: whether a node needs its address depends on network.address_pool
    assert only_problem(cfg) == "gir-lb:cluster.nodes[0].ip: Field required"


def test_a_member_on_a_derived_address_is_the_balancer_itself():
    vip = parse_settings(pooled()).network.vip
    cfg = pooled()
    cfg["tenants"][0]["rp"]["members"][0]["url"] = f"http://{vip}:8889"
    why = f"{vip} is network.vip: a member cannot be the balancer itself"
    assert only_problem(cfg) == f"gir-lb:tenants[0].rp.members[0].url: {why}"


SUBNETS = st.builds(
    lambda base, prefix: ipaddress.ip_network((base, prefix), strict=False), st.integers(0, 2**32 - 1), st.integers(16, 28)
)


@st.composite
def subnet_and_pool(draw) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]:
    """A subnet AWS allows and a pool inside it, often at its first or last address."""
    net = draw(SUBNETS)
    prefix = draw(st.integers(net.prefixlen, 30))
    index = draw(st.integers(0, 2 ** (prefix - net.prefixlen) - 1))
    return net, ipaddress.ip_network((int(net.network_address) + index * 2 ** (32 - prefix), prefix))


NAMES = st.from_regex(r"test-[a-z0-9-]{1,27}", fullmatch=True)


def usable_blocks(pool: ipaddress.IPv4Network, net: ipaddress.IPv4Network) -> list[ipaddress.IPv4Network]:
    """The rule as written: the pool's blocks of 4 without an address AWS reserves, in order."""
    return [b for b in pool.subnets(new_prefix=30) if all(vip_problem(a, net, on_aws=True) is None for a in b)]


@given(where=subnet_and_pool(), name=NAMES)
@hsettings(max_examples=300, deadline=None)
def test_pool_addresses_are_stable_inside_pool_and_subnet_never_reserved_and_distinct(where, name):
    net, pool = where
    try:
        got = addresses_from_pool(pool, net, name)
    except ValueError:
        # only a /30 pool that is the subnet's first or last block has no usable block
        assert pool.prefixlen == 30 and pool.network_address in (net.network_address, net.broadcast_address - 3)
        return
    assert addresses_from_pool(pool, net, name) == got
    addresses = [*got.nodes, got.vip]
    assert len(set(addresses)) == 3
    assert all(a in pool and a in net and vip_problem(a, net, on_aws=True) is None for a in addresses)
    assert addresses == [got.nodes[0] + i for i in range(3)] and int(got.nodes[0]) % 4 == 0
    if pool.prefixlen >= 22:  # the shortcut over the first and last block picks what listing every block would
        blocks = usable_blocks(pool, net)
        assert got.nodes[0] == blocks[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(blocks)].network_address


def test_different_names_spread_over_the_blocks():
    net, pool = ipaddress.ip_network("10.20.1.0/24"), ipaddress.ip_network("10.20.1.128/26")  # 16 blocks
    blocks = Counter(addresses_from_pool(pool, net, f"test-pr-{n}").vip for n in range(1, 1601))
    assert len(blocks) == 16 and max(blocks.values()) < 2 * min(blocks.values()), blocks
