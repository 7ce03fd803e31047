"""One typed, validated model of a gir-lb stack.

Every problem is collected and reported at once, each line naming its key path
(``gir-lb:tenants[1].rcs.members[0].app_name``), before anything is rendered or created.
This module is the only place where user input is checked: templates and scripts may
assume every value they get from here is safe for a URL path, an Apache token and a shell word.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .pki import key_matches, read_certificates, read_private_key
from .profiles import PROFILES, OsProfile
from .services import RESERVED_TENANT_PATHS, SERVICES

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
ClusterName = Annotated[str, _matching(r"[a-z][a-z0-9-]{0,14}", f"a cluster name: a lowercase letter, then up to 14 {_LOWER}")]
Region = Annotated[str, _matching(r"[a-z]{2}(-[a-z]+)+-[0-9]", "an AWS region name like eu-west-1")]
SubnetId = Annotated[str, _matching(r"subnet-[0-9a-f]{8,17}", "a subnet id: subnet- and 8 to 17 hex digits")]
InstanceType = Annotated[str, _matching(r"[a-z][a-z0-9-]*\.[a-z0-9]+", "an EC2 instance type like t3.medium")]
AmiId = Annotated[str, _matching(r"ami-[0-9a-f]{8,17}", "an AMI id: ami- and 8 to 17 hex digits")]
# An AMI name filter is passed to the EC2 API only, never to a shell or a config file.
AmiNameFilter = Annotated[
    str, _matching(r"[A-Za-z0-9 ._*?()/-]{1,128}", "an AMI name filter: 1 to 128 of A-Z a-z 0-9 space ._*?()/-")
]
AwsAccount = Annotated[
    str, _matching(r"[0-9]{12}|amazon|self|aws-marketplace", "a 12-digit account, amazon, self or aws-marketplace")
]
AppName = Annotated[str, _matching(r"[A-Za-z0-9 _-]{1,64}", "an application name: 1 to 64 letters, digits, spaces, '_' or '-'")]
Environment = Annotated[
    str, _matching(r"[a-z][a-z0-9-]{0,31}", f"an environment name: a lowercase letter, then up to 31 {_LOWER}")
]
UserName = Annotated[
    str, _matching(r"[a-z_][a-z0-9_-]{0,31}", f"a Linux user name: up to 32 {_LOWER} or '_', first a letter or '_'")
]
KeyName = Annotated[str, _matching(r"[A-Za-z0-9 ._-]{1,255}", "an EC2 key pair name: 1 to 255 letters, digits, spaces or ._-")]
BastionHost = Annotated[str, _matching(r"[A-Za-z0-9.-]{1,253}", "a host name or IPv4 address: letters, digits, '.' and '-'")]
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

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
# Labels the resolver reads as numbers (decimal, 0-octal, 0x-hex): such a host is an IPv4 address.
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*")


class Problems(ValueError):
    """Several problems found by one validator, each with a key path relative to it."""

    def __init__(self, items: list[tuple[str, str]]):
        self.items = items
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in items))


def _raise_if(items: list[tuple[str, str]]) -> None:
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
RESERVED_PORTS = {22: "SSH", 2224: "pcsd", 5404: "corosync", 5405: "corosync", 5406: "corosync"}


def _check_pem_certificates(v: str) -> str:
    _raise_if([("", msg) for msg in read_certificates(v)[1]])
    return v


PemCertificates = Annotated[str, AfterValidator(_check_pem_certificates)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Member(Model):
    url: MemberUrl

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 0

    @property
    def is_https(self) -> bool:
        return self.url.startswith("https://")


class RwsMember(Member):
    route: Route


class RcsMember(Member):
    app_name: AppName = Field(description="Config Server application name of the RCS instance")

    @property
    def route(self) -> str:
        return self.app_name.replace(" ", "_")


class WebDavMember(Member):
    hot_standby: bool = False


class Service(Model):
    """One balancer's members."""

    members: Sequence[Member] = Field(min_length=1)

    @model_validator(mode="after")
    def _each_member_once(self) -> Service:
        items = []
        urls: dict[str, int] = {}
        routes: dict[str, int] = {}
        for i, m in enumerate(self.members):
            if m.url in urls:
                # Apache shares one worker for both and ignores the second's parameters (AH01150).
                items.append((f"members[{i}].url", f"{m.url} is also members[{urls[m.url]}].url: Apache would ignore it"))
            route = getattr(m, "route", None)
            if route in routes:
                items.append((f"members[{i}].route", f"route {route!r} is already used by members[{routes[route]}]"))
            urls.setdefault(m.url, i)
            if route is not None:
                routes.setdefault(route, i)
        _raise_if(items)
        return self


