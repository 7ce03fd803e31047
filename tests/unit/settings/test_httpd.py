"""httpd: its ports (never a port of the nodes' daemons, HTTP and HTTPS apart) and the services'
timings."""

from __future__ import annotations

import pytest

from blueprint.stack_config import parse_settings
from tests.conftest import base_config
from tests.unit.settings.conftest import only_problem, problems


@pytest.mark.parametrize(
    "port, owner",
    [
        (22, "SSH"),
        (2224, "pcsd"),
        (5404, "corosync"),
        (5405, "corosync"),
        (5406, "corosync"),
        (9663, "gir-lb-exporter"),
        (9100, "prometheus-node-exporter"),
        (44322, "pmproxy"),
    ],
)
def test_ports_of_the_nodes_daemons_are_refused(port, owner):
    assert only_problem(base_config(httpd={"port": port})) == f"gir-lb:httpd.port: {port} is the port of {owner} on the nodes"
    tls = base_config(httpd={"tls": {"enabled": True, "port": port}})
    assert only_problem(tls) == f"gir-lb:httpd.tls.port: {port} is the port of {owner} on the nodes"
    parse_settings(base_config(httpd={"tls": {"enabled": False, "port": port}}))  # not listened on: not checked


def test_the_tls_port_must_differ_from_the_http_port():
    cfg = base_config(httpd={"port": 8080, "tls": {"enabled": True, "port": 8080}})
    assert only_problem(cfg) == "gir-lb:httpd.tls.port: 8080 is also httpd.port"


def test_a_port_may_be_any_other_number():
    s = parse_settings(base_config(httpd={"port": 8080, "tls": {"enabled": True, "port": 80}}))
    assert s.httpd.listen_ports == [(8080, "http"), (80, "https")] and s.base_url == "https://10.0.1.50:80"


def test_port_problems_show_even_when_another_httpd_key_failed():
    cfg = base_config(httpd={"port": 2224, "tls": {"enabled": True, "port": 5405}, "max_agents": "many"})
    assert problems(cfg) == [
        "gir-lb:httpd.port: 2224 is the port of pcsd on the nodes",
        "gir-lb:httpd.tls.port: 5405 is the port of corosync on the nodes",
        "gir-lb:httpd.max_agents: Input should be a valid integer, unable to parse string as an integer",
    ]
    same = base_config(httpd={"tls": {"enabled": True, "port": 80}, "headroom_percent": -1})
    assert problems(same)[0] == "gir-lb:httpd.tls.port: 80 is also httpd.port"  # the default httpd.port


def test_a_partial_timeout_override_keeps_the_services_other_defaults():
    s = parse_settings(base_config(httpd={"services": {"rcs": {"timeout_s": 90}, "webdav": {"retry_s": 5}}}))
    t = s.httpd.services
    assert (t.rcs.connect_timeout_ms, t.rcs.timeout_s, t.rcs.retry_s) == (10000, 90, 30)
    assert (t.webdav.connect_timeout_ms, t.webdav.timeout_s, t.webdav.retry_s) == (3000, 300, 5)
    assert (t.rws.connect_timeout_ms, t.rws.timeout_s, t.rws.retry_s) == (3000, 300, 30)
    bad = base_config(httpd={"services": {"rp": {"retry_s": -1}, "ftp": {"timeout_s": 1}}})
    assert problems(bad) == [
        "gir-lb:httpd.services.rp.retry_s: Input should be greater than or equal to 0",
        "gir-lb:httpd.services.ftp: Extra inputs are not permitted",
    ]
