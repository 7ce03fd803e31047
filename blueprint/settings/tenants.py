"""A tenant: its five GIR services, each a balancer of members."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from ..services import RESERVED_TENANT_PATHS, SERVICES
from .types import AppName, MemberUrl, Model, PathSegment, Route, TenantId, raise_if


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
        raise_if(items)
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
        raise_if(items)
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
