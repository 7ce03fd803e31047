"""The whole stack: the top-level `Settings` that holds every part; `rules` checks them together."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, SecretStr, ValidationInfo, field_validator, model_validator

from ..pki import read_private_key
from ..profiles import DEFAULT_PROFILE, PROFILES, OsProfile
from ..services import SERVICES
from . import rules
from .addresses import addresses_from_pool
from .cluster import ClusterSettings
from .httpd import HttpdSettings
from .monitoring import MonitoringSettings
from .network import NetworkSettings
from .tenants import Tenant
from .tls import SECRET_PLACEHOLDER
from .types import (
    AmiId,
    AmiNameFilter,
    AwsAccount,
    BastionHost,
    Environment,
    HostKey,
    KeyName,
    Model,
    Problems,
    UserName,
    check_pem_certificates,
    raise_if,
)


def _known_profile(v: str) -> str:
    if v not in PROFILES:
        raise ValueError(f"{v!r} is not an OS profile: use {', '.join(PROFILES)}")
    return v


OsProfileName = Annotated[str, AfterValidator(_known_profile)]


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
    os_profile: OsProfileName = Field(DEFAULT_PROFILE, description=f"one of {', '.join(PROFILES)}")
    network: NetworkSettings
    cluster: ClusterSettings
    httpd: HttpdSettings = HttpdSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
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
    def _token_default_of_the_profile(cls, data: Any) -> Any:
        """A token left out is the OS profile's default (cman keeps its own, 10000 ms)."""
        if not isinstance(data, dict):
            return data
        cluster, name = data.get("cluster"), data.get("os_profile", DEFAULT_PROFILE)
        profile = PROFILES.get(name) if isinstance(name, str) else None
        if isinstance(cluster, dict) and profile is not None and "token_ms" not in cluster:
            return {**data, "cluster": {**cluster, "token_ms": profile.token_default_ms}}
        return data

    # Field validators on network and cluster (in that order), not model checks: the model's checks
    # then see the addresses, given or derived from the pool, and a pool problem leaves the other
    # keys checked.
    @field_validator("network")
    @classmethod
    def _vip_given_or_pooled(cls, v: NetworkSettings, info: ValidationInfo) -> NetworkSettings:
        environment = info.data.get("environment")  # absent when invalid: its own problem is reported
        if v.address_pool is None:
            raise_if([] if v.vip is not None else [("vip", "Field required")])
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
        raise_if(items)
        return v.model_copy(update={"vip": pooled.vip})

    @field_validator("cluster")
    @classmethod
    def _node_ips_given_or_pooled(cls, v: ClusterSettings, info: ValidationInfo) -> ClusterSettings:
        network, environment = info.data.get("network"), info.data.get("environment")
        if network is None:
            return v  # its problem is reported; without it the node addresses cannot be judged
        if network.address_pool is None:
            raise_if([(f"nodes[{i}].ip", "Field required") for i, n in enumerate(v.nodes) if n.ip is None])
            return v
        given = [i for i, n in enumerate(v.nodes) if n.ip is not None]
        raise_if([(f"nodes[{i}].ip", "must be omitted: network.address_pool gives the nodes their addresses") for i in given])
        if environment is None:
            return v
        ips = addresses_from_pool(network.address_pool, network.subnet_cidr, environment).nodes
        return v.model_copy(update={"nodes": [n.model_copy(update={"ip": ip}) for n, ip in zip(v.nodes, ips, strict=True)]})

    @field_validator("tls_cert")
    @classmethod
    def _pem_cert(cls, v: str | None) -> str | None:
        return v if v is None or v == SECRET_PLACEHOLDER else check_pem_certificates(v)

    @field_validator("tls_key")
    @classmethod
    def _pem_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and v.get_secret_value() != SECRET_PLACEHOLDER:
            raise_if([("", msg) for msg in read_private_key(v.get_secret_value())[1]])
        return v

    @property
    def is_protected(self) -> bool:
        return self.environment == "prod" if self.protect is None else self.protect

    @property
    def transport(self) -> str:
        return self.cluster.transport or self.profile.transport

    @property
    def in_ec2_subnet(self) -> bool:
        """The nodes get their addresses through the EC2 API (on AWS, or the lab's EC2 emulator with
        vip_mode aws or overlay), so AWS's reserved addresses apply to them."""
        return self.platform == "aws" or self.network.vip_mode != "l2"

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
        """Per tenant, the URL each GIR setting must hold (exported by the stack, printed by the lab);
        each extra WebDAV path is a destination of its own (webdav_<path>)."""
        lb = self.base_url
        return {
            t.id: {svc.gir_setting: f"{lb}/{t.id}" + (f"/{svc.gir_path}" if svc.gir_path else "") for svc in SERVICES}
            | {f"webdav_{path}": f"{lb}/{t.id}/{path}" for path in t.webdav.extra_paths}
            for t in self.tenants
        }

    def warnings(self) -> list[str]:
        """Accepted but risky choices, shown in the preview and by the render command (in prod the
        dangerous ones are refused instead)."""
        return rules.warnings(self)

    def deploy_problems(self) -> list[str]:
        """What stops the Pulumi program but not a render for review: the program builds aws and lab
        stacks, and a prod certificate is often issued after the stack is written."""
        return rules.deploy_problems(self)

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        raise_if(rules.problems(self))
        return self