class RwsService(Service):
    members: list[RwsMember] = Field(min_length=1)


class RpService(Service):
    members: list[Member] = Field(min_length=1)


class RcsService(Service):
    members: list[RcsMember] = Field(min_length=1)


class IrService(Service):
    members: list[Member] = Field(min_length=1)


class WebDavService(Service):
    members: list[WebDavMember] = Field(min_length=1)
    extra_paths: list[PathSegment] = Field(default_factory=list, description="extra WebDAV destinations, e.g. dest2 -> /tN/dest2")

    @model_validator(mode="after")
    def _checks(self) -> WebDavService:
        items = []
        if all(m.hot_standby for m in self.members):
            items.append(("members", "at least one member must not be a hot standby"))
        for i, p in enumerate(self.extra_paths):
            if p in RESERVED_TENANT_PATHS:
                items.append((f"extra_paths[{i}]", f"{p!r} is already a GIR service path"))
        for p, n in Counter(self.extra_paths).items():
            if n > 1:
                items.append(("extra_paths", f"{p!r} is listed {n} times"))
        _raise_if(items)
        return self


class Tenant(Model):
    id: TenantId
    rws: RwsService
    rp: RpService
    rcs: RcsService
    interaction_receiver: IrService
    webdav: WebDavService

    def services(self) -> dict[str, Any]:
        """Each service's settings, keyed and ordered as the service catalogue."""
        return {svc.key: getattr(self, svc.key) for svc in SERVICES}

    @property
    def members(self) -> list[tuple[str, int, Member]]:
        return [(svc, i, m) for svc, s in self.services().items() for i, m in enumerate(s.members)]


class ClusterNode(Model):
    name: Hostname
    # None only while a stack with network.address_pool is validated: Settings fills it from the pool,
    # so every reader after validation sees an address (hence the type, and the ignore).
    ip: IPv4 = Field(None, description="omitted when network.address_pool gives it")  # type: ignore[assignment]


def vip_problem(vip: ipaddress.IPv4Address, net: ipaddress.IPv4Network, on_aws: bool) -> str | None:
    """Why address `vip` (the VIP or a node's) cannot be used in subnet `net`, or None. AWS reserves
    the first four addresses and the last one of every subnet; an L2 LAN the network and broadcast."""
    if vip not in net:
        return f"{vip} is outside subnet_cidr {net}"
    if vip in (net.network_address, net.broadcast_address):
        return f"{vip} is the network or broadcast address of {net}"
    if on_aws and int(vip) - int(net.network_address) <= 3:
        return f"{vip} is one of the addresses AWS reserves in {net}"
    return None


class PoolAddresses(NamedTuple):
    """The addresses a test stack takes from network.address_pool."""

    nodes: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]
    vip: ipaddress.IPv4Address


