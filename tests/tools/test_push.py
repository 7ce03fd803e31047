"""The plan's httpd push step passes shellcheck on every profile (run for real on an Apache node:
tests/live/test_push.py)."""

from __future__ import annotations

import pytest

from tests import real_programs
from tests.conftest import base_config, push_step


@pytest.mark.parametrize("profile", ["rhel6", "rhel9", "debian12"])
def test_the_push_script_passes_shellcheck(tmp_path, profile):
    step, _ = push_step(base_config(profile, httpd={"tls": {"enabled": True}}))
    script = tmp_path / "httpd-push.sh"
    script.write_text("#!/bin/bash\n" + step.script)
    done = real_programs.shellcheck(script)
    assert done.returncode == 0, done.stdout
