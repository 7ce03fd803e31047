"""Shared by the settings tests (tests/unit/settings/, one file per part of blueprint.settings):
every rejected input gives one line naming its key path; all problems come in one error."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from blueprint.stack_config import SettingsError, parse_settings
from tests.conftest import base_config


def problems(cfg: dict) -> list[str]:
    with pytest.raises(SettingsError) as info:
        parse_settings(cfg, source="test")
    return info.value.problems


def only_problem(cfg: dict) -> str:
    found = problems(cfg)
    assert len(found) == 1, found
    return found[0]


def with_tenant(cfg: dict, index: int, edit) -> dict:
    edit(cfg["tenants"][index])
    return cfg


def rp_member(url: str, **overrides) -> dict:
    cfg = base_config(**overrides)
    cfg["tenants"][0]["rp"]["members"][0]["url"] = url
    return cfg


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
