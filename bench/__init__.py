"""Benchmarks: measurements of the running pair, written down with how they were taken. Not tests."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml

from lab.runner import Lab


def machine_line(with_apache: bool = True) -> str:
    """The summary's "machine" line: host, cores, kernel and libc, and the Apache or Python version."""
    line = f"- machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}"
    if with_apache:
        return line + "; " + subprocess.run(["apache2", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    return line + f", Python {platform.python_version()}"


def with_cluster(stack_file: Path, folder: Path, **cluster: int) -> Path:
    """A copy of the stack file (in its own subfolder of `folder`) with these gir-lb:cluster keys
    changed: what a benchmark applies live through the plan."""
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"]["gir-lb:cluster"].update(cluster)
    changed = folder / "-".join(f"{k}-{v}" for k, v in cluster.items()) / stack_file.name
    changed.parent.mkdir(parents=True, exist_ok=True)
    changed.write_text(yaml.safe_dump(doc))
    return changed


def on_a_lab(name: str, stack: str | None, measure: Callable[[Lab], str]) -> int:
    """Brings a lab up, runs measure(lab) on it, always takes it down, prints the summary."""
    lab = Lab(name, stack)
    try:
        lab.up()
        summary = measure(lab)
    finally:
        lab.down()
    print(summary)
    return 0
