"""The service catalogue is the one place a GIR service is described: the settings model, the
rendered balancers, the exported URLs and the probes all follow it."""

from __future__ import annotations

from blueprint.render import render_bundle
from blueprint.services import RESERVED_TENANT_PATHS, SERVICES
from blueprint.settings import ServiceTimings, Tenant
from blueprint.stack_config import parse_settings
from tests.conftest import stack_config


def test_every_catalogued_service_is_a_tenant_key_with_timings():
    keys = [svc.key for svc in SERVICES]
    assert [k for k in Tenant.model_fields if k != "id"] == keys
    assert list(ServiceTimings.model_fields) == keys
    assert {k: tuple(t.model_dump().values()) for k, t in ServiceTimings()} == {svc.key: svc.timing for svc in SERVICES}
    assert len({svc.balancer for svc in SERVICES}) == len(SERVICES)


def test_balancers_routes_and_urls_follow_the_catalogue():
    s = parse_settings(stack_config("lab"))
    conf = next(text for path, text in render_bundle(s).httpd.items() if path.endswith("loadbalancer_t1.conf"))
    for svc in SERVICES:
        assert f'<Proxy "balancer://t1-{svc.balancer}">' in conf
        for front, member in svc.routes:
            assert f'"/t1/{front}"' in conf and f'"balancer://t1-{svc.balancer}/{member}"' in conf
        assert s.tenant_urls["t1"][svc.gir_setting].startswith(s.base_url + "/t1")
        assert svc.health_path.split("/")[0] in RESERVED_TENANT_PATHS
    assert s.tenant_urls["t1"]["rps_url"] == "http://198.18.0.100/t1/rp/api"
    assert '"balancer://t1-webdav/dest2"' in conf  # a tenant's extra WebDAV path
    assert s.tenant_urls["t1"]["webdav_dest2"] == "http://198.18.0.100/t1/dest2"