def addresses_from_pool(pool: ipaddress.IPv4Network, net: ipaddress.IPv4Network, environment: str) -> PoolAddresses:
    """The node and VIP addresses of stack `environment` in `pool` (inside subnet `net`).

    The pool is cut into aligned blocks of 4 addresses (its /30s); a block holding an address AWS
    reserves in the subnet (the network address, the next three, the broadcast address) is skipped.
    The stack takes usable block number int(sha256(environment)) mod (number of usable blocks): its
    first address is node a (cluster.nodes[0]), the second node b (cluster.nodes[1]), the third the
    VIP; the fourth stays free. The same name always gets the same block, so a re-preview never
    moves a deployed stack; two names may still share a block, which the Pulumi program refuses at
    preview. Raises ValueError with a sentence when the pool has no usable block.
    """
    if pool.prefixlen > 30:
        raise ValueError(f"{pool} is smaller than one block of 4 addresses: a pool must be a /30 or larger")
    count = pool.num_addresses // 4

    def block(i: int) -> list[ipaddress.IPv4Address]:
        return [pool.network_address + 4 * i + k for k in range(4)]

    # AWS reserves addresses in the subnet's first and last 4, aligned as the blocks are: only the
    # pool's first and last block can hold one, so a /16 pool costs no more than a /30.
    skipped = {i for i in {0, count - 1} if any(vip_problem(a, net, on_aws=True) for a in block(i))}
    if count == len(skipped):
        raise ValueError(f"every block of 4 addresses in {pool} holds an address AWS reserves in {net}: use a larger pool")
    index = int(hashlib.sha256(environment.encode()).hexdigest(), 16) % (count - len(skipped)) + (0 in skipped)
    first = block(index)[0]
    return PoolAddresses(nodes=(first, first + 1), vip=first + 2)


def _is_local(host: str) -> bool:
    """The node itself: loopback, 0.0.0.0 (Linux connects it to the local host), localhost names."""
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


