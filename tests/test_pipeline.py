"""The delivery pipeline: the GitHub Actions workflows (linted by actionlint, built from Go
modules), the rules they must keep (pinned actions, OIDC only, one deployment per stack, every
`run:` a tested script), and the scripts and decisions behind them, run for real where they can
run here (git, shellcheck, the Pulumi CLI built by scripts/engine.sh)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from lab.stack import LAB_PASSPHRASE
from pipeline import COMMENT_LIMIT, changed_stacks, deployed_stacks, pr_comment, stale_test_stacks, write_test_stack

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
CI_SCRIPTS = sorted((REPO / "scripts" / "ci").glob("*.sh"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def workflow(name: str) -> dict:
    return yaml.load((REPO / ".github" / "workflows" / name).read_text(), Loader=yaml.BaseLoader)  # "on" stays a key


def steps() -> list[tuple[str, dict]]:
    found = []
    for path in WORKFLOWS:
        for job in workflow(path.name)["jobs"].values():
            found += [(path.name, step) for step in job.get("steps", [])]
    return found


@pytest.fixture
def project(tmp_path) -> Path:
    """A git repository holding this working tree (one commit), sharing the venv and the built
    engine: the scripts cd to their own repository, and the CLI rewrites stack files and keeps
    state there."""
    copy = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True)
    for rel in files.stdout.splitlines():
        if (REPO / rel).is_file():
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, copy / rel)
    subprocess.run([*git(copy), "init", "-q"], check=True)
    subprocess.run([*git(copy), "add", "-A"], check=True)
    subprocess.run([*git(copy), "commit", "-qm", "base"], check=True)
    for shared in (".venv", ".engine"):  # after the commit: links, not part of the tree
        if (REPO / shared).exists():
            (copy / shared).symlink_to(REPO / shared)
    return copy


def git(repo: Path) -> list[str]:
    return ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]


def script_env(**extra: str) -> dict[str, str]:
    """The scripts in tests: the dev venv is already installed; the offline engine as `pulumi`."""
    # the lab stacks' committed encryptionsalt is for the lab passphrase; the other stacks take any
    return os.environ | {"GIR_LB_REQUIREMENTS": "requirements-dev.txt", "PULUMI_CONFIG_PASSPHRASE": LAB_PASSPHRASE} | extra


# ---- the workflows' rules ---------------------------------------------------------------------------


def test_there_are_the_four_workflows():
    assert {p.name for p in WORKFLOWS} == {"pull-request.yml", "deploy.yml", "deploy-stack.yml", "test-stacks.yml", "drift.yml"}


def test_third_party_actions_are_pinned_to_a_commit_with_its_version_named():
    uses = [(name, s["uses"]) for name, s in steps() if "uses" in s]
    assert uses
    for name, ref in uses:
        assert PINNED.match(ref), f"{name}: {ref} is not pinned to a commit SHA"
    for path in WORKFLOWS:  # the version stays readable next to each SHA
        for line in path.read_text().splitlines():
            if "uses:" in line and "@" in line and "./" not in line:
                assert re.search(r"@[0-9a-f]{40} # v\d", line), f"{path.name}: {line.strip()}"


def test_every_run_step_calls_a_script_of_the_repository():
    runs = [(name, s["run"]) for name, s in steps() if "run" in s]
    assert runs
    for name, command in runs:
        script = command.split()[0]
        assert script.startswith("scripts/ci/") and "\n" not in command.strip(), f"{name}: {command}"
        assert (REPO / script).is_file() and os.access(REPO / script, os.X_OK), f"{name}: {script}"
    used = {command.split()[0] for _, command in runs}
    assert used == {f"scripts/ci/{p.name}" for p in CI_SCRIPTS if p.name != "lib.sh"}  # and none is unused


def test_aws_is_reached_by_oidc_roles_never_stored_keys():
    for path in WORKFLOWS:
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path.name
    for path in WORKFLOWS:
        doc = workflow(path.name)
        for job in doc["jobs"].values():
            if any("configure-aws-credentials" in s.get("uses", "") for s in job.get("steps", [])):
                permissions = job.get("permissions", doc.get("permissions", {}))
                assert permissions.get("id-token") == "write", path.name
                step = next(s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", ""))
                assert step["with"]["role-to-assume"].startswith("${{ vars.AWS_")


def test_pull_requests_get_one_comment_per_stack_updated_in_place():
    preview = workflow("pull-request.yml")["jobs"]["preview"]
    assert preview["needs"] == ["checks", "stacks"] and preview["permissions"]["pull-requests"] == "write"
    comment = next(s for s in preview["steps"] if "sticky-pull-request-comment" in s.get("uses", ""))
    assert comment["with"]["header"] == "gir-lb-preview-${{ matrix.stack }}"  # one per stack, edited on each push
    assert comment["if"].startswith("always()")  # a failed preview is still shown
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"


def test_merges_deploy_dev_then_staging_then_prod_one_at_a_time_per_stack():
    jobs = workflow("deploy.yml")["jobs"]
    assert [(name, job["with"]["stack"], job.get("needs")) for name, job in jobs.items()] == [
        ("dev", "dev", None),
        ("staging", "staging", "dev"),
        ("prod", "prod", "staging"),
    ]
    up = workflow("deploy-stack.yml")["jobs"]["up"]
    assert up["environment"] == "${{ inputs.stack }}"  # staging and prod: the environment's required reviewers
    assert up["concurrency"] == {"group": "stack-${{ inputs.stack }}", "cancel-in-progress": "false"}
    drift = workflow("drift.yml")["jobs"]["check"]
    assert drift["concurrency"]["group"] == "stack-${{ matrix.stack }}"  # never beside a deployment


def test_test_stacks_follow_the_label_and_the_sweep_runs_daily():
    doc = workflow("test-stacks.yml")
    assert doc["on"]["pull_request"]["types"] == ["labeled", "synchronize", "closed"] and doc["on"]["schedule"]
    jobs = doc["jobs"]
    assert "'test-stack'" in jobs["up"]["if"] and "!= 'closed'" in jobs["up"]["if"]
    assert "'test-stack'" in jobs["down"]["if"] and "== 'closed'" in jobs["down"]["if"]
    assert jobs["up"]["concurrency"]["group"] == jobs["down"]["concurrency"]["group"]


@pytest.mark.tools
def test_actionlint_passes_the_workflows():
    """actionlint built from Go modules (scripts/actionlint.sh); it also runs shellcheck on `run:`."""
    if not shutil.which("go"):
        pytest.skip("needs Go to build actionlint")
    done = subprocess.run([str(REPO / "scripts" / "actionlint.sh"), "-verbose"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Found total {len(WORKFLOWS)} workflow files" in done.stderr or "linting" in done.stderr.lower()


@pytest.mark.tools
def test_actionlint_catches_a_broken_workflow(tmp_path):
    if not shutil.which("go"):
        pytest.skip("needs Go to build actionlint")
    bad = tmp_path / "bad.yml"
    bad.write_text((REPO / ".github/workflows/drift.yml").read_text().replace("runs-on:", "run-on:"))
    done = subprocess.run([str(REPO / "scripts" / "actionlint.sh"), str(bad)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 1 and '"runs-on" section is missing' in done.stdout


@pytest.mark.tools
def test_the_ci_scripts_pass_shellcheck():
    command = ["shellcheck", "-x", "--severity=style", *map(str, CI_SCRIPTS)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout


# ---- the decisions behind them -------------------------------------------------------------------------


def test_shared_code_touches_every_deployed_stack_a_stack_file_only_its_own():
    assert deployed_stacks() == ["dev", "prod", "staging"]  # not the lab's, not the test template
    assert changed_stacks(["templates/httpd/gir-lb.conf.j2", "README.md"]) == ["dev", "prod", "staging"]
    assert changed_stacks(["stacks/Pulumi.staging.yaml"]) == ["staging"]
    assert changed_stacks(["stacks/Pulumi.lab.yaml", "lab/runner.py", "README.md", "tests/test_x.py"]) == []


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 200_000), st.integers(0, 200_000), st.booleans())
def test_a_comment_always_fits_github_and_says_the_verdict(diff_size, preview_size, ok):
    body = pr_comment("dev", "d" * diff_size, "p" * preview_size + "\nthe end", ok)
    assert len(body) <= COMMENT_LIMIT
    assert body.startswith("<!-- gir-lb preview: dev -->\n## `dev`: " + ("preview succeeded" if ok else "**preview failed**"))
    assert "the end" in body  # the preview's end (its summary or error) survives a cut


def test_the_sweep_takes_only_old_test_stacks():
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    listed = [
        {"name": "test-pr-1", "lastUpdate": "2026-11-20T10:00:00.000Z"},
        {"name": "org/gir-lb/test-pr-2", "lastUpdate": "2026-11-26T11:00:00.000Z"},
        {"name": "test-pr-3"},  # never updated: its first `up` may be running
        {"name": "test-pr-4", "lastUpdate": "2026-11-01T00:00:00.000Z", "updateInProgress": True},
        {"name": "prod", "lastUpdate": "2020-01-01T00:00:00.000Z"},
        {"name": "test-example", "lastUpdate": "2020-01-01T00:00:00.000Z"},
    ]
    assert stale_test_stacks(listed, now, timedelta(hours=48)) == ["test-pr-1"]


def test_a_test_stack_is_the_template_under_its_own_name():
    target = write_test_stack("4711")
    try:
        doc = yaml.safe_load(target.read_text())
        template = yaml.safe_load((REPO / "stacks" / "Pulumi.test-example.yaml").read_text())
        assert doc["config"].pop("gir-lb:environment") == "test-pr-4711"
        template["config"].pop("gir-lb:environment")
        assert doc["config"] == template["config"]
    finally:
        target.unlink()
    with pytest.raises(ValueError, match="digits only"):
        write_test_stack("12; rm -rf /")


@pytest.mark.tools
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


# ---- with the real Pulumi CLI ---------------------------------------------------------------------------


def engine_or_skip() -> str:
    from engine import CLI

    if not CLI.exists():
        pytest.skip("scripts/engine.sh has not built the CLI")
    return ".venv/bin/python -m engine"  # run in the project copy: its state stays there


@pytest.mark.engine
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


@pytest.mark.engine
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


@pytest.mark.tools  # runs ruff, mypy and pytest again: about a minute
def test_the_checks_script_lints_type_checks_and_tests(project):
    done = subprocess.run(
        [str(project / "scripts/ci/checks.sh"), "tests/test_pipeline.py", "-k", "comment_always_fits"],
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


@pytest.mark.engine
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
