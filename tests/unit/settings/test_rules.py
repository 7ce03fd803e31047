"""The rules across keys: what each platform can run, what the Pulumi program deploys, and risky
choices, warned outside prod and refused (or warned) in prod."""

from __future__ import annotations

import pytest

from blueprint.stack_config import parse_settings
from tests.conftest import base_config, stack_config
from tests.unit.settings.conftest import only_problem, problems


def test_aws_refuses_the_lab_profile_and_an_l2_vip():
    cfg = base_config()
    cfg["os_profile"] = "debian12"
    cfg["network"]["vip_mode"] = "l2"
    assert problems(cfg) == [
        "gir-lb:os_profile: debian12 is the local lab's profile, not for AWS: use rhel8 or rhel9",
        "gir-lb:network.vip_mode: l2 (IPaddr2 alone) cannot move an address on AWS, whose network delivers only addresses"
        " assigned through its API: use aws",
    ]


def test_rhel6_has_no_aws_agents_so_it_runs_on_a_lan():
    cfg = base_config("rhel6", platform="aws")
    cfg["network"]["vip_mode"] = "aws"
    assert only_problem(cfg) == (
        "gir-lb:os_profile: RHEL 6 has neither awsvip nor fence_aws, so its VIP cannot move on AWS: use rhel8 or rhel9"
    )
    assert parse_settings(base_config("rhel6")).platform == "lan"


def test_the_lab_needs_debian12_and_runs_either_vip_mode():
    cfg = base_config(platform="lab")
    assert problems(cfg) == ["gir-lb:os_profile: the lab runs Debian 12 in network namespaces: use debian12"]
    cfg["os_profile"] = "debian12"  # vip_mode aws and fence_aws: against the lab's EC2 emulator
    assert parse_settings(cfg).fencing


def test_a_lan_has_no_ec2_api():
    cfg = base_config("rhel8", platform="lan")
    assert problems(cfg) == [
        "gir-lb:network.vip_mode: aws (awsvip) calls the EC2 API, which platform lan has not: use l2",
        "gir-lb:cluster.fencing.mode: fence_aws powers off EC2 instances, which platform lan has not: use disabled",
    ]


def test_the_lab_stack_says_it_is_the_lab():
    assert parse_settings(stack_config("lab")).platform == "lab"
    cfg = stack_config("lab")
    del cfg["platform"]  # the default, aws
    assert [p.split(":")[1] for p in problems(cfg)] == ["os_profile", "network.vip_mode"]


def test_the_lab_runs_only_a_lab_stack_and_leaves_the_rest_to_the_model():
    from lab.runner import Lab, LabError

    assert Lab("unit", stack="lab").settings.platform == "lab"
    with pytest.raises(LabError, match="Pulumi.dev.yaml: the lab runs only stacks with gir-lb:platform: lab, not aws"):
        _ = Lab("unit", stack="dev").settings


def test_an_unknown_platform_is_refused():
    assert only_problem(base_config(platform="gcp")) == "gir-lb:platform: Input should be 'aws', 'lab' or 'lan'"


def test_the_pulumi_program_deploys_aws_and_lab_stacks_and_refuses_lan_and_a_lab_with_tls():
    assert parse_settings(base_config()).deploy_problems() == []
    assert parse_settings(base_config("debian12")).deploy_problems() == []
    assert parse_settings(base_config("rhel6")).deploy_problems() == [
        "gir-lb:platform: a lan stack is rendered (python -m blueprint render) and installed by hand; "
        "the program builds aws and lab"
    ]
    with_tls = base_config("debian12")
    with_tls["httpd"] = {"tls": {"enabled": True}}
    assert parse_settings(with_tls).deploy_problems() == [
        "gir-lb:httpd.tls.enabled: the lab has no certificate source (pulumi-tls cannot be built here): use false"
    ]


# ---- warnings, and the dangerous ones refused in prod --------------------------------------------


FENCING_OFF = "gir-lb:cluster.fencing.mode: STONITH is disabled; a split brain can put the VIP on both nodes"


def risky(environment: str = "dev", **overrides) -> dict:
    cfg = base_config(environment=environment, **overrides)
    cfg["cluster"]["fencing"] = {"mode": "disabled"}
    cfg["network"]["admin_cidrs"] = ["10.0.250.0/24", "0.0.0.0/0"]
    cfg["network"]["client_cidrs"] = ["0.0.0.0/1", "128.0.0.0/1"]
    return cfg


def test_dangerous_choices_are_warned_outside_prod():
    assert parse_settings(risky()).warnings() == [
        FENCING_OFF,
        "gir-lb:network.admin_cidrs[1]: 0.0.0.0/0 opens SSH to the whole internet; list your own networks",
        "gir-lb:network.client_cidrs[0]: 0.0.0.0/1 opens HTTP(S) to more than a /8 of addresses; list your own networks",
        "gir-lb:network.client_cidrs[1]: 128.0.0.0/1 opens HTTP(S) to more than a /8 of addresses; list your own networks",
    ]
    assert parse_settings(base_config()).warnings() == []


def test_dangerous_choices_are_refused_in_prod():
    assert problems(risky("prod")) == [
        f"{FENCING_OFF} (not allowed in prod)",
        "gir-lb:network.admin_cidrs[1]: 0.0.0.0/0 opens SSH to the whole internet; list your own networks (not allowed in prod)",
        "gir-lb:network.client_cidrs[0]: 0.0.0.0/1 opens HTTP(S) to more than a /8 of addresses; list your own networks"
        " (not allowed in prod)",
        "gir-lb:network.client_cidrs[1]: 128.0.0.0/1 opens HTTP(S) to more than a /8 of addresses; list your own networks"
        " (not allowed in prod)",
    ]


def test_prod_warns_of_plain_http_and_of_unprotected_resources():
    assert parse_settings(base_config(environment="prod", protect=False)).warnings() == [
        "gir-lb:httpd.tls.enabled: prod serves plain HTTP: recordings and passwords cross the network in clear",
        "gir-lb:protect: prod resources are not protected from deletion",
    ]


def test_a_self_signed_certificate_in_prod_is_warned_at_render_and_refused_at_deploy(pem):
    s = parse_settings(base_config(environment="prod", httpd={"tls": {"enabled": True}}))
    assert s.warnings() == ["gir-lb:tls_cert: prod serves a generated self-signed certificate; set tls_cert and tls_key"]
    assert s.deploy_problems() == [
        "gir-lb:tls_cert: prod must not serve a generated self-signed certificate: set tls_cert and tls_key"
    ]
    with_cert = parse_settings(
        base_config(environment="prod", httpd={"tls": {"enabled": True}}, tls_cert=pem.cert(), tls_key=pem.key())
    )
    assert with_cert.warnings() == [] == with_cert.deploy_problems()
    dev = parse_settings(base_config(httpd={"tls": {"enabled": True}}))
    assert dev.warnings() == [] == dev.deploy_problems()  # self-signed is what dev and test stacks use
