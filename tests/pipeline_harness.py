"""The delivery pipeline as tests/{unit,tools,engine}/test_pipeline.py see it: its workflows and CI
scripts, and a git copy of the project to run the scripts in."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lab.stack import LAB_PASSPHRASE
from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
CI_SCRIPTS = sorted((REPO / "scripts" / "ci").glob("*.sh"))


def copy_project(tmp_path: Path) -> Path:
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
