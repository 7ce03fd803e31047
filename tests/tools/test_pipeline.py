"""The delivery pipeline's workflows and scripts run for real where they can run here: actionlint
(built from Go modules), shellcheck, git, and the checks script (ruff, mypy, pytest)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.pipeline_harness import CI_SCRIPTS, WORKFLOWS, copy_project, git, script_env


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path)


def test_actionlint_passes_the_workflows():
    """actionlint built from Go modules (scripts/actionlint.sh); it also runs shellcheck on `run:`."""
    if not shutil.which("go"):
        pytest.skip("needs Go to build actionlint")
    done = subprocess.run([str(REPO / "scripts" / "actionlint.sh"), "-verbose"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Found total {len(WORKFLOWS)} workflow files" in done.stderr or "linting" in done.stderr.lower()


def test_actionlint_catches_a_broken_workflow(tmp_path):
    if not shutil.which("go"):
        pytest.skip("needs Go to build actionlint")
    bad = tmp_path / "bad.yml"
    bad.write_text((REPO / ".github/workflows/drift.yml").read_text().replace("runs-on:", "run-on:"))
    done = subprocess.run([str(REPO / "scripts" / "actionlint.sh"), str(bad)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and '"runs-on" section is missing' in done.stdout


def test_the_ci_scripts_pass_shellcheck():
    command = ["shellcheck", "-x", "--severity=style", *map(str, CI_SCRIPTS)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout


def test_changed_stacks_script_reads_git(project, tmp_path):
    """A commit that touches only the staging stack file."""
    with open(project / "stacks" / "Pulumi.staging.yaml", "a") as f:
        f.write("\n# a comment\n")
    subprocess.run([*git(project), "commit", "-qam", "staging only"], check=True)
    out = tmp_path / "github_output"
    env = script_env(GITHUB_OUTPUT=str(out))
    done = subprocess.run([str(project / "scripts/ci/changed-stacks.sh"), "HEAD~1"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["staging"] and out.read_text() == 'stacks=["staging"]\n'


# runs ruff, mypy and pytest again: about a minute
def test_the_checks_script_lints_type_checks_and_tests(project):
    done = subprocess.run(
        [str(project / "scripts/ci/checks.sh"), "tests/unit/test_pipeline.py", "-k", "comment_always_fits"],
        capture_output=True,
        text=True,
        env=script_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "All checks passed!" in done.stdout and "Success: no issues found" in done.stdout and "1 passed" in done.stdout
    (project / "pipeline" / "__init__.py").write_text((project / "pipeline" / "__init__.py").read_text() + "\nimport os\n")
    broken = subprocess.run(
        [str(project / "scripts/ci/checks.sh"), "-k", "nothing"], capture_output=True, text=True, env=script_env()
    )
    assert broken.returncode != 0 and "F401" in broken.stdout  # ruff stops the check
