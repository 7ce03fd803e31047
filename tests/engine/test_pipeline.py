"""The delivery pipeline's scripts with the real Pulumi CLI built by scripts/engine.sh as `pulumi`:
the sweep of test stacks, the pull-request preview, and deploy, drift and test-stack failing as
the CLI does."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.pipeline_harness import copy_project, script_env


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path)


def engine_or_skip() -> str:
    from engine import CLI

    if not CLI.exists():
        pytest.skip("scripts/engine.sh has not built the CLI")
    return ".venv/bin/python -m engine"  # run in the project copy: its state stays there


def test_the_sweep_destroys_and_removes_old_test_stacks_with_the_real_cli(project):
    pulumi = engine_or_skip()
    env = script_env(PULUMI=pulumi)
    for command in (["stack", "init", "test-pr-7"], ["refresh", "--yes", "--stack", "test-pr-7"], ["stack", "init", "dev"]):
        subprocess.run(
            [*pulumi.split(), *command], cwd=project, env=env, check=True, capture_output=True
        )  # refresh: a lastUpdate
    done = subprocess.run([str(project / "scripts/ci/sweep-test-stacks.sh"), "0"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "swept test-pr-7" in done.stderr and "sweep: 1 test stack(s)" in done.stderr
    listed = subprocess.run(
        [*pulumi.split(), "stack", "ls", "--all", "--json"], cwd=project, env=env, capture_output=True, text=True
    )
    assert [entry["name"] for entry in json.loads(listed.stdout)] == ["dev"]  # never another stack
    assert not (project / "stacks" / "Pulumi.test-pr-7.yaml").exists()


def test_the_pr_preview_runs_end_to_end_with_the_real_cli(project, tmp_path):
    """scripts/ci/pr-preview.sh on the lab stack against HEAD, the real CLI as `pulumi`: the comment
    holds the bundle diff and the engine's preview of the program (nothing runs: it is a preview)
    with the policy pack, and the script passes."""
    out = tmp_path / "comment.md"
    env = script_env(PULUMI=engine_or_skip())
    subprocess.run([*engine_or_skip().split(), "stack", "init", "lab"], cwd=project, env=env, check=True, capture_output=True)
    done = subprocess.run(
        [str(project / "scripts/ci/pr-preview.sh"), "lab", "HEAD", str(out)], capture_output=True, text=True, env=env
    )
    comment = out.read_text()
    assert done.returncode == 0, done.stderr + comment
    assert comment.startswith("<!-- gir-lb preview: lab -->\n## `lab`:") and "preview failed" not in comment
    assert "No change to the nodes" in comment
    assert "gir-lb-guardrails" in comment and "gir-lb-boot-httpd-push-0" in comment  # the pack ran; the plan is there


def test_deploy_drift_and_test_stack_scripts_report_what_the_real_cli_did(project, tmp_path):
    """deploy.sh, drift-check.sh and test-stack.sh against the real CLI on AWS stacks without their
    SSH key: the program refuses them (`up`, the drift preview), and every script must fail with
    it, never report success; test-stack.sh destroy still removes the stack."""
    summary = tmp_path / "summary.md"
    env = script_env(PULUMI=engine_or_skip(), GITHUB_STEP_SUMMARY=str(summary))

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(project / "scripts/ci" / argv[0]), *argv[1:]], capture_output=True, text=True, env=env)

    subprocess.run([*engine_or_skip().split(), "stack", "init", "dev"], cwd=project, env=env, check=True, capture_output=True)
    deploy = run("deploy.sh", "dev")
    assert deploy.returncode != 0 and "gir-lb:ssh_private_key: required" in deploy.stdout + deploy.stderr
    drift = run("drift-check.sh", "dev")
    assert drift.returncode != 0
    up = run("test-stack.sh", "up", "31")
    assert up.returncode != 0 and (project / "stacks" / "Pulumi.test-pr-31.yaml").exists()
    down = run("test-stack.sh", "destroy", "31")
    assert down.returncode == 0, down.stderr
    assert not (project / "stacks" / "Pulumi.test-pr-31.yaml").exists()
    assert summary.read_text().splitlines() == [
        "DRIFT or error in dev: pulumi preview --refresh --expect-no-changes exited 1 (see the log above)",
        "destroy test-pr-31: done",
    ]
    assert run("test-stack.sh", "up", "3; true").returncode == 2  # a PR number is digits only
