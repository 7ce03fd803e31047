"""The Prometheus files of the bundle (monitoring/): there only for profiles whose nodes run
exporters, thresholds from the settings, every rule scoped to the stack's environment, and a
scrape fragment that names both nodes. promtool reads them in tests/tools/test_alert_rules.py."""

from __future__ import annotations

import re

import pytest
import yaml

from blueprint.profiles import EXPORTER_PORT, PROFILES
from blueprint.render import render_bundle, render_monitoring
from blueprint.stack_config import parse_settings
from tests.conftest import STACK_NAMES, base_config, stack_config

FILES = {"gir-lb-alerts.yml", "prometheus-scrape.yml"}


def rules_of(cfg: dict) -> dict[str, dict]:
    (group,) = yaml.safe_load(render_monitoring(parse_settings(cfg))["gir-lb-alerts.yml"])["groups"]
    assert group["name"] == f"gir-lb-{cfg['environment']}"
    return {r["alert"]: r for r in group["rules"]}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_the_prometheus_files_are_in_the_bundle_only_for_profiles_with_metrics(profile):
    bundle = render_bundle(parse_settings(base_config(profile)))
    expected = FILES if PROFILES[profile].metrics else set()
    assert set(bundle.monitoring) == expected
    assert {p for p in bundle.tree() if p.startswith("monitoring/")} == {f"monitoring/{f}" for f in expected}


def test_rhel6_has_no_prometheus_files():
    """Its nodes run no exporter: the check above must not pass by every profile having metrics."""
    assert PROFILES["rhel6"].metrics is None
    assert render_monitoring(parse_settings(base_config("rhel6"))) == {}


def test_thresholds_come_from_the_settings():
    cfg = base_config(
        httpd={"tls": {"enabled": True}},
        monitoring={"no_member_for_s": 45, "member_down_minutes": 7, "cert_expiry_days": 40},
    )
    rules = rules_of(cfg)
    assert rules["GirLbServiceWithoutMember"]["for"] == "45s"
    assert rules["GirLbMemberDown"]["for"] == "7m"
    assert rules["GirLbTlsCertificateExpiring"]["expr"].endswith("- time() < 40 * 86400")
    assert "40 days" in rules["GirLbTlsCertificateExpiring"]["annotations"]["summary"]
    default = rules_of(base_config(httpd={"tls": {"enabled": True}}))
    assert (default["GirLbServiceWithoutMember"]["for"], default["GirLbMemberDown"]["for"]) == ("60s", "5m")
    assert default["GirLbTlsCertificateExpiring"]["expr"].endswith("< 21 * 86400")


def test_the_certificate_rule_only_with_tls():
    assert "GirLbTlsCertificateExpiring" not in rules_of(base_config())
    assert "GirLbTlsCertificateExpiring" in rules_of(base_config(httpd={"tls": {"enabled": True}}))


def test_the_arbiter_rule_only_with_a_quorum_device():
    """Per node (no aggregation: each node's qdevice has its own link), critical after 30 s."""
    cfg = base_config()
    assert "GirLbArbiterUnreachable" not in rules_of(cfg)
    cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", "create": True}
    rule = rules_of(cfg)["GirLbArbiterUnreachable"]
    assert rule["expr"] == 'gir_lb_quorum_device_voting{environment="test"} == 0'
    assert (rule["for"], rule["labels"]["severity"]) == ("30s", "critical")
    assert "10.0.1.20" in rule["annotations"]["summary"] and "TCP 5403" in rule["annotations"]["description"]
    assert "qdevice:" in rules_of(cfg)["GirLbCollectError"]["annotations"]["description"]
    assert "qdevice" not in rules_of(base_config())["GirLbCollectError"]["annotations"]["description"]


@pytest.mark.parametrize("name", STACK_NAMES)
def test_every_rule_selects_the_stack_environment_and_has_severity_and_annotations(name):
    """Several stacks' series can share one Prometheus: each selector names this stack's environment."""
    cfg = stack_config(name)
    env = cfg["environment"]
    for alert, rule in rules_of(cfg).items():
        selectors = re.findall(r"\b(up|gir_lb_\w+)(\{[^}]*\})?", rule["expr"])
        assert selectors, alert
        for metric, labels in selectors:
            assert f'environment="{env}"' in labels, (alert, metric, labels)
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), alert
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], alert
        assert f"gir-lb {env}:" in rule["annotations"]["summary"], alert


def test_service_without_member_names_every_service_of_the_stack_absent():
    """prod has three tenants: absent() covers each of their five services."""
    cfg = stack_config("prod")
    s = parse_settings(cfg)
    expr = rules_of(cfg)["GirLbServiceWithoutMember"]["expr"]
    named = re.findall(r'absent\(gir_lb_service_usable_members\{environment="prod", tenant="(\w+)", service="(\w+)"\}\)', expr)
    assert named == [(t.id, key) for t in s.tenants for key in t.services()]
    assert len(named) == 15


@pytest.mark.parametrize("name", STACK_NAMES)
def test_rendering_is_deterministic(name):
    s = parse_settings(stack_config(name))
    assert render_monitoring(s) == render_monitoring(parse_settings(stack_config(name)))
    assert set(render_monitoring(s)) == FILES  # every stack's profile has metrics


@pytest.mark.parametrize("name", STACK_NAMES)
def test_the_scrape_jobs_name_both_nodes_with_their_node_label(name):
    s = parse_settings(stack_config(name))
    doc = yaml.safe_load(render_monitoring(s)["prometheus-scrape.yml"])
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert set(jobs) == {"gir-lb", "gir-lb-node"}
    for job, port in (("gir-lb", EXPORTER_PORT), ("gir-lb-node", s.profile.metrics.port)):
        targets = [(c["targets"], c["labels"]) for c in jobs[job]["static_configs"]]
        assert targets == [([f"{n.ip}:{port}"], {"node": n.name, "environment": s.environment}) for n in s.cluster.nodes]
    # The exporter's own `node` label (the node a fact is about) must survive the target's: the
    # rules group node_online, fail counts and bans by it.
    assert jobs["gir-lb"]["honor_labels"] is True
    assert "honor_labels" not in jobs["gir-lb-node"]


def test_the_node_basics_port_follows_the_profile():
    ports = {}
    for profile in ("debian12", "rhel9"):
        doc = yaml.safe_load(render_monitoring(parse_settings(base_config(profile)))["prometheus-scrape.yml"])
        (node_job,) = [j for j in doc["scrape_configs"] if j["job_name"] == "gir-lb-node"]
        ports[profile] = {t.rsplit(":", 1)[1] for c in node_job["static_configs"] for t in c["targets"]}
    assert ports == {"debian12": {"9100"}, "rhel9": {"44322"}}
