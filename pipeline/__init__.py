"""The delivery pipeline's decisions, as project code the workflows in .github/workflows call
through scripts/ci/*.sh: which stacks a change touches, the pull-request comment of one stack,
the stack file of a throw-away test stack, and which test stacks the sweep removes. Pure apart
from reading git and the stacks folder; no Pulumi import."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from blueprint.stack_config import load_stack
from blueprint.stacks import STACKS_DIR, stack_file, stack_files, stack_name

REPO = Path(__file__).resolve().parent.parent
TEST_TEMPLATE = stack_file("test-example")
TEST_STACK = re.compile(r"^test-pr-[1-9][0-9]{0,8}$")
# A change to any of these can change what every stack deploys.
SHARED = ("blueprint/", "components/", "templates/", "policy/", "__main__.py", "Pulumi.yaml", "requirements.txt")
COMMENT_LIMIT = 60000  # GitHub refuses comments over 65,536 characters


def deployed_stacks() -> list[str]:
    """Stacks the pipeline previews and deploys: the AWS stack files, not the lab's, not the
    test template (test stacks are made from it per pull request)."""
    names = []
    for path in stack_files():
        name = stack_name(path)
        if not name.startswith("test-") and load_stack(str(path)).platform == "aws":
            names.append(name)
    return names


def changed_stacks(changed_paths: list[str]) -> list[str]:
    """The deployed stacks whose preview a change can alter: all of them when shared code or
    templates change, else those whose stack file changed."""
    every = deployed_stacks()
    if any(p.startswith(SHARED) for p in changed_paths):
        return every
    touched = {stack_name(p) for p in changed_paths if p.startswith(f"{STACKS_DIR}/")}
    return [s for s in every if s in touched]


def changed_paths(base_ref: str) -> list[str]:
    """Files changed between the merge base of `base_ref` and HEAD."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "diff", "--name-only", f"{base_ref}...HEAD"], capture_output=True, text=True, check=True
    )
    return [line for line in done.stdout.splitlines() if line]


def pr_comment(stack: str, bundle_diff: str, preview: str, preview_ok: bool) -> str:
    """One stack's pull-request comment (the workflow updates it in place, keyed by the marker)."""
    verdict = "preview succeeded" if preview_ok else "**preview failed**"
    head = f"<!-- gir-lb preview: {stack} -->\n## `{stack}`: {verdict}\n\n"
    fence = "````"  # the preview may itself hold ``` lines
    summary = "<details><summary>pulumi preview --diff (policy pack: policy/)</summary>"
    preview_block = f"{summary}\n\n{fence}\n{preview.strip()}\n{fence}\n</details>\n"
    room = COMMENT_LIMIT - len(head) - len(preview_block)
    if len(bundle_diff) > room:
        bundle_diff = bundle_diff[: max(room - 200, 0)] + "\n\n… (cut: the full bundle diff is in the job log)\n"
    body = head + bundle_diff.strip() + "\n\n" + preview_block
    if len(body) > COMMENT_LIMIT:  # a huge preview: keep its end, where the summary and errors are
        keep = COMMENT_LIMIT - len(head) - len(bundle_diff) - 400
        tail = preview.strip()[-max(keep, 0) :]
        summary = "<details><summary>pulumi preview --diff (its last part)</summary>"
        preview_block = f"{summary}\n\n{fence}\n…\n{tail}\n{fence}\n</details>\n"
        body = head + bundle_diff.strip() + "\n\n" + preview_block
    return body


def test_stack_name(pr_number: str) -> str:
    name = f"test-pr-{pr_number}"
    if not TEST_STACK.match(name):
        raise ValueError(f"pull request number {pr_number!r}: digits only")
    return name


def write_test_stack(pr_number: str) -> Path:
    """stacks/Pulumi.test-pr-<N>.yaml from the test template, with its own environment name (its
    addresses derive from it). Written next to the others so `pulumi` finds it (stackConfigDir)."""
    name = test_stack_name(pr_number)
    doc = yaml.safe_load(TEST_TEMPLATE.read_text())
    doc["config"]["gir-lb:environment"] = name
    target = stack_file(name)
    made_by = f"# made by scripts/ci/test-stack.sh from {TEST_TEMPLATE.name} for pull request {pr_number}\n"
    target.write_text(made_by + yaml.safe_dump(doc, sort_keys=False))
    load_stack(str(target))  # refuse a template that no longer validates, before any cloud call
    return target


def stale_test_stacks(stack_list: list[dict], now: datetime, max_age: timedelta) -> list[str]:
    """From `pulumi stack ls --json`: the test-pr-<N> stacks last updated longer than `max_age`
    ago. Other stacks, a stack being updated and one never updated (its first `up` may be
    running) are never candidates."""
    stale = []
    for entry in stack_list:
        name = str(entry.get("name", "")).rsplit("/", 1)[-1]
        when = entry.get("lastUpdate")
        if not TEST_STACK.match(name) or entry.get("updateInProgress") or not when:
            continue
        if now - datetime.fromisoformat(str(when).replace("Z", "+00:00")) > max_age:
            stale.append(name)
    return stale
