"""httpd: ports, TLS, worker sizing and each service's proxy timings."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..services import BY_KEY
from .types import RESERVED_PORTS, Model, PemCertificates, Port, raise_if


class ServiceTiming(Model):
    connect_timeout_ms: int = Field(ge=100, le=60000)
    timeout_s: int = Field(ge=1, le=3600)
    retry_s: int = Field(ge=0, le=3600)


class ServiceTimings(Model):
    """Each balancer's proxy timings; the defaults are the service catalogue's."""

    rws: ServiceTiming = ServiceTiming(**BY_KEY["rws"].timing._asdict())
    rp: ServiceTiming = ServiceTiming(**BY_KEY["rp"].timing._asdict())
    rcs: ServiceTiming = ServiceTiming(**BY_KEY["rcs"].timing._asdict())
    interaction_receiver: ServiceTiming = ServiceTiming(**BY_KEY["interaction_receiver"].timing._asdict())
    webdav: ServiceTiming = ServiceTiming(**BY_KEY["webdav"].timing._asdict())

    @model_validator(mode="before")
    @classmethod
    def _per_key_defaults(cls, data: Any) -> Any:
        """A service given in part keeps its own defaults for the keys left out."""
        if not isinstance(data, dict):
            return data
        return {k: {**BY_KEY[k].timing._asdict(), **v} if k in BY_KEY and isinstance(v, dict) else v for k, v in data.items()}


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
        raise_if([("port", problem)] if problem else [])
        return v
