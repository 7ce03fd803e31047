"""The rhel6 bundle read by RHEL 6's httpd: `httpd -t` of httpd 2.2.34 (scripts/httpd22.sh builds
it) under RHEL 6's stock main config (lab/rhel6/httpd.conf) as the push leaves it.

The build has no mod_ssl: httpd 2.2's configure refuses OpenSSL 3.0. A bundle that loads mod_ssl
(httpd.tls.enabled, or an https member) cannot be read here, so these tests check the bundle with
TLS off and every member on http ("tls-off" in their ids); the TLS bundles are skipped while
modules/mod_ssl.so is missing."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from blueprint.stack_config import parse_settings
from tests import real_programs
from tests.conftest import STACK_NAMES, TENANT_IDS, WEBDAV_EXTRA_PATHS, base_config, stack_config, tenant, write_tree

HAS_MOD_SSL = (real_programs.HTTPD22 / "modules" / "mod_ssl.so").exists()


def rendered(tmp_path: Path, cfg: dict) -> Path:
    """The rendered rhel6 tree with RHEL 6's main config where the node has it."""
    s = parse_settings(cfg)
    tree = write_tree(s, tmp_path / "tree")
    real_programs.install_rhel6_main_config(s, tree)
    return tree


def syntax_ok(done) -> bool:
    return done.returncode == 0 and "Syntax OK" in done.stderr


def as_rhel6(name: str) -> dict:
    """A stack's settings under rhel6: a rhel6 stack as it is; another stack's httpd settings and
    tenants in the rhel6 test stack (lan, l2 VIP, no fencing: where rhel6 validates)."""
    stack = stack_config(name)
    if stack.get("os_profile") == "rhel6":
        return copy.deepcopy(stack)
    return base_config("rhel6", httpd=stack.get("httpd", {}), tenants=stack["tenants"])


def members(cfg: dict) -> list[dict]:
    return [m for t in cfg["tenants"] for svc in t.values() if isinstance(svc, dict) for m in svc["members"]]


def without_tls(cfg: dict) -> dict:
    """cfg with the TLS front off and https members on http: what httpd 2.2 can read without mod_ssl."""
    cfg = copy.deepcopy(cfg)
    cfg.setdefault("httpd", {}).setdefault("tls", {})["enabled"] = False
    for m in members(cfg):
        m["url"] = m["url"].replace("https://", "http://", 1)
    return cfg


def needs_mod_ssl(cfg: dict) -> bool:
    tls = cfg.get("httpd", {}).get("tls", {}).get("enabled", False)
    return tls or any(m["url"].startswith("https://") for m in members(cfg))


# ---- every stack --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STACK_NAMES, ids=[f"{n}-tls-off" for n in STACK_NAMES])
def test_httpd22_accepts_every_stack_without_tls(tmp_path, name):
    done = real_programs.httpd22_configtest(rendered(tmp_path, without_tls(as_rhel6(name))), tmp_path)
    assert syntax_ok(done), done.stderr


def test_the_tls_bundles_are_what_this_build_cannot_read(tmp_path):
    """What the tests above leave out, and why: a stack with TLS loads mod_ssl, which this build
    does not have (its configure refuses OpenSSL 3.0)."""
    assert not HAS_MOD_SSL, "mod_ssl built: check the TLS bundles with 2.2 too"
    tls_stacks = [n for n in STACK_NAMES if needs_mod_ssl(as_rhel6(n))]
    assert tls_stacks
    done = real_programs.httpd22_configtest(rendered(tmp_path, as_rhel6(tls_stacks[0])), tmp_path)
    assert done.returncode != 0 and "mod_ssl.so" in done.stderr, done.stderr


# ---- generated settings --------------------------------------------------------------------------


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=TENANT_IDS, extra=WEBDAV_EXTRA_PATHS, agents=st.integers(1, 20000))
def test_httpd22_accepts_generated_settings_without_tls(tmp_path_factory, ids, extra, agents):
    """tests/tools/test_real_tools.py's generated settings for 2.4, without TLS or https members."""
    tmp = tmp_path_factory.mktemp("gen")
    tenants = [tenant(t, 9000 + 100 * i) for i, t in enumerate(ids)]
    for t in tenants:
        t["webdav"]["extra_paths"] = extra
    cfg = base_config("rhel6", httpd={"tls": {"enabled": False}, "max_agents": agents}, tenants=tenants)
    done = real_programs.httpd22_configtest(rendered(tmp, cfg), tmp)
    assert syntax_ok(done), done.stderr


# ---- the check can fail ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "breakage",
    [
        ("</Proxy>", "</Proxv>"),  # the guide's typo
        ("stickysession=ROUTEID", "stickysession=ROUTEID bogus=1"),
        ("Allow from 127.0.0.1", "Allow fromm 127.0.0.1"),
        ("Order deny,allow", "Order deny,alow"),
    ],
    ids=["proxy-typo", "unknown-balancer-parameter", "allow-typo", "order-typo"],
)
def test_httpd22_check_fails_on_a_broken_file(tmp_path, breakage):
    tree = rendered(tmp_path, base_config("rhel6"))
    broken = 0
    for f in (tree / "etc/httpd/conf.d").rglob("*.conf"):
        text = f.read_text()
        if breakage[0] in text:
            f.write_text(text.replace(*breakage, 1))
            broken += 1
    assert broken, breakage
    done = real_programs.httpd22_configtest(tree, tmp_path)
    assert done.returncode != 0 and "Syntax error" in done.stderr, done.stderr


# ---- the MPM sizing stands ---------------------------------------------------------------------------


@pytest.mark.parametrize("agents", [1, 100, 500, 2000, 20000])
def test_httpd22_keeps_the_rendered_max_clients(tmp_path, agents):
    """httpd 2.2 checks MaxClients against ServerLimit times the ThreadsPerChild known at that line
    (RHEL 6's stock 25 unless the rendered one comes first) and lowers it, with a WARNING."""
    done = real_programs.httpd22_configtest(rendered(tmp_path, base_config("rhel6", httpd={"max_agents": agents})), tmp_path)
    assert syntax_ok(done), done.stderr
    assert "WARNING" not in done.stderr and "lowering" not in done.stderr, done.stderr
