"""The Prometheus files of the bundle (templates/monitoring/) read by the real promtool (Debian's
prometheus package): every stack's rules pass `promtool check rules`, the scrape fragment passes
`promtool check config`, and `promtool test rules` plays each alert against series shaped as the
rendered scrape jobs deliver them: it fires with its labels after its `for`, and not in the
neighbouring case."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from blueprint.profiles import EXPORTER_PORT
from blueprint.render import render_monitoring
from blueprint.settings import Settings
from blueprint.stack_config import parse_settings
from tests import real_programs
from tests.conftest import STACK_NAMES, base_config, stack_config

STEP = 15  # seconds: the scrape interval of the input series and the rules' evaluation interval
SPAN = 25 * 60  # how long the healthy pair's series run
ENV = "test"  # base_config's environment
NODES = {"a": ("lb-a", "10.0.1.11"), "b": ("lb-b", "10.0.1.12")}  # base_config's nodes
SEVERITY = {
    "GirLbServiceWithoutMember": "critical",
    "GirLbMemberDown": "warning",
    "GirLbHotStandbyInUse": "warning",
    "GirLbVipMoved": "warning",
    "GirLbClusterNodeOffline": "critical",
    "GirLbExporterDown": "critical",
    "GirLbFencingFailed": "critical",
    "GirLbFencingPending": "critical",
    "GirLbClusterWithoutQuorum": "critical",
    "GirLbArbiterUnreachable": "critical",
    "GirLbHttpdRestartedByCluster": "warning",
    "GirLbResourceBanned": "critical",
    "GirLbTlsCertificateExpiring": "warning",
    "GirLbCollectError": "warning",
}
SUBJECTS = ("tenant", "service", "member", "node", "resource", "source")  # what a summary must name
DAY = 86400
ARBITER = "10.0.1.20"  # the quorum device's address in with_device


def tls_config(**overrides) -> dict:
    return base_config("rhel9", httpd={"tls": {"enabled": True}}, **overrides)


def with_device(cfg: dict) -> dict:
    """cfg with an arbiter (cluster.quorum_device), which adds GirLbArbiterUnreachable."""
    cfg["cluster"]["quorum_device"] = {"address": ARBITER, "create": True}
    return cfg


def promtool(cwd: Path, *args: str):
    return real_programs.run(["promtool", *args], cwd=cwd)


# ---- series as the rendered scrape jobs deliver them ---------------------------------------------


def values(*segments: tuple[object, int]) -> str:
    """promtool's sample notation, one sample every STEP: (value, seconds) in order, e.g. (1, 60), (0, 600)
    is 1 for four samples then 0. "stale" ends the series (a staleness marker), "_" skips samples
    (`_xN` is N missing samples, where `1xN` is N + 1 samples)."""
    out = []
    for value, seconds in segments:
        n = seconds // STEP
        out.append("stale" if value == "stale" else f"_x{n}" if value == "_" else f"{value}x{n - 1}")
    return " ".join(out)


def series(metric: str, on: str = "a", job: str = "gir-lb", **labels: str) -> str:
    """One series of node `on`'s exporter with the target labels of the rendered job. The job has
    honor_labels: a metric's own `node` label (the node a fact is about) wins over the target's."""
    name, ip = NODES[on]
    port = EXPORTER_PORT if job == "gir-lb" else 44322
    full = {"environment": ENV, "job": job, "instance": f"{ip}:{port}", "node": name, **labels}
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in full.items()) + "}"


def healthy_pair(s: Settings, seconds: int = SPAN) -> dict[str, str]:
    """Series -> values of a healthy pair: lb-a runs the VIP and httpd (so it alone reports the
    members), lb-b stands by; both see both nodes online, quorum, no failure; TLS good for 90 days;
    with a quorum device both are connected to the arbiter."""
    up = values((1, seconds))
    down = values((0, seconds))
    pair = {}
    for on in NODES:
        here = up if on == "a" else down
        pair |= {
            series("up", on): up,
            series("up", on, job="gir-lb-node"): up,
            series("gir_lb_httpd_up", on): here,
            series("gir_lb_cluster_up", on): up,
            series("gir_lb_cluster_quorate", on): up,
            series("gir_lb_cluster_fencing_failed", on): down,
            series("gir_lb_cluster_fencing_pending", on): down,
            series("gir_lb_tls_cert_expiry_timestamp_seconds", on): values((90 * DAY, seconds)),
        }
        for source in ("crm_mon", "tls", *(("qdevice",) if s.cluster.quorum_device else ())):
            pair[series("gir_lb_collect_error", on, source=source)] = down
        if s.cluster.quorum_device:
            pair[series("gir_lb_quorum_device_voting", on)] = up
        for node, _ in NODES.values():
            pair[series("gir_lb_cluster_node_online", on, node=node)] = up
            pair[series("gir_lb_cluster_vip_on", on, node=node)] = up if node == "lb-a" else down
            for resource in ("webserver", "virtual_ip"):
                pair[series("gir_lb_cluster_fail_count", on, resource=resource, node=node)] = down
                pair[series("gir_lb_cluster_resource_banned", on, resource=resource, node=node)] = down
    for t in s.tenants:
        for key, svc in t.services().items():
            pair[series("gir_lb_service_usable_members", tenant=t.id, service=key)] = values((len(svc.members), seconds))
            for m in svc.members:
                labels = dict(tenant=t.id, service=key, member=str(m.url))
                pair[series("gir_lb_member_usable", **labels)] = up
                if getattr(m, "hot_standby", False):
                    pair[series("gir_lb_standby_in_use", **labels)] = down
    return pair


# ---- expected alerts, and promtool test rules ----------------------------------------------------


class Rules:
    """A rendered rule file, and the alerts promtool should report from it."""

    def __init__(self, s: Settings):
        self.settings = s
        self.text = render_monitoring(s)["gir-lb-alerts.yml"]
        (group,) = yaml.safe_load(self.text)["groups"]
        self.rules = {r["alert"]: r for r in group["rules"]}

    def alert(self, name: str, vip_on: str | None = None, **labels: str) -> dict:
        """One expected firing alert: its labels (environment and severity added) and its
        annotations as Prometheus expands them. The expansion here knows `{{ $labels.x }}` and the
        VIP's `range query` (vip_on: what it prints); anything else in a template fails the test."""
        labels = {"environment": ENV, **labels, "severity": SEVERITY[name]}
        annotations = {}
        for key, template in self.rules[name]["annotations"].items():
            text = re.sub(r"\{\{ range \$i, \$s := query .*\{\{ end \}\}", lambda _: str(vip_on), template)
            text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m[1]], text)
            assert "{{" not in text, f"{name} {key}: a template this test cannot expand: {template}"
            annotations[key] = text
        named = [v for k, v in labels.items() if k in SUBJECTS]
        assert all(v in annotations["summary"] for v in named), (name, named, annotations["summary"])
        return {"exp_labels": labels, "exp_annotations": annotations}

    def check(self, tmp_path: Path, pair: dict[str, str], expected: list[tuple[str, str, list[dict]]]) -> None:
        """`promtool test rules`: at each (eval time, alert name) exactly the expected alerts fire."""
        done = self.promtool_test(tmp_path, pair, expected)
        assert done.returncode == 0, f"promtool test rules:\n{done.stdout}{done.stderr}"

    def promtool_test(self, tmp_path: Path, pair: dict[str, str], expected: list[tuple[str, str, list[dict]]]):
        (tmp_path / "gir-lb-alerts.yml").write_text(self.text)
        test = {
            "rule_files": ["gir-lb-alerts.yml"],
            "evaluation_interval": f"{STEP}s",
            "tests": [
                {
                    "interval": f"{STEP}s",
                    "input_series": [{"series": k, "values": v} for k, v in pair.items()],
                    "alert_rule_test": [{"eval_time": t, "alertname": n, "exp_alerts": a} for t, n, a in expected],
                }
            ],
        }
        (tmp_path / "test.yml").write_text(yaml.safe_dump(test, sort_keys=False, width=1000))
        return promtool(tmp_path, "test", "rules", "test.yml")


