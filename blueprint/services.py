"""The GIR services behind each tenant, each written once: the settings key, the balancer name,
the URL paths it owns, the GIR setting it feeds, its default proxy timings and the path the lab
and live tests probe. The httpd template keeps only the directives that really differ per service
(ROUTEID cookie, RCS cookie path, hot standby).

Adding a service is an entry here plus what stays by hand: its members' model class and its field
in `Tenant` and `ServiceTimings` (blueprint/settings/tenants.py, httpd.py), its block in
templates/httpd/loadbalancer_tenant.conf.j2, and its members in each stack file. The tests check
that those lists match this catalogue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Timing(NamedTuple):
    """A balancer's default proxy timings (gir-lb:httpd.services.<key> overrides each)."""

    connect_timeout_ms: int
    timeout_s: int
    retry_s: int


@dataclass(frozen=True)
class Service:
    key: str  # the key under a tenant in the stack file
    balancer: str  # balancer://<tenant>-<balancer>
    routes: tuple[tuple[str, str], ...]  # (path under /<tenant>/, path on the member)
    gir_setting: str  # the key in the stack's tenant_urls export
    gir_path: str  # what that setting points at, under /<tenant>
    sticky: str | None  # the session the balancer sticks on, if any
    health_path: str  # under /<tenant>/: what the lab and the live tests probe
    timing: Timing

    @property
    def front_paths(self) -> tuple[str, ...]:
        return tuple(front for front, _ in self.routes)


SERVICES: tuple[Service, ...] = (
    Service(
        "rws", "rws", (("api", "api"), ("internal-api", "internal-api")),
        "htcc.baseurl", "", "ROUTEID", "api/health",
        # RWS keeps one long-poll per agent open: its timeout must outlast the poll.
        Timing(connect_timeout_ms=3000, timeout_s=300, retry_s=30),
    ),
    Service(
        "rp", "rp", (("rp/api", "api"),), "rps_url", "rp/api", None, "rp/api/health",
        Timing(connect_timeout_ms=3000, timeout_s=120, retry_s=30),
    ),
    Service(
        "rcs", "rcs", (("rcs", "rcs"),), "rcs.base_uri", "rcs", "JSESSIONID|jsessionid", "rcs/health",
        # 10 s connect timeout is the guide's value for RCS.
        Timing(connect_timeout_ms=10000, timeout_s=60, retry_s=30),
    ),
    Service(
        "interaction_receiver", "ir", (("interactionreceiver", "interactionreceiver"),),
        "interaction_receiver", "interactionreceiver", None, "interactionreceiver/health",
        Timing(connect_timeout_ms=3000, timeout_s=120, retry_s=30),
    ),
    Service(
        "webdav", "webdav", (("recordings", "recordings"),),
        "webdav_recordings", "recordings", None, "recordings/health",
        Timing(connect_timeout_ms=3000, timeout_s=300, retry_s=30),
    ),
)  # fmt: skip
BY_KEY = {svc.key: svc for svc in SERVICES}
# First path segments a tenant's own extra WebDAV paths may not take.
RESERVED_TENANT_PATHS = frozenset(front.split("/")[0] for svc in SERVICES for front in svc.front_paths)
