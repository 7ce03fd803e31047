"""The lab's cloud-init (the user-data's write_files and runcmd, applied when a node boots), the
plan of a stack file, and the tenant change that reload tests and benchmarks apply (Lab.apply).
The plan itself runs only through the Pulumi program's Bootstrap, over SSH (components/)."""

from __future__ import annotations

from pathlib import Path

import yaml

from blueprint.plan import Step, build_plan
from blueprint.render import render_bundle
from blueprint.stack_config import load_stack

from .boxes import Box, LabError


def cloud_init_substitute(nodes: list[Box], user_data: str) -> None:
    """Packages are checked, not installed; the user-data's write_files and runcmd run on every
    node, in cloud-init's order."""
    doc = yaml.safe_load(user_data)
    for node in nodes:
        for f in doc.get("write_files", []):
            install = ["install", "-D", "-m", f.get("permissions", "0644"), "/dev/stdin", f["path"]]
            node.run(*install, stdin=f["content"], check=True)
        for cmd in doc.get("runcmd", []):
            done = node.run(*cmd)
            if done.returncode != 0 and cmd[:3] != ["pcs", "cluster", "destroy"]:
                raise LabError(f"{node.name}: runcmd {cmd} failed: {done.stderr[-500:]}")


def smaller_stack(stack_file: Path, folder: Path) -> Path:
    """`stack_file` with the last tenant's second RP member removed: a tenant change that every
    reload test and benchmark applies (and undoes with the original stack file)."""
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"]["gir-lb:tenants"][-1]["rp"]["members"].pop()
    folder.mkdir(parents=True, exist_ok=True)
    changed = folder / stack_file.name
    changed.write_text(yaml.safe_dump(doc))
    return changed


def plan_of(stack_file: Path) -> list[Step]:
    settings = load_stack(str(stack_file))
    return build_plan(settings, render_bundle(settings))