@pytest.fixture(scope="module")
def rules() -> Rules:
    """A stack with every rule: TLS on, a quorum device."""
    return Rules(parse_settings(with_device(tls_config())))


def rules_with(**monitoring) -> Rules:
    return Rules(parse_settings(tls_config(monitoring=monitoring)))


def t(seconds: int) -> str:
    return f"{seconds}s"


# ---- promtool check ------------------------------------------------------------------------------


def check_rules(tmp_path: Path, text: str):
    (tmp_path / "gir-lb-alerts.yml").write_text(text)
    return promtool(tmp_path, "check", "rules", "gir-lb-alerts.yml")


@pytest.mark.parametrize("name", STACK_NAMES)
def test_promtool_accepts_the_rules_of_every_stack(tmp_path, name):
    s = parse_settings(stack_config(name))
    done = check_rules(tmp_path, render_monitoring(s)["gir-lb-alerts.yml"])
    n = len(SEVERITY) - (0 if s.httpd.tls.enabled else 1) - (0 if s.cluster.quorum_device else 1)
    assert done.returncode == 0 and f"SUCCESS: {n} rules found" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize(
    "cfg",
    [
        base_config("rhel9"),  # TLS off: no certificate rule
        base_config("debian12"),
        tls_config(monitoring={"no_member_for_s": 0, "member_down_minutes": 1440, "cert_expiry_days": 365}),
        tls_config(monitoring={"no_member_for_s": 3600, "member_down_minutes": 1, "cert_expiry_days": 1}),
        base_config("rhel8", tenants=base_config()["tenants"][:1]),
        with_device(base_config("debian12")),  # TLS off, a quorum device
        with_device(tls_config(monitoring={"no_member_for_s": 0})),
    ],
    ids=["tls-off", "debian12", "high-thresholds", "low-thresholds", "one-tenant", "device", "device-tls"],
)
def test_promtool_accepts_the_rules_of_setting_variants(tmp_path, cfg):
    s = parse_settings(cfg)
    done = check_rules(tmp_path, render_monitoring(s)["gir-lb-alerts.yml"])
    n = len(SEVERITY) - (0 if s.httpd.tls.enabled else 1) - (0 if s.cluster.quorum_device else 1)
    assert done.returncode == 0 and f"SUCCESS: {n} rules found" in done.stdout, done.stdout + done.stderr


