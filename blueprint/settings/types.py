"""The value types of the settings: constrained strings, addresses, ports, member URLs, and how
problems are collected (`Problems`: each with a key path relative to the validator that found it)."""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from ..pki import read_certificates
from ..profiles import EXPORTER_PORT, PROFILES

NAMESPACE = "gir-lb"


def _shown(v: str) -> str:
    return repr(v if len(v) <= 40 else v[:40] + "…")


def _matching(pattern: str, what: str) -> AfterValidator:
    """A string limit refused with a sentence (`what`), not with its raw regular expression."""
    rx = re.compile(pattern)

    def check(v: str) -> str:
        if not rx.fullmatch(v):
            raise ValueError(f"{_shown(v)} is not {what}")
        return v

    return AfterValidator(check)


_LOWER = "lowercase letters, digits or '-'"
# Tenant ids and extra WebDAV paths become URL path segments, Apache balancer names
# (balancer://t1rws) and cookie paths, so they are restricted to a conservative alphabet.
TenantId = Annotated[
    str, _matching(r"[a-z][a-z0-9]{0,15}", "a tenant id: a lowercase letter, then up to 15 lowercase letters or digits (t1)")
]
PathSegment = Annotated[
    str, _matching(r"[a-z0-9][a-z0-9_-]{0,31}", f"a path segment: 1 to 32 {_LOWER} or '_', first a letter or digit")
]
# Routes end up in cookie values (ROUTEID=.<route>) and BalancerMember parameters; a dot would
# be read as the session/route separator by mod_proxy_balancer.
Route = Annotated[str, _matching(r"[A-Za-z0-9_-]{1,64}", "a route: 1 to 64 letters, digits, '_' or '-' (no dot, no space)")]
Hostname = Annotated[
    str, _matching(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", f"a host name: up to 63 {_LOWER}, not starting or ending with '-'")
]


def _usable_node_name(v: str) -> str:
    # The node names are corosync's and pcs's host names: a resolver reads "localhost" as this
    # machine and an all-digit name as an IPv4 address (inet_aton), never as the peer.
    if v == "localhost":
        raise ValueError("'localhost' is every machine's own name: name the node")
    if v.isdigit():
        raise ValueError(f"{v!r} is read as an IPv4 address by a resolver: use a name with a letter")
    return v


NodeName = Annotated[Hostname, AfterValidator(_usable_node_name)]
ClusterName = Annotated[str, _matching(r"[a-z][a-z0-9-]{0,14}", f"a cluster name: a lowercase letter, then up to 14 {_LOWER}")]
Region = Annotated[str, _matching(r"[a-z]{2}(-[a-z]+)+-[0-9]", "an AWS region name like eu-west-1")]
SubnetId = Annotated[str, _matching(r"subnet-[0-9a-f]{8,17}", "a subnet id: subnet- and 8 to 17 hex digits")]
RouteTableId = Annotated[str, _matching(r"rtb-[0-9a-f]{8,17}", "a route table id: rtb- and 8 to 17 hex digits")]
InstanceType = Annotated[str, _matching(r"[a-z][a-z0-9-]*\.[a-z0-9]+", "an EC2 instance type like t3.medium")]
AmiId = Annotated[str, _matching(r"ami-[0-9a-f]{8,17}", "an AMI id: ami- and 8 to 17 hex digits")]
# An AMI name filter is passed to the EC2 API only, never to a shell or a config file.
AmiNameFilter = Annotated[
    str, _matching(r"[A-Za-z0-9 ._*?()/-]{1,128}", "an AMI name filter: 1 to 128 of A-Z a-z 0-9 space ._*?()/-")
]
AwsAccount = Annotated[
    str, _matching(r"[0-9]{12}|amazon|self|aws-marketplace", "a 12-digit account, amazon, self or aws-marketplace")
]
AppName = Annotated[
    str,
    _matching(
        r"[A-Za-z0-9_-]([A-Za-z0-9 _-]{0,62}[A-Za-z0-9_-])?",
        "an application name: 1 to 64 letters, digits, '_', '-' or inner spaces",
    ),
]
Environment = Annotated[
    str, _matching(r"[a-z][a-z0-9-]{0,31}", f"an environment name: a lowercase letter, then up to 31 {_LOWER}")
]
UserName = Annotated[
    str, _matching(r"[a-z_][a-z0-9_-]{0,31}", f"a Linux user name: up to 32 {_LOWER} or '_', first a letter or '_'")
]
SnsTopicArn = Annotated[
    str,
    _matching(
        r"arn:aws(-[a-z]+)*:sns:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?",
        "an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:gir-lb-alarms",
    ),
]
KeyName = Annotated[str, _matching(r"[A-Za-z0-9 ._-]{1,255}", "an EC2 key pair name: 1 to 255 letters, digits, spaces or ._-")]
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
BastionHost = Annotated[
    str,
    _matching(
        rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*",
        "a host name or IPv4 address: labels of letters, digits, inner '-', joined by '.'",
    ),
]
HostKey = Annotated[
    str,
    _matching(
        r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]{40,}={0,2}",
        "a public SSH host key, one line: 'ssh-ed25519 AAAA…' (ssh-keyscan -t ed25519 HOST, without the host name)",
    ),
]


