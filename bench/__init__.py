"""Benchmarks: measurements of the running pair, written down with how they were taken. Not tests."""

from __future__ import annotations

import os
import platform
import subprocess


def machine_line(with_apache: bool = True) -> str:
    """The summary's "machine" line: host, cores, kernel and libc, and the Apache or Python version."""
    line = f"- machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}"
    if with_apache:
        return line + "; " + subprocess.run(["apache2", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return line + f", Python {platform.python_version()}"
