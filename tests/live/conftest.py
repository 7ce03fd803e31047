"""Fixtures for live traffic: a fleet of fake members and a running Apache node serving the
rendered bundle, both stopped by PID at teardown (also when a test fails)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from blueprint.stack_config import parse_settings
from lab.live import ApacheNode, Fleet, free_ports, start_node
from tests.conftest import base_config

TIMINGS = {
    "rws": {"connect_timeout_ms": 1000, "timeout_s": 60, "retry_s": 2},
    "rp": {"connect_timeout_ms": 1000, "timeout_s": 2, "retry_s": 2},
    "rcs": {"connect_timeout_ms": 1000, "timeout_s": 5, "retry_s": 2},
    "interaction_receiver": {"connect_timeout_ms": 1000, "timeout_s": 5, "retry_s": 2},
    "webdav": {"connect_timeout_ms": 1000, "timeout_s": 5, "retry_s": 3},
}


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A test CA, a member certificate it signs (for 127.0.0.1), an untrusted self-signed member
    certificate, and the front's certificate."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl(
        "req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"), "-days", "2", "-subj", "/CN=gir-lb test CA"
    )
    openssl("req", *ec, "-keyout", str(d / "member.key"), "-out", str(d / "member.csr"), "-subj", "/CN=127.0.0.1")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        str(d / "member.csr"),
        "-CA",
        str(d / "ca.crt"),
        "-CAkey",
        str(d / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(d / "member.crt"),
        "-days",
        "2",
        "-extfile",
        str(d / "san.ext"),
    )
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        str(d / "rogue.key"),
        "-out",
        str(d / "rogue.crt"),
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    )
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        str(d / "front.key"),
        "-out",
        str(d / "front.crt"),
        "-days",
        "2",
        "-subj",
        "/CN=gir-lb.test",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
    )
    return {p.stem + p.suffix.replace(".", "_"): p for p in d.iterdir()}


# The httpds a live test can run: Debian's 2.4 (debian12) and 2.2.34 built from source (rhel6).
HTTPDS = {"httpd2.4": "debian12", "httpd2.2": "rhel6"}
# httpd 2.2.34's mod_ssl does not build against OpenSSL 3 (its configure finds no SSL_set_cert_store):
# the 2.2 node serves plain HTTP and has no https members.
NO_TLS = "httpd 2.2.34's mod_ssl does not build against OpenSSL 3: the 2.2 node has no TLS"


def has_tls(os_profile: str) -> bool:
    return os_profile != "rhel6"


def live_settings(
    fleet: Fleet, tenants: list[str], http_port: int, https_port: int, pki, os_profile: str = "debian12", **httpd
):
    cfg = base_config(
        os_profile,
        httpd={
            "port": http_port,
            "tls": {"enabled": has_tls(os_profile), "port": https_port},
            "member_ca_cert": pki["ca_crt"].read_text(),
            "services": TIMINGS,
            **httpd,
        },
        tenants=[fleet.tenant_config(t) for t in tenants],
    )
    return parse_settings(cfg)


def tls_pair(pki) -> tuple[str, str]:
    return pki["front_crt"].read_text(), pki["front_key"].read_text()


class Lb:
    """A running balancer: node + fleet + the settings it was rendered from."""

    def __init__(self, node: ApacheNode, fleet: Fleet, settings, pki):
        self.node, self.fleet, self.settings, self.pki = node, fleet, settings, pki

    @property
    def port(self) -> int:
        return self.node.http_port

    @property
    def tls_pair(self) -> tuple[str, str] | None:
        """What a push sends after the httpd files: the front's TLS pair, when the node has TLS."""
        return tls_pair(self.pki) if self.settings.httpd.tls.enabled else None


def start_lb(workdir: Path, fleet: Fleet, tenants: list[str], pki, drop_conf=(), os_profile: str = "debian12", **httpd) -> Lb:
    http_port, https_port = free_ports(2)
    settings = live_settings(fleet, tenants, http_port, https_port, pki, os_profile, **httpd)
    node = start_node(workdir, settings, tls_pair(pki) if settings.httpd.tls.enabled else None, drop_conf)
    return Lb(node, fleet, settings, pki)


@pytest.fixture(scope="module", params=list(HTTPDS))
def lb(request, tmp_path_factory, pki):
    """t1 and t2 with two members per service, t3 with https members (one trusted, one not; not
    on a node without TLS), on each httpd."""
    os_profile = HTTPDS[request.param]
    tenants = ["t1", "t2", "t3"] if has_tls(os_profile) else ["t1", "t2"]
    fleet = Fleet(
        {"t1": {}, "t2": {}, "t3": {"rws": 1, "rp": 1, "rcs": 1, "interaction_receiver": 1, "webdav": 1}},
        tls_members={
            ("t3", "rp", 0): (str(pki["member_crt"]), str(pki["member_key"])),
            ("t3", "interaction_receiver", 0): (str(pki["rogue_crt"]), str(pki["rogue_key"])),
        },
    ) if has_tls(os_profile) else Fleet({"t1": {}, "t2": {}})
    fleet.start()
    try:
        running = start_lb(tmp_path_factory.mktemp("node"), fleet, tenants, pki, os_profile=os_profile)
    except BaseException:
        fleet.stop()
        raise
    yield running
    running.node.shutdown()
    fleet.stop()


@pytest.fixture
def healthy(lb):
    """Every member running again after a test that stopped, froze or blocked some."""
    yield lb
    for m in lb.fleet.members.values():
        if m.proc is None or m.proc.poll() is not None:
            m.start()
        else:
            m.thaw()
