"""The GIR services behind each tenant, each written once: the settings key, the balancer name,
the URL paths it owns, the GIR setting it feeds and the path the lab and live tests probe. The
httpd template keeps only the directives that really differ per service (ROUTEID cookie, RCS
cookie path, hot standby)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    key: str  # the key under a tenant in the stack file
    balancer: str  # balancer://<tenant>-<balancer>
    routes: tuple[tuple[str, str], ...]  # (path under /<tenant>/, path on the member)
    gir_setting: str  # the key in the stack's tenant_urls export
    gir_path: str  # what that setting points at, under /<tenant>
    sticky: str | None  # the session the balancer sticks on, if any
    health_path: str  # under /<tenant>/: what the lab and the live tests probe

    @property
    def front_paths(self) -> tuple[str, ...]:
        return tuple(front for front, _ in self.routes)


SERVICES: tuple[Service, ...] = (
    Service(
        "rws", "rws", (("api", "api"), ("internal-api", "internal-api")),
        "htcc.baseurl", "", "ROUTEID", "api/health",
    ),
    Service("rp", "rp", (("rp/api", "api"),), "rps_url", "rp/api", None, "rp/api/health"),
    Service(
        "rcs", "rcs", (("rcs", "rcs"),), "rcs.base_uri", "rcs", "JSESSIONID|jsessionid", "rcs/health"
    ),
    Service(
        "interaction_receiver", "ir", (("interactionreceiver", "interactionreceiver"),),
        "interaction_receiver", "interactionreceiver", None, "interactionreceiver/health",
    ),
    Service(
        "webdav", "webdav", (("recordings", "recordings"),),
        "webdav_recordings", "recordings", None, "recordings/health",
    ),
)  # fmt: skip
BY_KEY = {svc.key: svc for svc in SERVICES}
# First path segments a tenant's own extra WebDAV paths may not take.
RESERVED_TENANT_PATHS = frozenset(front.split("/")[0] for svc in SERVICES for front in svc.front_paths)
