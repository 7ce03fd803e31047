"""The plan's httpd push step run for real: Debian's apache2 config in a private mount namespace
(a copy of /etc/apache2 bind-mounted over it, a tmpfs /run), so the host is never touched."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
from pathlib import Path

import pytest

import tools
from blueprint.plan import build_plan
from blueprint.render import render_bundle
from blueprint.settings import parse_settings
from conftest import base_config, tenant

pytestmark = pytest.mark.tools
CONF = "/etc/apache2/conf-enabled"


def push_step(cfg: dict, edit=None) -> tuple[str, dict]:
    s = parse_settings(cfg)
    bundle = render_bundle(s)
    if edit:
        bundle = dataclasses.replace(bundle, httpd={p: edit(p, t) for p, t in bundle.httpd.items()})
    step = next(st for st in build_plan(s, bundle) if st.name == "httpd-push-0")
    return step.script, bundle.httpd


def run_in_sandbox(tmp_path: Path, scripts: list[str], stdin: str) -> list[subprocess.CompletedProcess]:
    """Runs each push script in turn inside one private mount namespace; after each, snapshots
    the managed files to tmp_path/after-N (tar) so the test can compare them."""
    etc = tmp_path / "etc-apache2"
    subprocess.run(["cp", "-a", "/etc/apache2", str(etc)], check=True)
    driver = [
        "set -u",
        f"mount --bind {etc} /etc/apache2",
        "mount -t tmpfs none /run",
        "mkdir -p /run/lock",
        "a2enmod -q proxy proxy_http proxy_balancer lbmethod_byrequests slotmem_shm headers status ssl >/dev/null",
    ]
    for i, script in enumerate(scripts):
        (tmp_path / f"push-{i}.sh").write_text(script)
        (tmp_path / f"stdin-{i}").write_text(stdin)
        driver += [
            f"bash {tmp_path}/push-{i}.sh < {tmp_path}/stdin-{i} > {tmp_path}/out-{i} 2>&1; echo $? > {tmp_path}/rc-{i}",
            f"tar -C /etc/apache2 -cf {tmp_path}/after-{i}.tar conf-enabled",
        ]
    (tmp_path / "driver.sh").write_text("\n".join(driver) + "\n")
    done = tools.run(["unshare", "--mount", "--propagation", "private", "bash", str(tmp_path / "driver.sh")])
    assert done.returncode == 0, done.stderr
    return [
        subprocess.CompletedProcess([], int((tmp_path / f"rc-{i}").read_text()), (tmp_path / f"out-{i}").read_text(), "")
        for i in range(len(scripts))
    ]


def files_in(tar: Path) -> dict[str, str]:
    import tarfile

    with tarfile.open(tar) as t:
        return {m.name: t.extractfile(m).read().decode() for m in t.getmembers() if m.isfile()}


@pytest.fixture
def tls_stdin(tmp_path):
    crt, key = tools.test_certificate(str(tmp_path))
    return "".join(base64.b64encode(x.encode()).decode() + "\n" for x in (crt, key))


def test_push_installs_tests_and_refuses_a_broken_config(tmp_path, tls_stdin):
    cfg = base_config("debian12", httpd={"tls": {"enabled": True}})
    good, files = push_step(cfg)
    fewer, _ = push_step({**cfg, "tenants": [tenant("t1", 9100)]})
    broken, _ = push_step(
        {**cfg, "tenants": [tenant("t1", 9100)]},
        edit=lambda p, t: t.replace("</Proxy>", "</Proxv>", 1) if p.endswith("_t1.conf") else t,
    )
    first, second, third = run_in_sandbox(tmp_path, [good, broken, fewer], tls_stdin)

    assert first.returncode == 0, first.stdout
    assert "Syntax OK" in first.stdout and "not running" in first.stdout
    installed = files_in(tmp_path / "after-0.tar")
    for path, text in files.items():
        assert installed[path.removeprefix("/etc/apache2/")] == text
    key = installed["conf-enabled/gir-lb/tls/server.key"]
    assert key.startswith("-----BEGIN PRIVATE KEY-----")

    assert second.returncode == 1 and "previous files restored" in second.stdout, second.stdout
    assert files_in(tmp_path / "after-1.tar") == installed  # the broken push left nothing behind

    assert third.returncode == 0, third.stdout
    after = files_in(tmp_path / "after-2.tar")
    assert "conf-enabled/gir-lb/loadbalancer_t2.conf" not in after  # a removed tenant's file goes
    assert "conf-enabled/gir-lb/loadbalancer_t1.conf" in after
