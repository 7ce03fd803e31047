"""Pulumi.yaml against Pulumi's own JSON schema for it (tests/data/pulumi-project.schema.json, the
schema the CLI validates with), and every stack file against the config types Pulumi.yaml declares."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from tests.conftest import REPO, STACK_FILES, STACK_NAMES

SCHEMA = REPO / "tests" / "data" / "pulumi-project.schema.json"


def project() -> dict:
    return yaml.safe_load((REPO / "Pulumi.yaml").read_text())


def test_pulumi_yaml_matches_pulumis_project_schema():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator(schema).validate(project())
    p = project()
    assert p["name"] == "gir-lb" and p["stackConfigDir"] == "stacks"
    assert p["runtime"]["name"] == "python" and p["runtime"]["options"]["virtualenv"] == ".venv"


def test_schema_check_can_fail():
    schema = json.loads(SCHEMA.read_text())
    bad = {**project(), "config": {"network": {"type": "object"}}}  # Pulumi allows no object config type
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(bad)


PY_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


@pytest.mark.parametrize("path", STACK_FILES, ids=STACK_NAMES)
def test_stack_files_match_declared_config_types(path):
    declared = project()["config"]
    config = yaml.safe_load(path.read_text())["config"]
    for key, decl in declared.items():
        value = config.get(f"gir-lb:{key}")
        if value is None:
            assert "default" in decl, f"{path.name}: gir-lb:{key} is required by Pulumi.yaml"
            continue
        assert isinstance(value, PY_TYPES[decl["type"]]), f"{path.name}: gir-lb:{key} must be {decl['type']}"
    assert all(k.split(":")[0] in ("gir-lb", "aws") for k in config), list(config)
