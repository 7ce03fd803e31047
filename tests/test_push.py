"""The plan's httpd push step run for real: Debian's apache2 config on the live harness's Apache
node (a box with a private mount+PID namespace over a copy of /etc/apache2, httpd not started),
so the host is never touched."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import NamedTuple

import pytest

import tools
from blueprint.plan import build_plan, encode_stdin
from blueprint.render import render_bundle
from blueprint.stack_config import parse_settings
from conftest import base_config, tenant
from live.harness import ApacheNode, free_ports

pytestmark = pytest.mark.tools
CONF = "/etc/apache2/conf-enabled"


def push_step(cfg: dict, edit=None) -> tuple[str, dict]:
    s = parse_settings(cfg)
    bundle = render_bundle(s)
    if edit:
        bundle = dataclasses.replace(bundle, httpd={p: edit(p, t) for p, t in bundle.httpd.items()})
    step = next(st for st in build_plan(s, bundle) if st.name == "httpd-push-0")
    return step.script, bundle.httpd


class Pushed(NamedTuple):
    returncode: int
    output: str  # stdout and stderr
    files: dict[str, str]  # the regular files under conf-enabled afterwards


def run_in_sandbox(tmp_path: Path, scripts: list[str], stdin: str) -> list[Pushed]:
    """Runs each push script in turn on one Apache node; after each, reads the managed files
    through the copy of /etc/apache2 the node mounts."""
    node = ApacheNode(tmp_path, *free_ports(2))
    node.boot()
    try:
        pushed = []
        for script in scripts:
            done = node.push(script, stdin)
            pushed.append(Pushed(done.returncode, done.stdout + done.stderr, files_in(node.etc)))
        return pushed
    finally:
        node.shutdown()


def files_in(etc: Path) -> dict[str, str]:
    conf = [p for p in (etc / "conf-enabled").rglob("*") if p.is_file() and not p.is_symlink()]
    return {str(p.relative_to(etc)): p.read_text() for p in conf}


@pytest.fixture
def tls_stdin(tmp_path):
    crt, key = tools.test_certificate(str(tmp_path))
    return encode_stdin("tls", (crt, key))


def test_push_installs_tests_and_refuses_a_broken_config(tmp_path, tls_stdin):
    cfg = base_config("debian12", httpd={"tls": {"enabled": True}})
    good, files = push_step(cfg)
    fewer, _ = push_step({**cfg, "tenants": [tenant("t1", 9100)]})
    broken, _ = push_step(
        {**cfg, "tenants": [tenant("t1", 9100)]},
        edit=lambda p, t: t.replace("</Proxy>", "</Proxv>", 1) if p.endswith("_t1.conf") else t,
    )
    first, second, third = run_in_sandbox(tmp_path, [good, broken, fewer], tls_stdin)

    assert first.returncode == 0, first.output
    assert "Syntax OK" in first.output and "not running" in first.output
    installed = first.files
    for path, text in files.items():
        assert installed[path.removeprefix("/etc/apache2/")] == text
    key = installed["conf-enabled/gir-lb/tls/server.key"]
    assert key.startswith("-----BEGIN PRIVATE KEY-----")

    assert second.returncode == 1 and "previous files restored" in second.output, second.output
    assert second.files == installed  # the broken push left nothing behind

    assert third.returncode == 0, third.output
    after = third.files
    assert "conf-enabled/gir-lb/loadbalancer_t2.conf" not in after  # a removed tenant's file goes
    assert "conf-enabled/gir-lb/loadbalancer_t1.conf" in after
