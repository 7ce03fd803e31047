"""Reading PEM certificates and private keys with a real X.509 parser (`cryptography`), so a value
that only looks like PEM is refused before it reaches a node, where httpd would refuse to start.

Each function returns plain sentences for a person (never key material); the caller puts the key
path in front. A value without its final newline is fine: `pulumi config set K < file` drops it.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_BEGIN = re.compile(r"-----BEGIN ")


def _blocks(pem: str) -> tuple[list[tuple[str, str]], bool]:
    """(label, block text) of each complete PEM block, and whether every BEGIN line has its END."""
    blocks = [(m.group(1), m.group(0) + "\n") for m in _BLOCK.finditer(pem)]
    return blocks, len(_BEGIN.findall(pem)) == len(blocks)


def read_certificates(pem: str) -> tuple[list[x509.Certificate], list[str]]:
    """The certificates of a PEM bundle (text between blocks is ignored, as OpenSSL does), and
    why it is refused: no certificate, a block that is not a readable certificate, a private key."""
    blocks, complete = _blocks(pem)
    certs, problems = [], []
    if not complete:
        problems.append("has a -----BEGIN line without its -----END line")
    for i, (label, text) in enumerate(blocks, start=1):
        where = f"PEM block {i} " if len(blocks) > 1 else ""
        if "PRIVATE KEY" in label:
            problems.append(f"{where}is a private key, which must not be here: this value is stored and deployed as plain text")
        elif label != "CERTIFICATE":
            problems.append(f"{where}is a {label}, not a CERTIFICATE")
        else:
            try:
                certs.append(x509.load_pem_x509_certificate(text.encode()))
            except ValueError:
                problems.append(f"{where}has a CERTIFICATE header but is not a readable X.509 certificate")
    if not blocks:
        problems.append("must be PEM certificate(s) (-----BEGIN CERTIFICATE-----)")
    return certs, problems


def read_private_key(pem: str) -> tuple[PrivateKeyTypes | None, list[str]]:
    """The one unencrypted PEM private key in `pem`, or why it is refused."""
    blocks, complete = _blocks(pem)
    labels = [label for label, _ in blocks if label != "EC PARAMETERS"]  # `openssl ecparam -genkey` writes them first
    if not complete:
        return None, ["has a -----BEGIN line without its -----END line"]
    if "CERTIFICATE" in labels:
        return None, ["holds a certificate: it belongs in tls_cert; tls_key takes the private key alone"]
    if len(labels) != 1 or "PRIVATE KEY" not in labels[0]:
        return None, ["must be one PEM private key (-----BEGIN PRIVATE KEY-----)"]
    if labels[0] == "ENCRYPTED PRIVATE KEY" or "Proc-Type: 4,ENCRYPTED" in pem:
        return None, ["is encrypted: httpd would wait for a passphrase at start; give the key without a passphrase"]
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None), []
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None, [f"has a -----BEGIN {labels[0]}----- header but is not a readable private key"]


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    return _spki(cert.public_key()) == _spki(key.public_key())