def _as_text(example: str) -> BeforeValidator:
    # pydantic would read a bare YAML number as an address (167772161 -> 10.0.0.1): only text is meant.
    def check(v: object) -> object:
        if not isinstance(v, str):
            raise ValueError(f"must be written as text like {example}, got {v!r}")
        return v

    return BeforeValidator(check)


IPv4 = Annotated[ipaddress.IPv4Address, _as_text("10.0.1.50")]
Cidr = Annotated[ipaddress.IPv4Network, _as_text("10.0.1.0/24")]


def repeated_cidrs(v: list[ipaddress.IPv4Network], key: str) -> list[tuple[str, str]]:
    """Each repeat of a CIDR in a list (a repeat gives two firewall rules of the same Pulumi name)."""
    return [(f"[{i}]", f"{c} is also {key}[{v.index(c)}]") for i, c in enumerate(v) if v.index(c) < i]

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
# Labels the resolver reads as numbers (decimal, 0-octal, 0x-hex): such a host is an IPv4 address.
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*")


class Problems(ValueError):
    """Several problems found by one validator, each with a key path relative to it."""

    def __init__(self, items: list[tuple[str, str]]):
        self.items = items
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in items))


def raise_if(items: list[tuple[str, str]]) -> None:
    if items:
        raise Problems(items)


def _redact(url: str) -> str:
    """The URL without its user part: a refused URL must never print a password."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)?.*@", r"\1…@", url, flags=re.I | re.S)


def _check_member_url(url: str) -> str:
    """A member is exactly scheme://host:port: the balancer appends the service path itself."""
    if any(c.isspace() or c in "\"'\\<>" for c in url):
        raise ValueError("must be http(s)://host:port with no spaces or quotes")
    parts, shown = urlsplit(url), repr(_redact(url))
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must start with http:// or https://, got {shown}")
    if "@" in parts.netloc or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError(f"must be http(s)://host:port without user, path or query, got {shown}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"has an invalid port: {shown}") from None
    if port is None or not 1 <= port <= 65535:
        raise ValueError(f"must name an explicit port (http(s)://host:port), got {shown}")
    host = parts.hostname or ""
    if not _HOST_RE.match(host):
        raise ValueError(f"host {host!r} is not a valid DNS name or IPv4 address")
    if _NUMERIC_HOST.fullmatch(host):
        # The resolver (inet_aton) reads 167772161, 0x0a000001, 012.0.0.1 and 10.1 all as 10.0.0.1:
        # only the dotted form can be compared with the VIP and the nodes.
        try:
            dotted = socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            raise ValueError(f"host {host} is not a valid IPv4 address (four numbers from 0 to 255)") from None
        if dotted != host:
            raise ValueError(f"host {host} is the IPv4 address {dotted} in another notation: write {dotted}")
    return f"{parts.scheme}://{host}:{port}"


MemberUrl = Annotated[str, AfterValidator(_check_member_url)]


def _check_port(v: object) -> object:
    # Strict: YAML reads `yes`/`on` as true and `80.0` as a float; neither is a port someone meant.
    if type(v) is not int or not 1 <= v <= 65535:
        raise ValueError(f"must be a port number, a whole number from 1 to 65535, got {v!r}")
    return v


Port = Annotated[int, BeforeValidator(_check_port)]
# TCP ports the nodes' own daemons use (corosync's are UDP, but a web port there confuses every
# firewall rule and capture).
RESERVED_PORTS = {
    22: "SSH", 2224: "pcsd", 5404: "corosync", 5405: "corosync", 5406: "corosync",
    EXPORTER_PORT: "gir-lb-exporter",
    **{p.metrics.port: p.metrics.service for p in PROFILES.values() if p.metrics},
}  # fmt: skip


def check_pem_certificates(v: str) -> str:
    raise_if([("", msg) for msg in read_certificates(v)[1]])
    return v


PemCertificates = Annotated[str, AfterValidator(check_pem_certificates)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
