"""One typed, validated model of a gir-lb stack.

Every problem is collected and reported at once, each line naming its key path
(``gir-lb:tenants[1].rcs.members[0].app_name``), before anything is rendered or created.
This module is the only place where user input is checked: templates and scripts may
assume every value they get from here is safe for a URL path, an Apache token and a shell word.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from .pki import key_matches, read_certificates, read_private_key
from .profiles import PROFILES, OsProfile
from .services import RESERVED_TENANT_PATHS, SERVICES

NAMESPACE = "gir-lb"

# Tenant ids and extra WebDAV paths become URL path segments, Apache balancer names
# (balancer://t1rws) and cookie paths, so they are restricted to a conservative alphabet.
TenantId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{0,15}$")]
PathSegment = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
# Routes end up in cookie values (ROUTEID=.<route>) and BalancerMember parameters; a dot would
# be read as the session/route separator by mod_proxy_balancer.
Route = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Hostname = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
ClusterName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,14}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]
SubnetId = Annotated[str, StringConstraints(pattern=r"^subnet-[0-9a-f]{8,17}$")]
InstanceType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")]
AmiId = Annotated[str, StringConstraints(pattern=r"^ami-[0-9a-f]{8,17}$")]
# An AMI name filter is passed to the EC2 API only, never to a shell or a config file.
AmiNameFilter = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ._*?()/-]{1,128}$")]
AwsAccount = Annotated[str, StringConstraints(pattern=r"^(\d{12}|amazon|self|aws-marketplace)$")]
AppName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 _-]{1,64}$")]

_HOST_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class Problems(ValueError):
    """Several problems found by one validator, each with a key path relative to it."""

    def __init__(self, items: list[tuple[str, str]]):
        self.items = items
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in items))


def _raise_if(items: list[tuple[str, str]]) -> None:
    if items:
        raise Problems(items)


def _check_member_url(url: str) -> str:
    """A member is exactly scheme://host:port: the balancer appends the service path itself."""
    if not isinstance(url, str) or any(c.isspace() or c in "\"'\\<>" for c in url):
        raise ValueError("must be http(s)://host:port with no spaces or quotes")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"must start with http:// or https://, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError(f"must be http(s)://host:port without user, path or query, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"has an invalid port: {url!r}") from None
    if port is None or not 1 <= port <= 65535:
        raise ValueError(f"must name an explicit port (http(s)://host:port), got {url!r}")
    host = parts.hostname or ""
    if not _HOST_RE.match(host):
        raise ValueError(f"host {host!r} is not a valid DNS name or IPv4 address")
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


def _url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


class Member(Model):
    url: MemberUrl

    @property
    def host(self) -> str:
        return _url_host(self.url)

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


def _unique_routes(members: list[Any]) -> None:
    seen: dict[str, int] = {}
    items = []
    for i, m in enumerate(members):
        if m.route in seen:
            items.append((f"members[{i}].route", f"route {m.route!r} is already used by members[{seen[m.route]}]"))
        seen.setdefault(m.route, i)
    _raise_if(items)


class RwsService(Model):
    members: list[RwsMember] = Field(min_length=1)

    @model_validator(mode="after")
    def _routes(self) -> RwsService:
        _unique_routes(self.members)
        return self


class RpService(Model):
    members: list[Member] = Field(min_length=1)


class RcsService(Model):
    members: list[RcsMember] = Field(min_length=1)

    @model_validator(mode="after")
    def _routes(self) -> RcsService:
        _unique_routes(self.members)
        return self


class IrService(Model):
    members: list[Member] = Field(min_length=1)


class WebDavService(Model):
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
    ip: ipaddress.IPv4Address


def vip_problem(vip: ipaddress.IPv4Address, net: ipaddress.IPv4Network, on_aws: bool) -> str | None:
    """Why `vip` cannot float in subnet `net`, or None. AWS reserves the first four addresses and
    the last one of every subnet; an L2 LAN only the network and broadcast addresses."""
    if vip not in net:
        return f"{vip} is outside subnet_cidr {net}"
    if vip in (net.network_address, net.broadcast_address):
        return f"{vip} is the network or broadcast address of {net}"
    if on_aws and int(vip) - int(net.network_address) <= 3:
        return f"{vip} is one of the addresses AWS reserves in {net}"
    return None


