"""scripts/bundle-diff.sh: shellcheck passes it, and it runs `python -m blueprint diff` in a clone
with the project's venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import real_programs
from tests.bundle_diff_repo import base_repo, git


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return base_repo(tmp_path_factory.mktemp("repo"))


def test_the_script_passes_shellcheck_and_runs(repo, tmp_path):
    script = repo / "scripts/bundle-diff.sh"
    assert real_programs.shellcheck(script).returncode == 0
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    (clone / ".venv").symlink_to(Path(sys.prefix))  # the test's own venv: the script must not install one
    done = subprocess.run(["bash", str(clone / "scripts/bundle-diff.sh"), "dev", "base"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "# Bundle diff of stack dev: base → working tree\n\nNo change to the nodes.\n"
