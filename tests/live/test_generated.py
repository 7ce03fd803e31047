"""Random settings the model accepts, rendered and installed by the plan's push step into Debian's
real apache2 (a private mount namespace, loopback ports): httpd starts and serves /server-status,
the page the cluster's monitor asks for. `apache2 -t` over every profile: tests/tools/test_real_tools.py."""

from __future__ import annotations

from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from blueprint.stack_config import parse_settings
from lab.live import ApacheNode, free_ports, push_step, request
from tests.conftest import TENANT_IDS, WEBDAV_EXTRA_PATHS, base_config, tenant
from tests.live.conftest import tls_pair


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ids=TENANT_IDS,
    extra=WEBDAV_EXTRA_PATHS,
    agents=st.integers(1, 3000),
    tls=st.booleans(),
    https_member=st.booleans(),
    one_rp_member=st.booleans(),
)
def test_accepted_settings_start_httpd_and_serve_the_status_page(
    tmp_path_factory, pki, ids, extra, agents, tls, https_member, one_rp_member
):
    tmp = tmp_path_factory.mktemp("generated")
    http_port, https_port = free_ports(2)
    # Members on loopback ports where nothing listens: httpd must start and serve its own page anyway.
    tenants = [tenant(t, 20000 + 100 * i, scheme="https" if https_member and i == 0 else "http") for i, t in enumerate(ids)]
    for t in tenants:
        t["webdav"]["extra_paths"] = extra
        if one_rp_member:
            t["rp"]["members"].pop()
    httpd = {"port": http_port, "tls": {"enabled": tls, "port": https_port}, "max_agents": agents,
             "member_ca_cert": pki["ca_crt"].read_text()}
    settings = parse_settings(base_config("debian12", httpd=httpd, tenants=tenants))
    node = ApacheNode(tmp, http_port, https_port)
    node.boot()
    try:
        pushed = node.push(push_step(settings), tls_pair(pki) if tls else None)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        node.start_httpd()  # waits until /server-status answers, or fails with the error log
        assert request("GET", "/server-status?auto", http_port).status == 200
    finally:
        node.shutdown()