class NetworkSettings(Model):
    region: Region
    subnet_id: SubnetId
    subnet_cidr: ipaddress.IPv4Network = Field(
        description="CIDR of subnet_id; checked offline here and against AWS at deploy time"
    )
    vip: ipaddress.IPv4Address
    vip_mode: Literal["aws", "l2"] = Field("aws", description="aws: awsvip+IPaddr2 group; l2: IPaddr2 alone (a LAN or the lab)")
    client_cidrs: list[ipaddress.IPv4Network] = Field(min_length=1)
    admin_cidrs: list[ipaddress.IPv4Network] = Field(min_length=1)
    instance_type: InstanceType = "t3.medium"

    @model_validator(mode="after")
    def _vip_in_subnet(self) -> NetworkSettings:
        problem = vip_problem(self.vip, self.subnet_cidr, on_aws=self.vip_mode == "aws")
        _raise_if([("vip", problem)] if problem else [])
        return self


class FencingSettings(Model):
    mode: Literal["fence_aws", "disabled"] = Field(
        "fence_aws", description="disabled turns STONITH off: an explicit, unsafe opt-out"
    )
    delay_s: int = Field(15, ge=0, le=120, description="pcmk_delay_max: breaks a fence race")


class ClusterSettings(Model):
    name: ClusterName = "gir-lb"
    nodes: list[ClusterNode] = Field(min_length=2, max_length=2)
    transport: Literal["knet", "udpu"] | None = Field(None, description="default: knet (corosync 3) or udpu (cman on rhel6)")
    # Below 500 ms token / 250 ms knet ping timeout the membership flapped in our measurements.
    token_ms: int = Field(1000, ge=500, le=60000, description="corosync totem token")
    knet_ping_interval_ms: int = Field(125, ge=50, le=10000, description="knet link ping_interval")
    knet_ping_timeout_ms: int = Field(250, ge=250, le=30000, description="knet link ping_timeout")
    dc_deadtime_s: int = Field(10, ge=2, le=120, description="Pacemaker dc-deadtime, seeded before the first start")
    vip_monitor_s: int = Field(10, ge=1, le=300)
    httpd_monitor_s: int = Field(5, ge=1, le=300)
    httpd_migration_threshold: int = Field(10, ge=1, le=1000)
    resource_stickiness: int = Field(100, ge=0, le=1000000)
    fencing: FencingSettings = FencingSettings()

    @model_validator(mode="after")
    def _nodes_differ(self) -> ClusterSettings:
        items = []
        if self.nodes[0].name == self.nodes[1].name:
            items.append(("nodes[1].name", f"{self.nodes[1].name!r} is also nodes[0].name"))
        if self.nodes[0].ip == self.nodes[1].ip:
            items.append(("nodes[1].ip", f"{self.nodes[1].ip} is also nodes[0].ip"))
        if self.knet_ping_interval_ms >= self.knet_ping_timeout_ms:
            items.append(("knet_ping_interval_ms", "must be shorter than knet_ping_timeout_ms"))
        _raise_if(items)
        return self


class ServiceTiming(Model):
    connect_timeout_ms: int = Field(ge=100, le=60000)
    timeout_s: int = Field(ge=1, le=3600)
    retry_s: int = Field(ge=0, le=3600)


def _timing(connect_ms: int, timeout_s: int, retry_s: int) -> ServiceTiming:
    return ServiceTiming(connect_timeout_ms=connect_ms, timeout_s=timeout_s, retry_s=retry_s)


class ServiceTimings(Model):
    # RWS keeps one long-poll per agent open: its timeout must outlast the poll.
    rws: ServiceTiming = _timing(3000, 300, 30)
    rp: ServiceTiming = _timing(3000, 120, 30)
    # 10 s connect timeout is the guide's value for RCS.
    rcs: ServiceTiming = _timing(10000, 60, 30)
    interaction_receiver: ServiceTiming = _timing(3000, 120, 30)
    webdav: ServiceTiming = _timing(3000, 300, 30)


