"""The bad-stack corpus (tests/data/bad-stacks/, written by its make.py): the dev stack (the test-example
stack for the address pool) with one thing broken per file. Each must end in a SettingsError, never
another exception, with a problem line that starts with the key path or file position expected.yaml
names for it."""

from __future__ import annotations

import pytest
import yaml

from blueprint.stack_config import SettingsError, load_stack
from tests.conftest import REPO

CORPUS = REPO / "tests" / "data" / "bad-stacks"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())


def test_every_file_has_an_expectation():
    files = {p.name for p in CORPUS.glob("*.yaml")} - {"expected.yaml"}
    assert files == set(EXPECTED) and len(files) >= 100


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_bad_stack_is_refused_naming_its_key(name):
    want = EXPECTED[name]
    with pytest.raises(SettingsError) as info:
        load_stack(str(CORPUS / name))
    problems = info.value.problems
    assert any(p.startswith(want["key"]) for p in problems), problems
    assert all("\n" not in p for p in problems)
    if "absent" in want:
        assert want["absent"] not in str(info.value)
