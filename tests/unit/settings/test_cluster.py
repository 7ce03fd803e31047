"""cluster: the transport each OS profile's corosync takes, the token and knet timers and their
defaults, and fencing's explicit opt-out."""

from __future__ import annotations

from blueprint.stack_config import parse_settings
from tests.conftest import base_config
from tests.unit.settings.conftest import only_problem


def test_transport_must_match_the_cluster_stack():
    cfg = base_config("rhel9")
    cfg["cluster"]["transport"] = "udpu"
    assert only_problem(cfg) == "gir-lb:cluster.transport: rhel9 runs corosync3: use knet"


def test_token_below_the_measured_safe_minimum():
    cfg = base_config()
    cfg["cluster"]["token_ms"] = 300
    assert only_problem(cfg).startswith("gir-lb:cluster.token_ms: Input should be greater than or equal to 500")


def test_cluster_timer_defaults_follow_the_token_and_the_profile():
    """3000 ms on corosync 3 and 10000 ms with cman (bench token); knet timers left out follow the
    token (timeout token/4, at least 250; interval half of it); given ones are kept."""
    assert parse_settings(base_config("rhel9")).cluster.model_dump(
        include={"token_ms", "knet_ping_interval_ms", "knet_ping_timeout_ms"}
    ) == {"token_ms": 3000, "knet_ping_interval_ms": 375, "knet_ping_timeout_ms": 750}
    assert parse_settings(base_config("rhel6")).cluster.token_ms == 10000
    cfg = base_config("rhel9")
    cfg["cluster"]["token_ms"] = 1000
    assert parse_settings(cfg).cluster.knet_ping_timeout_ms == 250 and parse_settings(cfg).cluster.knet_ping_interval_ms == 125
    cfg["cluster"]["knet_ping_interval_ms"] = 100
    assert parse_settings(cfg).cluster.knet_ping_interval_ms == 100 and parse_settings(cfg).cluster.knet_ping_timeout_ms == 250
    cfg = base_config("rhel6")
    cfg["cluster"]["token_ms"] = 5000
    assert parse_settings(cfg).cluster.token_ms == 5000


def test_fencing_opt_out_is_explicit_and_warned():
    s = parse_settings(base_config())
    assert s.cluster.fencing.mode == "fence_aws" and s.warnings() == []
    cfg = base_config()
    cfg["cluster"]["fencing"] = {"mode": "disabled"}
    assert parse_settings(cfg).warnings() == [
        "gir-lb:cluster.fencing.mode: STONITH is disabled; a split brain can put the VIP on both nodes"
    ]
