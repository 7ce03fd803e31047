"""Each test's tier from its folder (tests/<tier>/), and shared helpers: stack files, a valid base
config to mutate, the plan's push step, and the rendered tree on disk."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
from hypothesis import strategies as st

from blueprint.plan import Step, build_plan
from blueprint.profiles import PROFILES
from blueprint.render import render_bundle
from blueprint.stack_config import parse_settings, read_stack_file

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TIERS = ("unit", "tools", "live", "lab", "engine")  # registered as markers in pyproject.toml
STACK_FILES = sorted((REPO / "stacks").glob("Pulumi.*.yaml"))
STACK_NAMES = [p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACK_FILES]


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test with its tier, the folder under tests/ it lives in."""
    for item in items:
        path = item.path.resolve()
        tier = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: a test lives in the folder of its tier: tests/{{{','.join(TIERS)}}}/")
        item.add_marker(tier)


def stack_config(name: str) -> dict:
    """A stack file's gir-lb keys (without the namespace), for parse_settings."""
    entries = read_stack_file(str(REPO / "stacks" / f"Pulumi.{name}.yaml"))
    return {k.removeprefix("gir-lb:"): v for k, (v, _) in entries.items() if k.startswith("gir-lb:")}


def member(url: str, **extra) -> dict:
    return {"url": url, **extra}


def tenant(tid: str, base_port: int = 9000, scheme: str = "http") -> dict:
    """A complete tenant whose members live on loopback ports base_port.."""
    u = lambda n: f"{scheme}://127.0.0.1:{base_port + n}"  # noqa: E731
    return {
        "id": tid,
        "rws": {"members": [member(u(1), route=f"{tid.upper()}RWS1"), member(u(2), route=f"{tid.upper()}RWS2")]},
        "rp": {"members": [member(u(11)), member(u(12))]},
        "rcs": {"members": [member(u(21), app_name=f"{tid.upper()} RCS 1"), member(u(22), app_name=f"{tid.upper()} RCS 2")]},
        "interaction_receiver": {"members": [member(u(31)), member(u(32))]},
        "webdav": {"members": [member(u(41)), member(u(42), hot_standby=True)], "extra_paths": ["dest2"]},
    }


# Where each OS profile's test stack runs: AWS where it may, else its first platform.
PLATFORM = {name: "aws" if "aws" in p.platforms else p.platforms[0] for name, p in PROFILES.items()}


def base_config(os_profile: str = "rhel9", **overrides) -> dict:
    platform = PLATFORM.get(os_profile, "aws")  # an unknown profile: for the test of its refusal
    cfg = {
        "platform": platform,
        "environment": "test",
        "os_profile": os_profile,
        "network": {
            "region": "eu-west-1",
            "subnet_id": "subnet-0123456789abcdef0",
            "subnet_cidr": "10.0.1.0/24",
            "vip": "10.0.1.50",
            "vip_mode": "aws" if platform == "aws" else "l2",
            "client_cidrs": ["10.0.0.0/16"],
            "admin_cidrs": ["10.0.250.0/24"],
        },
        "cluster": {
            "name": "gir-lb-test",
            "nodes": [{"name": "lb-a", "ip": "10.0.1.11"}, {"name": "lb-b", "ip": "10.0.1.12"}],
        },
        "tenants": [tenant("t1", 9100), tenant("t2", 9200)],
    }
    if platform != "aws":
        cfg["cluster"]["fencing"] = {"mode": "disabled"}
    cfg.update(copy.deepcopy(overrides))
    return cfg


def push_step(cfg: dict, edit=None) -> tuple[Step, dict]:
    """The plan's httpd-push-0 step for cfg, and the httpd files it installs; `edit(path, text)` may
    alter a rendered file first (to break it)."""
    s = parse_settings(cfg)
    bundle = render_bundle(s)
    if edit:
        bundle = dataclasses.replace(bundle, httpd={p: edit(p, t) for p, t in bundle.httpd.items()})
    step = next(st for st in build_plan(s, bundle) if st.name == "httpd-push-0")
    return step, bundle.httpd


def write_tree(settings, dest: Path) -> Path:
    for rel, text in render_bundle(settings).tree().items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return dest


@pytest.fixture
def settings_of():
    return lambda cfg: parse_settings(cfg, source="test")


# Hypothesis strategies shared by the generated-settings tests (apache2 -t, and httpd serving live).
TENANT_IDS = st.lists(st.from_regex(r"[a-z][a-z0-9]{0,15}", fullmatch=True), min_size=1, max_size=5, unique=True)
WEBDAV_EXTRA_PATHS = st.lists(st.from_regex(r"dest[0-9]{1,3}", fullmatch=True), max_size=3, unique=True)


def metric_values(exposition: str) -> dict[str, float]:
    """The samples of a Prometheus text exposition: series (name and labels as written) -> value."""
    found = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            found[series] = float(value)
    return found
