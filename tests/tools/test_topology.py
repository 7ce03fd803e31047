"""Graphviz draws the committed topology (docs/topology.dot)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


def test_graphviz_draws_it(tmp_path):
    if not shutil.which("dot"):
        pytest.skip("Graphviz is not installed (scripts/test.sh installs it)")
    done = subprocess.run(["dot", "-Tsvg", str(REPO / "docs" / "topology.dot")], capture_output=True, text=True)
    assert done.returncode == 0 and "<svg" in done.stdout, done.stderr
