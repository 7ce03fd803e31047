"""Every rejected input gives one line naming its key path; all problems come in one error."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from blueprint.settings import SECRET_PLACEHOLDER, check_tls_pair
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
