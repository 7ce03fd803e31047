"""The TLS certificate and key of the HTTPS front, checked as a pair."""

from __future__ import annotations

from ..pki import key_matches, read_certificates, read_private_key
from .types import NAMESPACE

SECRET_PLACEHOLDER = "<secret>"


def tls_pair(cert_pem: str | None, key_pem: str | None) -> list[tuple[str, str]]:
    """Problems of tls_cert and tls_key together: each must parse and the key must be the server
    certificate's (the first of the chain). Nothing to check while either is absent or unseen."""
    if cert_pem is None or key_pem is None or SECRET_PLACEHOLDER in (cert_pem, key_pem):
        return []
    certs, cert_problems = read_certificates(cert_pem)
    key, key_problems = read_private_key(key_pem)
    items = [("tls_cert", msg) for msg in cert_problems] + [("tls_key", msg) for msg in key_problems]
    if items or key is None or key_matches(certs[0], key):
        return items
    other = next((i for i, c in enumerate(certs[1:], start=2) if key_matches(c, key)), None)
    if other:
        return [("tls_cert", f"tls_key belongs to certificate {other} of the chain: the server certificate must come first")]
    return [("tls_key", "does not match tls_cert: it is not the private key of its first (server) certificate")]


def check_tls_pair(cert_pem: str | None, key_pem: str | None) -> list[str]:
    """The TLS pair's problems as key-path lines, for the Pulumi program: only it sees the key's
    value (the settings model sees a Pulumi secret as present, nothing more)."""
    return [f"{NAMESPACE}:{key}: {msg}" for key, msg in tls_pair(cert_pem, key_pem)]
