"""Certificates and keys, read by a real X.509 parser: the front's certificate and key pair
(tls_cert, tls_key) and the members' CA bundle (httpd.member_ca_cert)."""

from __future__ import annotations

import pytest

from blueprint.settings import SECRET_PLACEHOLDER, check_tls_pair
from blueprint.stack_config import parse_settings
from tests.conftest import base_config
from tests.unit.settings.conftest import only_problem, problems


def test_tls_key_without_cert(pem):
    cfg = base_config(tls_key=pem.key())
    assert only_problem(cfg) == "gir-lb:tls_key: a TLS key was given without tls_cert"


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
