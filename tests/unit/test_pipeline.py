"""The delivery pipeline's rules and decisions, read from the GitHub Actions workflows (pinned
actions, OIDC only, one deployment per stack, every `run:` a tested script) and from pipeline/.
Its scripts run for real in tests/tools/test_pipeline.py and, with the Pulumi CLI, in
tests/engine/test_pipeline.py."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import COMMENT_LIMIT, changed_stacks, deployed_stacks, pr_comment, stale_test_stacks, write_test_stack
from tests.conftest import REPO
from tests.pipeline_harness import CI_SCRIPTS, WORKFLOWS

PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def workflow(name: str) -> dict:
    return yaml.load((REPO / ".github" / "workflows" / name).read_text(), Loader=yaml.BaseLoader)  # "on" stays a key


def steps() -> list[tuple[str, dict]]:
    found = []
    for path in WORKFLOWS:
        for job in workflow(path.name)["jobs"].values():
            found += [(path.name, step) for step in job.get("steps", [])]
    return found


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


# ---- the decisions behind them -------------------------------------------------------------------------


def test_shared_code_touches_every_deployed_stack_a_stack_file_only_its_own():
    deployed = ["dev-multi-az", "dev", "prod", "staging"]
    assert deployed_stacks() == deployed  # not the lab's, not the test template
    assert changed_stacks(["templates/httpd/gir-lb.conf.j2", "README.md"]) == deployed
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
