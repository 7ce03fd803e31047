"""monitoring: who may scrape the exporters, and where the AWS alarms go."""

from __future__ import annotations

import pytest

from blueprint.stack_config import parse_settings
from tests.conftest import base_config
from tests.unit.settings.conftest import only_problem

TOPIC = "arn:aws:sns:eu-west-1:123456789012:gir-lb-alarms"
NOT_AN_ARN = "is not an SNS topic ARN like arn:aws:sns:eu-west-1:123456789012:gir-lb-alarms"


def monitored(os_profile: str = "rhel9", **monitoring) -> dict:
    return base_config(os_profile, monitoring=monitoring)


def test_source_cidrs_and_a_topic_in_the_stacks_region_are_accepted_without_warning():
    s = parse_settings(monitored(source_cidrs=["10.0.240.0/24", "192.168.7.0/28"], alarm_topic_arn=TOPIC))
    assert [str(c) for c in s.monitoring.source_cidrs] == ["10.0.240.0/24", "192.168.7.0/28"]
    assert s.monitoring.alarm_topic_arn == TOPIC and s.warnings() == []
    assert parse_settings(base_config()).monitoring.source_cidrs == []  # the default opens nothing


def test_a_source_cidr_listed_twice_is_refused():
    cfg = monitored(source_cidrs=["10.9.0.0/16", "10.8.0.0/16", "10.9.0.0/255.255.0.0"])  # the same network, as a netmask
    assert only_problem(cfg) == "gir-lb:monitoring.source_cidrs[2]: 10.9.0.0/16 is also source_cidrs[0]"


def test_exporters_open_to_the_world_are_warned_and_refused_in_prod():
    why = "0.0.0.0/0 opens the exporters to the whole internet; list your own networks"
    assert parse_settings(monitored(source_cidrs=["10.9.0.0/16", "0.0.0.0/0"])).warnings() == [
        f"gir-lb:monitoring.source_cidrs[1]: {why}"
    ]
    prod = base_config(environment="prod", monitoring={"source_cidrs": ["0.0.0.0/0"]})
    assert only_problem(prod) == f"gir-lb:monitoring.source_cidrs[0]: {why} (not allowed in prod)"


def test_rhel6_runs_no_exporter_so_its_source_cidrs_are_refused():
    assert only_problem(monitored("rhel6", source_cidrs=["10.9.0.0/16"])) == (
        "gir-lb:monitoring.source_cidrs: rhel6 nodes run no exporter (no Python 3, no packaged exporter): leave it empty"
    )


@pytest.mark.parametrize(("os_profile", "platform"), [("debian12", "lab"), ("rhel6", "lan")])
def test_alarms_exist_only_on_aws(os_profile, platform):
    assert only_problem(monitored(os_profile, alarm_topic_arn=TOPIC)) == (
        f"gir-lb:monitoring.alarm_topic_arn: CloudWatch alarms exist only on aws, not on platform {platform}"
    )


def test_a_topic_in_another_region_is_refused():
    assert only_problem(monitored(alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:gir-lb-alarms")) == (
        "gir-lb:monitoring.alarm_topic_arn: the topic is in us-east-1: CloudWatch notifies only a topic in the stack's"
        " region eu-west-1"
    )


@pytest.mark.parametrize(
    "arn",
    [
        "gir-lb-alarms",  # a topic name, not its ARN
        "arn:aws:sqs:eu-west-1:123456789012:gl",  # a queue (short names: the message shortens a long value)
        "arn:aws:sns:eu-west-1:12345:gl",  # a short account id
        "arn:aws:sns:eu-west-1:123456789012:g l",  # a space in the name
    ],
)
def test_a_malformed_topic_arn_is_refused(arn):
    assert only_problem(monitored(alarm_topic_arn=arn)) == f"gir-lb:monitoring.alarm_topic_arn: {arn!r} {NOT_AN_ARN}"