def test_promtool_check_rules_can_fail(tmp_path, rules):
    """The check above reads the expressions: a broken one is refused."""
    done = check_rules(tmp_path, rules.text.replace("(gir_lb_member_usable{", "(gir_lb_member_usable{{", 1))
    assert done.returncode != 0 and "GirLbMemberDown" in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize("name", STACK_NAMES)
def test_promtool_accepts_a_prometheus_config_with_the_scrape_jobs_and_the_rules(tmp_path, name):
    """The fragment as an operator pastes it: its `scrape_configs:` next to their `rule_files:`."""
    files = render_monitoring(parse_settings(stack_config(name)))
    (tmp_path / "gir-lb-alerts.yml").write_text(files["gir-lb-alerts.yml"])
    config = "global:\n  scrape_interval: 15s\nrule_files:\n  - gir-lb-alerts.yml\n" + files["prometheus-scrape.yml"]
    (tmp_path / "prometheus.yml").write_text(config)
    done = promtool(tmp_path, "check", "config", "prometheus.yml")
    assert done.returncode == 0 and "SUCCESS: 1 rule files found" in done.stdout, done.stdout + done.stderr


def test_promtool_accepts_two_stacks_in_one_prometheus(tmp_path):
    """Two stacks' static_configs under the same two jobs, and both rule files (groups per environment)."""
    docs = [render_monitoring(parse_settings(stack_config(n))) for n in ("dev", "prod")]
    scrape = [yaml.safe_load(d["prometheus-scrape.yml"])["scrape_configs"] for d in docs]
    for job, other in zip(scrape[0], scrape[1], strict=True):
        assert job["job_name"] == other["job_name"]
        job["static_configs"] += other["static_configs"]
    for i, d in enumerate(docs):
        (tmp_path / f"rules-{i}.yml").write_text(d["gir-lb-alerts.yml"])
    config = {"rule_files": ["rules-0.yml", "rules-1.yml"], "scrape_configs": scrape[0]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = promtool(tmp_path, "check", "config", "prometheus.yml")
    assert done.returncode == 0 and "SUCCESS: 2 rule files found" in done.stdout, done.stdout + done.stderr


# ---- promtool test rules: each alert --------------------------------------------------------------


def test_a_healthy_pair_raises_no_alert(tmp_path, rules):
    """The baseline every case below changes: nothing fires, in the first minutes or later."""
    pair = healthy_pair(rules.settings)
    rules.check(tmp_path, pair, [(at, name, []) for name in SEVERITY for at in ("1m", "20m")])


def failing_pair(s: Settings, env: str) -> dict[str, str]:
    """A pair in environment `env` failing in every way the rules watch, for all of SPAN."""
    pair = {k.replace(f'environment="{ENV}"', f'environment="{env}"'): v for k, v in healthy_pair(s).items()}
    zero = (
        "up",
        "gir_lb_cluster_quorate",
        "gir_lb_cluster_node_online",
        "gir_lb_service_usable_members",
        "gir_lb_member_usable",
        "gir_lb_quorum_device_voting",
    )
    one = ("gir_lb_cluster_fencing_failed", "gir_lb_cluster_fencing_pending", "gir_lb_cluster_resource_banned")
    for key in pair:
        metric = key.split("{")[0]
        if metric in zero:
            pair[key] = values((0, SPAN))
        elif metric in (*one, "gir_lb_collect_error", "gir_lb_standby_in_use"):
            pair[key] = values((1, SPAN))
        elif metric == "gir_lb_cluster_fail_count":
            pair[key] = values((3, SPAN))
        elif metric == "gir_lb_tls_cert_expiry_timestamp_seconds":
            pair[key] = values((DAY, SPAN))
        elif metric == "gir_lb_cluster_vip_on":
            pair[key] = values((1, 60), (0, SPAN)) if 'node="lb-a"' in key else values((0, 60), (1, SPAN))
    return pair


def test_another_environments_series_never_alert(tmp_path, rules):
    """The rules select their environment: another stack's pair, failing in every way, stays silent."""
    rules.check(tmp_path, failing_pair(rules.settings, "other"), [("10m", name, []) for name in SEVERITY])


def test_the_failing_pair_fires_every_alert_in_its_own_environment(tmp_path, rules):
    """So the silence above is the environment's doing: the same pair in this stack's environment
    fires all 14 alerts (promtool reports each where none was expected)."""
    done = rules.promtool_test(tmp_path, failing_pair(rules.settings, ENV), [("10m", name, []) for name in SEVERITY])
    report = done.stdout + done.stderr
    assert done.returncode != 0 and set(re.findall(r"alertname: (\w+), time: 10m", report)) == set(SEVERITY), report


@pytest.mark.parametrize("for_s", [60, 0, 150])
def test_service_without_member_fires_after_no_member_for_s_for_that_service_only(tmp_path, for_s):
    """t1 rcs loses its last member at 1 min; t2 rcs and t1 rp keep theirs."""
    rules = rules_with(no_member_for_s=for_s)
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_service_usable_members", tenant="t1", service="rcs")] = values((2, 60), (0, SPAN))
    alert = rules.alert("GirLbServiceWithoutMember", tenant="t1", service="rcs")
    fired = 60 + for_s
    rules.check(
        tmp_path,
        pair,
        [(t(fired - STEP), "GirLbServiceWithoutMember", []), (t(fired), "GirLbServiceWithoutMember", [alert])],
    )


def test_service_without_member_fires_for_every_service_when_no_node_serves_httpd(tmp_path, rules):
    """httpd stops at 1 min and starts nowhere: no node reports members any more (the series end)."""
    pair = healthy_pair(rules.settings)
    for key in pair:
        if key.startswith(("gir_lb_service_usable_members{", "gir_lb_member_usable{", "gir_lb_standby_in_use{")):
            pair[key] = values((1, 60), ("stale", 0))
    every = [
        rules.alert("GirLbServiceWithoutMember", tenant=x.id, service=k) for x in rules.settings.tenants for k in x.services()
    ]
    assert len(every) == 10
    rules.check(
        tmp_path,
        pair,
        [("1m45s", "GirLbServiceWithoutMember", []), ("2m15s", "GirLbServiceWithoutMember", every)],
    )


def test_service_without_member_waits_for_exporters_and_rides_out_a_failover(tmp_path, rules):
    """No series because no exporter answers is GirLbExporterDown's; and members that move from
    lb-a to lb-b with a 30 s gap (httpd starting there) are no service without member."""
    down = healthy_pair(rules.settings)
    for key in down:  # from 1 min neither exporter answers: every gir-lb series ends, `up` is 0
        down[key] = (
            values((1, 60), (0, SPAN)) if key.startswith("up{") and "gir-lb-node" not in key else values((1, 60), ("stale", 0))
        )
    gone = [rules.alert("GirLbExporterDown", job="gir-lb", instance=f"{ip}:{EXPORTER_PORT}", node=n) for n, ip in NODES.values()]
    rules.check(tmp_path, down, [("5m", "GirLbServiceWithoutMember", []), ("5m", "GirLbExporterDown", gone)])
    moved = healthy_pair(rules.settings)
    for key in [k for k in moved if k.startswith("gir_lb_service_usable_members{")]:
        moved[key.replace(NODES["a"][1], NODES["b"][1]).replace('node="lb-a"', 'node="lb-b"')] = values(("_", 90), (2, SPAN))
        moved[key] = values((2, 60), ("stale", 0))
    rules.check(tmp_path, moved, [(at, "GirLbServiceWithoutMember", []) for at in ("1m15s", "1m45s", "2m30s", "5m")])


@pytest.mark.parametrize("minutes", [5, 2])
def test_member_down_fires_after_member_down_minutes_for_that_member_only(tmp_path, minutes):
    rules = rules_with(member_down_minutes=minutes)
    pair = healthy_pair(rules.settings)
    down = dict(tenant="t1", service="rcs", member="http://127.0.0.1:9121")
    pair[series("gir_lb_member_usable", **down)] = values((1, 60), (0, SPAN))
    fired = 60 + minutes * 60
    rules.check(
        tmp_path,
        pair,
        [(t(fired - STEP), "GirLbMemberDown", []), (t(fired), "GirLbMemberDown", [rules.alert("GirLbMemberDown", **down)])],
    )


def test_hot_standby_in_use(tmp_path, rules):
    """t1's webdav standby takes the traffic at 1 min; t2's stays idle."""
    pair = healthy_pair(rules.settings)
    standby = dict(tenant="t1", service="webdav", member="http://127.0.0.1:9142")
    assert series("gir_lb_standby_in_use", **standby) in pair
    pair[series("gir_lb_standby_in_use", **standby)] = values((0, 60), (1, SPAN))
    alert = rules.alert("GirLbHotStandbyInUse", **standby)
    rules.check(tmp_path, pair, [("45s", "GirLbHotStandbyInUse", []), ("1m", "GirLbHotStandbyInUse", [alert])])


def test_vip_moved_fires_after_a_move_and_resolves_15_minutes_later(tmp_path, rules):
    """The VIP goes from lb-a to lb-b at 5 min."""
    pair = healthy_pair(rules.settings)
    for on in NODES:
        pair[series("gir_lb_cluster_vip_on", on, node="lb-a")] = values((1, 300), (0, SPAN))
        pair[series("gir_lb_cluster_vip_on", on, node="lb-b")] = values((0, 300), (1, SPAN))
    alert = rules.alert("GirLbVipMoved", vip_on="lb-b")
    expected = [("4m45s", []), ("5m", [alert]), ("19m30s", [alert]), ("20m30s", [])]
    rules.check(tmp_path, pair, [(at, "GirLbVipMoved", a) for at, a in expected])


def test_the_vips_first_start_is_no_move(tmp_path, rules):
    """The cluster starts: for 2 min the VIP runs nowhere, then on lb-a."""
    pair = healthy_pair(rules.settings)
    for on in NODES:
        pair[series("gir_lb_cluster_vip_on", on, node="lb-a")] = values((0, 120), (1, SPAN))
    rules.check(tmp_path, pair, [(at, "GirLbVipMoved", []) for at in ("1m", "2m30s", "10m")])


def test_vip_moved_counts_the_survivor_alone_and_ignores_a_scrape_gap(tmp_path, rules):
    """lb-a vanishes at 5 min (its series end) and lb-b takes the VIP; before, lb-b's exporter
    missed two minutes of scrapes without any change: no alert for that."""
    pair = healthy_pair(rules.settings)
    for node, (a, b) in {"lb-a": ((1, 300), (0, SPAN)), "lb-b": ((0, 300), (1, SPAN))}.items():
        pair[series("gir_lb_cluster_vip_on", "a", node=node)] = values(a if node == "lb-a" else (0, 300), ("stale", 0))
        pair[series("gir_lb_cluster_vip_on", "b", node=node)] = values(
            (int(node == "lb-a"), 60), ("_", 120), (int(node == "lb-a"), 120), b
        )
    alert = rules.alert("GirLbVipMoved", vip_on="lb-b")
    rules.check(tmp_path, pair, [("4m45s", "GirLbVipMoved", []), ("5m", "GirLbVipMoved", [alert])])


def test_cluster_node_offline_in_either_nodes_view(tmp_path, rules):
    """From 1 min lb-a sees lb-b offline while lb-b still counts itself online; lb-a stays online."""
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_cluster_node_online", "a", node="lb-b")] = values((1, 60), (0, SPAN))
    alert = rules.alert("GirLbClusterNodeOffline", node="lb-b")
    rules.check(tmp_path, pair, [("45s", "GirLbClusterNodeOffline", []), ("1m", "GirLbClusterNodeOffline", [alert])])


def test_exporter_down_after_a_minute_for_its_node_only(tmp_path, rules):
    """lb-b's gir-lb-exporter stops answering at 1 min; its node-basics job (another job) too."""
    pair = healthy_pair(rules.settings)
    pair[series("up", "b")] = values((1, 60), (0, SPAN))
    pair[series("up", "b", job="gir-lb-node")] = values((1, 60), (0, SPAN))
    name, ip = NODES["b"]
    alert = rules.alert("GirLbExporterDown", job="gir-lb", instance=f"{ip}:{EXPORTER_PORT}", node=name)
    rules.check(tmp_path, pair, [("1m45s", "GirLbExporterDown", []), ("2m", "GirLbExporterDown", [alert])])


def test_fencing_failed_at_once_and_fencing_pending_after_a_minute(tmp_path, rules):
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_cluster_fencing_failed", "b")] = values((0, 60), (1, SPAN))
    pair[series("gir_lb_cluster_fencing_pending", "a")] = values((0, 60), (1, SPAN))
    failed, pending = rules.alert("GirLbFencingFailed"), rules.alert("GirLbFencingPending")
    expected = [
        ("45s", "GirLbFencingFailed", []),
        ("1m", "GirLbFencingFailed", [failed]),
        ("1m45s", "GirLbFencingPending", []),
        ("2m", "GirLbFencingPending", [pending]),
    ]
    rules.check(tmp_path, pair, expected)


def test_fencing_that_completes_within_a_minute_does_not_alert(tmp_path, rules):
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_cluster_fencing_pending", "a")] = values((0, 60), (1, 45), (0, SPAN))
    rules.check(tmp_path, pair, [(at, "GirLbFencingPending", []) for at in ("1m30s", "2m", "3m")])


def test_cluster_without_quorum_after_30_s_on_a_node_whose_pacemaker_answers(tmp_path, rules):
    """lb-a loses quorum at 1 min; lb-b's crm_mon does not answer (its quorate reads 0 too): not its alert."""
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_cluster_quorate", "a")] = values((1, 60), (0, SPAN))
    pair[series("gir_lb_cluster_quorate", "b")] = values((0, SPAN))
    pair[series("gir_lb_cluster_up", "b")] = values((0, SPAN))
    name, ip = NODES["a"]
    alert = rules.alert("GirLbClusterWithoutQuorum", job="gir-lb", instance=f"{ip}:{EXPORTER_PORT}", node=name)
    rules.check(tmp_path, pair, [("1m15s", "GirLbClusterWithoutQuorum", []), ("1m30s", "GirLbClusterWithoutQuorum", [alert])])


def test_arbiter_unreachable_after_30_s_for_that_node_only(tmp_path, rules):
    """lb-b's corosync-qdevice loses the arbiter at 1 min; lb-a stays connected (no alert for it)."""
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_quorum_device_voting", "b")] = values((1, 60), (0, SPAN))
    name, ip = NODES["b"]
    alert = rules.alert("GirLbArbiterUnreachable", job="gir-lb", instance=f"{ip}:{EXPORTER_PORT}", node=name)
    assert ARBITER in alert["exp_annotations"]["summary"]
    expected = [("1m15s", []), ("1m30s", [alert]), ("20m", [alert])]
    rules.check(tmp_path, pair, [(at, "GirLbArbiterUnreachable", a) for at, a in expected])


def test_arbiter_unreachable_rides_out_a_reconnect(tmp_path, rules):
    """One scrape of lb-a not connected (qdevice reconnecting), then connected again: no alert."""
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_quorum_device_voting", "a")] = values((1, 60), (0, STEP), (1, SPAN))
    rules.check(tmp_path, pair, [(at, "GirLbArbiterUnreachable", []) for at in ("1m15s", "1m30s", "2m", "5m")])


def test_no_arbiter_rule_without_a_quorum_device(tmp_path):
    """Without cluster.quorum_device the exporter reports no link (no --quorum-device) and the rule
    is not there: even a stray series at 0 fires nothing."""
    rules = Rules(parse_settings(tls_config()))
    assert "GirLbArbiterUnreachable" not in rules.rules and "quorum_device" not in rules.text
    pair = healthy_pair(rules.settings)
    assert not any(k.startswith("gir_lb_quorum_device_voting") for k in pair)
    pair[series("gir_lb_quorum_device_voting", "a")] = values((0, SPAN))
    rules.check(tmp_path, pair, [("5m", "GirLbArbiterUnreachable", [])])


def test_httpd_restarted_by_the_cluster_names_the_node_once(tmp_path, rules):
    """Both nodes report webserver's fail count on lb-a; virtual_ip's fail count is not httpd's."""
    pair = healthy_pair(rules.settings)
    for on in NODES:
        pair[series("gir_lb_cluster_fail_count", on, resource="webserver", node="lb-a")] = values((0, 60), (1, SPAN))
        pair[series("gir_lb_cluster_fail_count", on, resource="virtual_ip", node="lb-b")] = values((2, SPAN))
    alert = rules.alert("GirLbHttpdRestartedByCluster", node="lb-a")
    rules.check(tmp_path, pair, [("45s", "GirLbHttpdRestartedByCluster", []), ("1m", "GirLbHttpdRestartedByCluster", [alert])])


def test_resource_banned_names_the_resource_and_the_node(tmp_path, rules):
    pair = healthy_pair(rules.settings)
    for on in NODES:
        pair[series("gir_lb_cluster_resource_banned", on, resource="webserver", node="lb-b")] = values((0, 60), (1, SPAN))
    alert = rules.alert("GirLbResourceBanned", resource="webserver", node="lb-b")
    rules.check(tmp_path, pair, [("45s", "GirLbResourceBanned", []), ("1m", "GirLbResourceBanned", [alert])])


@pytest.mark.parametrize(
    "threshold, left, fires",
    [
        (21, 20 * DAY, True),
        (21, 22 * DAY, False),
        (21, 21 * DAY - 3600, True),
        (21, 21 * DAY + 3600, False),
        (30, 22 * DAY, True),
    ],
    ids=["21d-20d", "21d-22d", "21d-an-hour-less", "21d-an-hour-more", "30d-22d"],
)
def test_tls_certificate_expiring_within_cert_expiry_days(tmp_path, threshold, left, fires):
    """time() is 0 at the start of a promtool test (60 at the check): the expiry timestamp is the
    time left. lb-a's certificate is good for 90 days, lb-b's for `left` (the pair alerts on the sooner)."""
    rules = rules_with(cert_expiry_days=threshold)
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_tls_cert_expiry_timestamp_seconds", "b")] = values((left, SPAN))
    alerts = [rules.alert("GirLbTlsCertificateExpiring")] if fires else []
    rules.check(tmp_path, pair, [("1m", "GirLbTlsCertificateExpiring", alerts)])


def test_collect_error_after_5_minutes_for_that_source_and_node(tmp_path, rules):
    pair = healthy_pair(rules.settings)
    pair[series("gir_lb_collect_error", "a", source="tls")] = values((0, 60), (1, SPAN))
    name, ip = NODES["a"]
    alert = rules.alert("GirLbCollectError", instance=f"{ip}:{EXPORTER_PORT}", node=name, source="tls")
    rules.check(tmp_path, pair, [("5m45s", "GirLbCollectError", []), ("6m", "GirLbCollectError", [alert])])