class NetworkSettings(Model):
    region: Region
    subnet_id: SubnetId
    subnet_cidr: Cidr = Field(description="CIDR of subnet_id; checked offline here and against AWS at deploy time")
    vip_mode: Literal["aws", "l2"] = Field("aws", description="aws: awsvip+IPaddr2 group; l2: IPaddr2 alone (a LAN or the lab)")
    # None only while a stack with address_pool is validated: Settings fills it from the pool,
    # so every reader after validation sees an address (hence the type, and the ignore).
    vip: IPv4 = Field(None, description="omitted when address_pool gives it")  # type: ignore[assignment]
    address_pool: Cidr | None = Field(
        None, description="test-… stacks only: the VIP and node addresses, derived from the environment name in this range"
    )
    client_cidrs: list[Cidr] = Field(min_length=1)
    admin_cidrs: list[Cidr] = Field(min_length=1)
    instance_type: InstanceType = "t3.medium"

    @field_validator("subnet_cidr")
    @classmethod
    def _subnet_size(cls, v: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
        if not 16 <= v.prefixlen <= 28:
            raise ValueError(f"{v} is a /{v.prefixlen}: a subnet must be /16 to /28 (the sizes AWS allows)")
        return v

    # Field validators (not a model validator) so these run even when another network key failed.
    @field_validator("vip")
    @classmethod
    def _vip_in_subnet(cls, v: ipaddress.IPv4Address, info: ValidationInfo) -> ipaddress.IPv4Address:
        net = info.data.get("subnet_cidr")
        if net and (problem := vip_problem(v, net, on_aws=info.data.get("vip_mode") == "aws")):
            raise ValueError(problem)
        return v

    @field_validator("address_pool")
    @classmethod
    def _pool_in_subnet(cls, v: ipaddress.IPv4Network | None, info: ValidationInfo) -> ipaddress.IPv4Network | None:
        net = info.data.get("subnet_cidr")
        if v is not None and net and not v.subnet_of(net):
            raise ValueError(f"{v} is not inside subnet_cidr {net}")
        return v

    @field_validator("client_cidrs", "admin_cidrs")
    @classmethod
    def _each_cidr_once(cls, v: list[ipaddress.IPv4Network], info: ValidationInfo) -> list[ipaddress.IPv4Network]:
        # A repeated CIDR gave two firewall rules of the same Pulumi name.
        _raise_if([(f"[{i}]", f"{c} is also {info.field_name}[{v.index(c)}]") for i, c in enumerate(v) if v.index(c) < i])
        return v


TOKEN_DEFAULT_MS = 3000  # corosync 3 on RHEL 8.4 and later; cman's (rhel6) is 10000 (CMAN_TOKEN_DEFAULT_MS)
CMAN_TOKEN_DEFAULT_MS = 10000


class FencingSettings(Model):
    mode: Literal["fence_aws", "disabled"] = Field(
        "fence_aws", description="disabled turns STONITH off: an explicit, unsafe opt-out"
    )
    delay_s: int = Field(
        15, ge=0, le=120, description="priority-fencing-delay: in a split the node running httpd fences first and keeps the VIP"
    )


class ClusterSettings(Model):
    name: ClusterName = "gir-lb"
    nodes: list[ClusterNode] = Field(min_length=2, max_length=2)
    transport: Literal["knet", "udpu"] | None = Field(None, description="default: knet (corosync 3) or udpu (cman on rhel6)")
    # Below 500 ms token / 250 ms knet ping timeout the membership flapped in our measurements. The
    # default trades node-loss time for the network hiccup ridden out (bench token, docs/benchmarks.md):
    # 1000 ms rode out a 1.5 s cut of the link, 3000 ms a 5 s one, for 4 s more per node loss.
    token_ms: int = Field(
        TOKEN_DEFAULT_MS, ge=500, le=60000, description="corosync totem token; default 3000, 10000 with cman (rhel6)"
    )
    knet_ping_interval_ms: int = Field(375, ge=50, le=10000, description="knet link ping_interval; default: timeout / 2")
    knet_ping_timeout_ms: int = Field(750, ge=250, le=30000, description="knet link ping_timeout; default: token / 4")
    dc_deadtime_s: int = Field(10, ge=2, le=120, description="Pacemaker dc-deadtime, seeded before the first start")
    vip_monitor_s: int = Field(10, ge=1, le=300)
    # httpd crash downtime ≈ the wait for the next monitor + ~0.5 s restart: median 0.9 s at 1 s,
    # 3.3 s at 5 s (docs/benchmarks.md); a monitor is one local /server-status request.
    httpd_monitor_s: int = Field(1, ge=1, le=300)
    httpd_migration_threshold: int = Field(10, ge=1, le=1000)
    resource_stickiness: int = Field(100, ge=0, le=1000000)
    # With migration-threshold 1 one failed monitor bans a resource from its node; without a
    # failure-timeout the ban lasted until someone ran `pcs resource cleanup`.
    failure_timeout_s: int = Field(
        120, ge=10, le=86400, description="Pacemaker failure-timeout: a failure this old is forgotten, and with it the ban"
    )
    fencing: FencingSettings = FencingSettings()

    @model_validator(mode="before")
    @classmethod
    def _knet_from_token(cls, data: Any) -> Any:
        """knet timers left out follow the token: the link is down well before the token is lost."""
        if not isinstance(data, dict) or not isinstance(token := data.get("token_ms", TOKEN_DEFAULT_MS), int):
            return data
        timeout = data.get("knet_ping_timeout_ms", max(250, token // 4))
        interval = timeout // 2 if isinstance(timeout, int) else None
        return {"knet_ping_timeout_ms": timeout, **({"knet_ping_interval_ms": interval} if interval else {}), **data}

    @model_validator(mode="after")
    def _nodes_differ(self) -> ClusterSettings:
        items = []
        if self.nodes[0].name == self.nodes[1].name:
            items.append(("nodes[1].name", f"{self.nodes[1].name!r} is also nodes[0].name"))
        if self.nodes[0].ip is not None and self.nodes[0].ip == self.nodes[1].ip:
            items.append(("nodes[1].ip", f"{self.nodes[1].ip} is also nodes[0].ip"))
        if self.knet_ping_interval_ms >= self.knet_ping_timeout_ms:
            items.append(("knet_ping_interval_ms", "must be shorter than knet_ping_timeout_ms"))
        _raise_if(items)
        return self


class ServiceTiming(Model):
    connect_timeout_ms: int = Field(ge=100, le=60000)
    timeout_s: int = Field(ge=1, le=3600)
    retry_s: int = Field(ge=0, le=3600)


TIMING_DEFAULTS = {
    # RWS keeps one long-poll per agent open: its timeout must outlast the poll.
    "rws": {"connect_timeout_ms": 3000, "timeout_s": 300, "retry_s": 30},
    "rp": {"connect_timeout_ms": 3000, "timeout_s": 120, "retry_s": 30},
    # 10 s connect timeout is the guide's value for RCS.
    "rcs": {"connect_timeout_ms": 10000, "timeout_s": 60, "retry_s": 30},
    "interaction_receiver": {"connect_timeout_ms": 3000, "timeout_s": 120, "retry_s": 30},
    "webdav": {"connect_timeout_ms": 3000, "timeout_s": 300, "retry_s": 30},
}


class ServiceTimings(Model):
    rws: ServiceTiming = ServiceTiming(**TIMING_DEFAULTS["rws"])
    rp: ServiceTiming = ServiceTiming(**TIMING_DEFAULTS["rp"])
    rcs: ServiceTiming = ServiceTiming(**TIMING_DEFAULTS["rcs"])
    interaction_receiver: ServiceTiming = ServiceTiming(**TIMING_DEFAULTS["interaction_receiver"])
    webdav: ServiceTiming = ServiceTiming(**TIMING_DEFAULTS["webdav"])

    @model_validator(mode="before")
    @classmethod
    def _per_key_defaults(cls, data: Any) -> Any:
        """A service given in part keeps its own defaults for the keys left out."""
        if not isinstance(data, dict):
            return data
        return {k: {**TIMING_DEFAULTS[k], **v} if k in TIMING_DEFAULTS and isinstance(v, dict) else v for k, v in data.items()}


class TlsSettings(Model):
    enabled: bool = False
    port: Port = 443


def _reserved(port: int) -> str | None:
    return f"{port} is the port of {RESERVED_PORTS[port]} on the nodes" if port in RESERVED_PORTS else None


class HttpdSettings(Model):
    port: Port = 80
    tls: TlsSettings = TlsSettings()
    max_agents: int = Field(500, ge=1, le=50000, description="logged-in agents to hold at once")
    headroom_percent: int = Field(25, ge=0, le=400, description="extra workers for non-long-poll requests, % of max_agents")
    services: ServiceTimings = ServiceTimings()
    member_ca_cert: PemCertificates | None = Field(
        None, description="PEM CA(s) that sign https members' certificates; default: the OS CA bundle"
    )

    @property
    def listen_ports(self) -> list[tuple[int, str]]:
        """(port, protocol) of every port httpd listens on."""
        return [(self.port, "http")] + ([(self.tls.port, "https")] if self.tls.enabled else [])

    # Field validators (not a model validator) so port problems show even when another httpd key failed.
    @field_validator("port")
    @classmethod
    def _port_free(cls, v: int) -> int:
        if problem := _reserved(v):
            raise ValueError(problem)
        return v

    @field_validator("tls")
    @classmethod
    def _tls_port_free(cls, v: TlsSettings, info: ValidationInfo) -> TlsSettings:
        if not v.enabled:
            return v  # not listened on: not checked
        problem = _reserved(v.port) or (f"{v.port} is also httpd.port" if v.port == info.data.get("port") else None)
        _raise_if([("port", problem)] if problem else [])
        return v


class AmiSettings(Model):
    id: AmiId | None = Field(None, description="explicit AMI id; overrides the lookup")
    owner: AwsAccount | None = Field(None, description="default: per OS profile")
    name_filter: AmiNameFilter | None = Field(None, description="default: per OS profile")


class SshSettings(Model):
    user: UserName = "ec2-user"
    key_name: KeyName | None = Field(None, description="EC2 key pair installed on both nodes")
    bastion_host: BastionHost | None = None
    bastion_user: UserName = "ec2-user"
    bastion_host_key: HostKey | None = Field(None, description="the bastion's public host key: required with bastion_host")


class Settings(Model):
    platform: Literal["aws", "lab", "lan"] = Field(
        "aws", description="aws, lab: built by the Pulumi program (the lab on this machine); lan: a bundle for your L2 LAN"
    )
    environment: Environment
    os_profile: Literal["rhel6", "rhel8", "rhel9", "debian12"] = "rhel9"
    network: NetworkSettings
    cluster: ClusterSettings
    httpd: HttpdSettings = HttpdSettings()
    ami: AmiSettings = AmiSettings()
    ssh: SshSettings = SshSettings()
    tenants: list[Tenant] = Field(min_length=1)
    tls_cert: str | None = Field(None, description="PEM certificate (chain) for the HTTPS front")
    tls_key: SecretStr | None = Field(None, description="PEM private key; a Pulumi secret")
    hacluster_password: SecretStr | None = Field(None, description="a Pulumi secret; generated when absent")
    ssh_private_key: SecretStr | None = Field(None, description="PEM key for ssh.user; a Pulumi secret")
    protect: bool | None = Field(None, description="protect resources; default true for prod")

    @model_validator(mode="before")
    @classmethod
    def _cman_token_default(cls, data: Any) -> Any:
        """cman (rhel6) keeps its own default token: Red Hat tests it between 5000 and 300000 ms."""
        cluster = data.get("cluster") if isinstance(data, dict) else None
        if isinstance(cluster, dict) and data.get("os_profile") == "rhel6" and "token_ms" not in cluster:
            return {**data, "cluster": {**cluster, "token_ms": CMAN_TOKEN_DEFAULT_MS}}
        return data

    # Field validators on network and cluster (in that order), not model checks: the model's checks
    # then see the addresses, given or derived from the pool, and a pool problem leaves the other
    # keys checked.
    @field_validator("network")
    @classmethod
    def _vip_given_or_pooled(cls, v: NetworkSettings, info: ValidationInfo) -> NetworkSettings:
        environment = info.data.get("environment")  # absent when invalid: its own problem is reported
        if v.address_pool is None:
            _raise_if([] if v.vip is not None else [("vip", "Field required")])
            return v
        if environment is None:
            return v
        if not environment.startswith("test-"):
            why = f"environment {environment!r} sets network.vip and cluster.nodes[].ip instead"
            raise Problems([("address_pool", f"is only for throw-away test-… stacks: {why}")])
        items = [("vip", "must be omitted: network.address_pool gives this stack its VIP")] if v.vip is not None else []
        try:
            pooled = addresses_from_pool(v.address_pool, v.subnet_cidr, environment)
        except ValueError as e:
            raise Problems([*items, ("address_pool", str(e))]) from None
        _raise_if(items)
        return v.model_copy(update={"vip": pooled.vip})

    @field_validator("cluster")
    @classmethod
    def _node_ips_given_or_pooled(cls, v: ClusterSettings, info: ValidationInfo) -> ClusterSettings:
        network, environment = info.data.get("network"), info.data.get("environment")
        if network is None:
            return v  # its problem is reported; without it the node addresses cannot be judged
        if network.address_pool is None:
            _raise_if([(f"nodes[{i}].ip", "Field required") for i, n in enumerate(v.nodes) if n.ip is None])
            return v
        given = [i for i, n in enumerate(v.nodes) if n.ip is not None]
        _raise_if([(f"nodes[{i}].ip", "must be omitted: network.address_pool gives the nodes their addresses") for i in given])
        if environment is None:
            return v
        ips = addresses_from_pool(network.address_pool, network.subnet_cidr, environment).nodes
        return v.model_copy(update={"nodes": [n.model_copy(update={"ip": ip}) for n, ip in zip(v.nodes, ips, strict=True)]})

    @field_validator("tls_cert")
    @classmethod
    def _pem_cert(cls, v: str | None) -> str | None:
        return v if v is None or v == SECRET_PLACEHOLDER else _check_pem_certificates(v)

    @field_validator("tls_key")
    @classmethod
    def _pem_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and v.get_secret_value() != SECRET_PLACEHOLDER:
            _raise_if([("", msg) for msg in read_private_key(v.get_secret_value())[1]])
        return v

    @property
    def is_protected(self) -> bool:
        return self.environment == "prod" if self.protect is None else self.protect

    @property
    def transport(self) -> str:
        return self.cluster.transport or ("udpu" if self.os_profile == "rhel6" else "knet")

    @property
    def any_https_member(self) -> bool:
        return any(m.is_https for t in self.tenants for _, _, m in t.members)

    @property
    def profile(self) -> OsProfile:
        return PROFILES[self.os_profile]

    @property
    def fencing(self) -> bool:
        """STONITH with fence_aws (off only by the explicit opt-out)."""
        return self.cluster.fencing.mode == "fence_aws"

    @property
    def base_url(self) -> str:
        """The load balancer's URL as GIR components reach it (the VIP; https when TLS is on)."""
        if self.httpd.tls.enabled:
            port = "" if self.httpd.tls.port == 443 else f":{self.httpd.tls.port}"
            return f"https://{self.network.vip}{port}"
        port = "" if self.httpd.port == 80 else f":{self.httpd.port}"
        return f"http://{self.network.vip}{port}"

    @property
    def tenant_urls(self) -> dict[str, dict[str, str]]:
        """Per tenant, the URL each GIR setting must hold (exported by the stack, printed by the lab)."""
        lb = self.base_url
        return {
            t.id: {svc.gir_setting: f"{lb}/{t.id}" + (f"/{svc.gir_path}" if svc.gir_path else "") for svc in SERVICES}
            for t in self.tenants
        }

    def _risks(self) -> list[tuple[str, str, bool]]:
        """(key, why, refused in prod) of each accepted but risky choice."""
        out = []
        if not self.fencing:
            out.append(("cluster.fencing.mode", "STONITH is disabled; a split brain can put the VIP on both nodes", True))
        for key, what in (("admin_cidrs", "SSH"), ("client_cidrs", "HTTP(S)")):
            for i, c in enumerate(getattr(self.network, key)):
                if c.prefixlen < 8:
                    wide = "the whole internet" if c.prefixlen == 0 else "more than a /8 of addresses"
                    why = f"{c} opens {what} to {wide}; list your own networks"
                    out.append((f"network.{key}[{i}]", why, True))
        if self.environment == "prod":
            if self.httpd.tls.enabled and self.tls_cert is None:
                out.append(("tls_cert", "prod serves a generated self-signed certificate; set tls_cert and tls_key", False))
            if not self.httpd.tls.enabled:
                why = "prod serves plain HTTP: recordings and passwords cross the network in clear"
                out.append(("httpd.tls.enabled", why, False))
            if self.protect is False:
                out.append(("protect", "prod resources are not protected from deletion", False))
        return out

    def warnings(self) -> list[str]:
        """Accepted but risky choices, shown in the preview and by the render command (in prod the
        dangerous ones are refused instead)."""
        prod = self.environment == "prod"
        return [f"{NAMESPACE}:{key}: {why}" for key, why, refused in self._risks() if not (prod and refused)]

    def deploy_problems(self) -> list[str]:
        """What stops the Pulumi program but not a render for review: the program builds aws and lab
        stacks, and a prod certificate is often issued after the stack is written."""
        items = []
        if self.platform == "lab" and self.httpd.tls.enabled:
            items.append(("httpd.tls.enabled", "the lab has no certificate source (pulumi-tls cannot be built here): use false"))
        if self.platform == "lan":
            why = "a lan stack is rendered (python -m blueprint render) and installed by hand; the program builds aws and lab"
            items.append(("platform", why))
        if self.environment == "prod" and self.httpd.tls.enabled and self.tls_cert is None:
            items.append(("tls_cert", "prod must not serve a generated self-signed certificate: set tls_cert and tls_key"))
        return [f"{NAMESPACE}:{key}: {why}" for key, why in items]

    def _platform_problems(self) -> list[tuple[str, str]]:
        items = []
        profile, vip_mode = self.os_profile, self.network.vip_mode
        if self.platform == "aws":
            if profile == "debian12":
                items.append(("os_profile", "debian12 is the local lab's profile: on AWS use rhel8 or rhel9"))
            if profile == "rhel6":
                why = "RHEL 6 has neither awsvip nor fence_aws, so its VIP cannot move on AWS: use rhel8 or rhel9"
                items.append(("os_profile", why))
            if vip_mode == "l2":
                why = "l2 (IPaddr2 alone) cannot move an address on AWS, whose network delivers only addresses assigned"
                items.append(("network.vip_mode", why + " through its API: use aws"))
            return items
        if self.platform == "lab":
            # The lab runs both VIP modes: aws and fence_aws against its EC2 emulator (lab/ec2.py).
            if profile != "debian12":
                items.append(("os_profile", "the lab runs Debian 12 in network namespaces: use debian12"))
            return items
        if vip_mode == "aws":
            items.append(("network.vip_mode", f"aws (awsvip) calls the EC2 API, which platform {self.platform} has not: use l2"))
        if self.fencing:
            why = f"fence_aws powers off EC2 instances, which platform {self.platform} has not: use disabled"
            items.append(("cluster.fencing.mode", why))
        return items

    def _address_problems(self) -> list[tuple[str, str]]:
        items = []
        net, nodes = self.network, self.cluster.nodes
        for i, node in enumerate(nodes):
            if problem := vip_problem(node.ip, net.subnet_cidr, on_aws=self.platform == "aws"):
                items.append((f"cluster.nodes[{i}].ip", problem))
            if node.ip == net.vip:
                items.append((f"cluster.nodes[{i}].ip", f"{node.ip} is also network.vip"))
        # A member on the balancer's own addresses (any port: the VIP and the nodes serve nothing
        # but the balancer and the cluster) or on this node's own httpd port sends requests in a loop.
        own = {str(net.vip): "network.vip"}
        for i, node in enumerate(nodes):
            own |= {str(node.ip): f"cluster.nodes[{i}].ip", node.name: f"cluster.nodes[{i}].name"}
        listen = {port for port, _ in self.httpd.listen_ports}
        for ti, t in enumerate(self.tenants):
            for svc, mi, m in t.members:
                key = f"tenants[{ti}].{svc}.members[{mi}].url"
                if m.host in own:
                    items.append((key, f"{m.host} is {own[m.host]}: a member cannot be the balancer itself"))
                elif _is_local(m.host) and m.port in listen:
                    items.append((key, f"{m.host}:{m.port} is this node's own httpd: a member cannot be the balancer itself"))
        return items

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        items = self._platform_problems() + self._address_problems()
        for tid, n in Counter(t.id for t in self.tenants).items():
            if n > 1:
                idx = [i for i, t in enumerate(self.tenants) if t.id == tid]
                items.append((f"tenants[{idx[1]}].id", f"tenant id {tid!r} is also tenants[{idx[0]}].id"))
        if self.transport == "knet" and self.os_profile == "rhel6":
            items.append(("cluster.transport", "knet needs corosync 3; rhel6 (cman) supports udpu"))
        if self.transport == "udpu" and self.os_profile != "rhel6":
            items.append(("cluster.transport", f"{self.os_profile} runs corosync 3: use knet"))
        if self.ssh.bastion_host and not self.ssh.bastion_host_key:
            why = "required with ssh.bastion_host: the bootstrap pins every host key it connects to"
            items.append(("ssh.bastion_host_key", why))
        if self.tls_key is not None and self.tls_cert is None:
            items.append(("tls_key", "a TLS key was given without tls_cert"))
        if self.tls_cert is not None and self.tls_key is None:
            items.append(("tls_cert", "a TLS certificate was given without tls_key"))
        items += _tls_pair(self.tls_cert, self.tls_key.get_secret_value() if self.tls_key else None)
        if self.environment == "prod":
            items += [(key, f"{why} (not allowed in prod)") for key, why, refused in self._risks() if refused]
        _raise_if(items)
        return self


SECRET_PLACEHOLDER = "<secret>"


def _tls_pair(cert_pem: str | None, key_pem: str | None) -> list[tuple[str, str]]:
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
    return [f"{NAMESPACE}:{key}: {msg}" for key, msg in _tls_pair(cert_pem, key_pem)]
