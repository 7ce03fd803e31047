"""The plan's httpd push step run for real: Debian's apache2 config on the live harness's Apache
node (a box with a private mount+PID namespace over a copy of /etc/apache2, httpd not started),
so the host is never touched."""

from __future__ import annotations

import base64
import os
import ssl
from pathlib import Path
from typing import NamedTuple

import pytest

from blueprint.plan import Step
from blueprint.stack_config import parse_settings
from lab.live import ApacheNode, free_ports, request
from lab.live import push_step as live_push_step
from tests import real_programs
from tests.conftest import base_config, push_step, tenant

CONF = "/etc/apache2/conf-enabled"


class Pushed(NamedTuple):
    returncode: int
    output: str  # stdout and stderr
    files: dict[str, str]  # the regular files under conf-enabled afterwards
    modes: dict[str, tuple[int, int, int]]  # each of those files' (permission bits, uid, gid)


def run_in_sandbox(tmp_path: Path, steps: list[Step], tls_pair: tuple[str, str]) -> list[Pushed]:
    """Runs each push step in turn on one Apache node; after each, reads the managed files
    through the copy of /etc/apache2 the node mounts."""
    node = ApacheNode(tmp_path, *free_ports(2))
    node.boot()
    try:
        pushed = []
        for step in steps:
            done = node.push(step, tls_pair)
            pushed.append(Pushed(done.returncode, done.stdout + done.stderr, files_in(node.etc), modes_in(node.etc)))
        return pushed
    finally:
        node.shutdown()


def managed_files(etc: Path) -> list[Path]:
    return [p for p in (etc / "conf-enabled").rglob("*") if p.is_file() and not p.is_symlink()] + [etc / "ports.conf"]


def files_in(etc: Path) -> dict[str, str]:
    return {str(p.relative_to(etc)): p.read_text() for p in managed_files(etc)}


def modes_in(etc: Path) -> dict[str, tuple[int, int, int]]:
    return {str(p.relative_to(etc)): (p.stat().st_mode & 0o7777, p.stat().st_uid, p.stat().st_gid) for p in managed_files(etc)}


@pytest.fixture
def tls_pair(tmp_path):
    return real_programs.test_certificate(str(tmp_path))


def test_push_installs_tests_and_refuses_a_broken_config(tmp_path, tls_pair):
    cfg = base_config("debian12", httpd={"tls": {"enabled": True}})
    good, files = push_step(cfg)
    fewer, _ = push_step({**cfg, "tenants": [tenant("t1", 9100)]})
    broken, _ = push_step(
        {**cfg, "tenants": [tenant("t1", 9100)]},
        edit=lambda p, t: t.replace("</Proxy>", "</Proxv>", 1) if p.endswith("_t1.conf") else t,
    )
    first, second, third = run_in_sandbox(tmp_path, [good, broken, fewer], tls_pair)

    assert first.returncode == 0, first.output
    assert "Syntax OK" in first.output and "not running" in first.output
    installed = first.files
    for path, text in files.items():
        assert installed[path.removeprefix("/etc/apache2/")] == text
    key = installed["conf-enabled/gir-lb/tls/server.key"]
    assert key.startswith("-----BEGIN PRIVATE KEY-----")
    # The key is root's alone; everything else the push installs is world-readable, root's to change.
    assert first.modes.pop("conf-enabled/gir-lb/tls/server.key") == (0o600, 0, 0)
    assert set(first.modes.values()) == {(0o644, 0, 0)}, first.modes

    assert second.returncode == 1 and "previous files restored" in second.output, second.output
    assert second.files == installed  # the broken push left nothing behind

    assert third.returncode == 0, third.output
    after = third.files
    assert "conf-enabled/gir-lb/loadbalancer_t2.conf" not in after  # a removed tenant's file goes
    assert "conf-enabled/gir-lb/loadbalancer_t1.conf" in after


DAMAGES = {  # what the push gets, what the step must say, whether httpd died (else it is reloaded back)
    "garbage cert": ("exited during the graceful reload", "SSL Library Error", True),
    "cert/key mismatch": ("exited during the graceful reload", "do not match", True),
    "status page refused": ("does not serve", "/server-status after the graceful reload", False),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_reload_that_kills_httpd_brings_it_back_on_the_previous_files(tmp_path, tls_pair, damage):
    """`apache2 -t` does not read the certificate: PEM armour around garbage, or a certificate
    that does not match the key, passes it and kills httpd at the graceful reload (mod_ssl). The
    push must fail naming it, put the previous files back and start httpd again as it ran; an
    httpd that lives but does not serve its status page is reloaded back on them."""
    said, named, dies = DAMAGES[damage]
    http_port, https_port = free_ports(2)
    s = parse_settings(base_config("debian12", httpd={"port": http_port, "tls": {"enabled": True, "port": https_port}}))
    step = live_push_step(s)  # its ports.conf listens on 127.0.0.1
    crt, key = bad = tls_pair
    bad_step = step
    if damage == "garbage cert":
        garbage = base64.encodebytes(os.urandom(300)).decode()
        bad = (f"-----BEGIN CERTIFICATE-----\n{garbage}-----END CERTIFICATE-----\n", key)
    elif damage == "cert/key mismatch":
        (tmp_path / "other").mkdir()
        bad = (real_programs.test_certificate(str(tmp_path / "other"))[0], key)
    else:
        bad_step = live_push_step(s, edit=lambda p, t: t.replace("Require ip 127.0.0.1", "Require ip 192.0.2.1"))
    node = ApacheNode(tmp_path, http_port, https_port)
    node.boot()
    try:
        first = node.push(step, tls_pair)
        assert first.returncode == 0, first.stdout + first.stderr
        node.start_httpd()
        before, pid = files_in(node.etc), node.httpd_pid()
        failed = node.push(bad_step, bad)
        output = failed.stdout + failed.stderr
        assert failed.returncode != 0, output
        assert said in failed.stderr and named in failed.stderr, output
        assert "previous files restored, httpd serves them again" in failed.stderr, output
        assert files_in(node.etc) == before
        assert (node.httpd_pid() != pid) == dies and node.httpd_pid()  # started again as it ran, or reloaded
        assert request("GET", "/server-status", http_port).status == 200
        served = ssl.get_server_certificate(("127.0.0.1", https_port))
        assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(crt)  # the previous certificate
        again = node.push(step, tls_pair)  # and the next good push reloads it as usual
        assert again.returncode == 0 and "graceful reload" in again.stdout, again.stdout + again.stderr
    finally:
        node.shutdown()
