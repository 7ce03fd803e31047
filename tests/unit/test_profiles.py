"""An OS profile is one entry of blueprint/profiles.py: the rules, the renderer and the components
read its fields and never its name, and the lists that name profiles follow the table."""

from __future__ import annotations

import re
import typing

import pytest
import yaml

from blueprint.profiles import DEFAULT_PROFILE, PLATFORMS, PROFILES
from blueprint.settings import Settings
from blueprint.stack_config import SettingsError, parse_settings
from tests.conftest import REPO, base_config

# Where a rule about a profile would go; a profile's name there is a rule that bypasses the table.
RULE_SOURCES = [*(REPO / "blueprint").rglob("*.py"), *(REPO / "components").glob("*.py"), *(REPO / "templates").rglob("*.j2")]


def test_the_platform_list_is_the_settings_choice():
    assert typing.get_args(Settings.model_fields["platform"].annotation) == PLATFORMS


@pytest.mark.parametrize("name", PROFILES)
def test_each_profile_says_where_it_runs_and_why_not_elsewhere(name):
    p = PROFILES[name]
    assert p.name == name and p.platforms and set(p.not_on) <= set(PLATFORMS)
    assert ("aws" in p.platforms) == (p.ami is not None), "a profile runs on aws exactly when it has AMI data"
    assert p.transport == {"cman": "udpu", "corosync3": "knet"}[p.cluster_stack]
    assert parse_settings(base_config(name)).cluster.token_ms == p.token_default_ms


def test_no_rule_names_a_profile():
    names = re.compile("[\"']({})[\"']".format("|".join(PROFILES)))
    found = [f"{path.relative_to(REPO)}:{i}" for path in RULE_SOURCES if path.name != "profiles.py"
             for i, line in enumerate(path.read_text().splitlines(), 1) if names.search(line)]  # fmt: skip
    assert found == []


def test_pulumi_yaml_declares_the_default_profile_and_names_every_one():
    declared = yaml.safe_load((REPO / "Pulumi.yaml").read_text())["config"]["os_profile"]
    assert declared["default"] == DEFAULT_PROFILE == Settings.model_fields["os_profile"].default
    assert all(name in declared["description"] for name in PROFILES)


def test_an_unknown_profile_is_refused_with_the_known_ones():
    known = ", ".join(PROFILES)
    with pytest.raises(SettingsError, match=f"gir-lb:os_profile: 'rhel7' is not an OS profile: use {known}"):
        parse_settings(base_config(os_profile="rhel7"))