class TlsSettings(Model):
    enabled: bool = False
    port: Port = 443


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

    @model_validator(mode="after")
    def _ports(self) -> HttpdSettings:
        ports = {"port": self.port} | ({"tls.port": self.tls.port} if self.tls.enabled else {})
        items = [(k, f"{p} is the port of {RESERVED_PORTS[p]} on the nodes") for k, p in ports.items() if p in RESERVED_PORTS]
        if self.tls.enabled and self.tls.port == self.port:
            items.append(("tls.port", f"{self.tls.port} is also httpd.port"))
        _raise_if(items)
        return self


class AmiSettings(Model):
    id: AmiId | None = Field(None, description="explicit AMI id; overrides the lookup")
    owner: AwsAccount | None = Field(None, description="default: per OS profile")
    name_filter: AmiNameFilter | None = Field(None, description="default: per OS profile")


class SshSettings(Model):
    user: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "ec2-user"
    key_name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ._-]{1,255}$")] | None = Field(
        None, description="EC2 key pair installed on both nodes"
    )
    bastion_host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{1,253}$")] | None = None
    bastion_user: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] = "ec2-user"


class Settings(Model):
    environment: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
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

    def warnings(self) -> list[str]:
        """Accepted but risky choices, shown in the preview and by the render command."""
        out = []
        if self.cluster.fencing.mode == "disabled":
            out.append(f"{NAMESPACE}:cluster.fencing.mode: STONITH is disabled; a split brain can put the VIP on both nodes")
        if self.httpd.tls.enabled and self.tls_cert is None and self.environment == "prod":
            out.append(f"{NAMESPACE}:tls_cert: prod serves a generated self-signed certificate; set tls_cert and tls_key")
        return out

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        items: list[tuple[str, str]] = []
        for tid, n in Counter(t.id for t in self.tenants).items():
            if n > 1:
                idx = [i for i, t in enumerate(self.tenants) if t.id == tid]
                items.append((f"tenants[{idx[1]}].id", f"tenant id {tid!r} is also tenants[{idx[0]}].id"))
        net, nodes = self.network, self.cluster.nodes
        for i, node in enumerate(nodes):
            if node.ip not in net.subnet_cidr:
                items.append((f"cluster.nodes[{i}].ip", f"{node.ip} is outside network.subnet_cidr {net.subnet_cidr}"))
            if node.ip == net.vip:
                items.append((f"cluster.nodes[{i}].ip", f"{node.ip} is also network.vip"))
        for ti, t in enumerate(self.tenants):
            for svc, mi, m in t.members:
                if m.host == str(net.vip):
                    items.append((f"tenants[{ti}].{svc}.members[{mi}].url", f"member address {m.host} is the VIP"))
        if self.transport == "knet" and self.os_profile == "rhel6":
            items.append(("cluster.transport", "knet needs corosync 3; rhel6 (cman) supports udpu"))
        if self.transport == "udpu" and self.os_profile != "rhel6":
            items.append(("cluster.transport", f"{self.os_profile} runs corosync 3: use knet"))
        if self.os_profile == "rhel6" and net.vip_mode == "aws":
            items.append(("network.vip_mode", "RHEL 6 resource-agents ship no awsvip agent: use l2 (a LAN) or rhel8/rhel9"))
        if self.os_profile == "rhel6" and self.fencing:
            items.append(("cluster.fencing.mode", "RHEL 6 fence-agents ship no fence_aws: use rhel8/rhel9"))
        if self.fencing and net.vip_mode != "aws":
            items.append(("cluster.fencing.mode", "fence_aws needs network.vip_mode aws"))
        if self.tls_key is not None and self.tls_cert is None:
            items.append(("tls_key", "a TLS key was given without tls_cert"))
        if self.tls_cert is not None and self.tls_key is None:
            items.append(("tls_cert", "a TLS certificate was given without tls_key"))
        items += _tls_pair(self.tls_cert, self.tls_key.get_secret_value() if self.tls_key else None)
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
