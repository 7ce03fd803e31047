"""The step plan executed on the lab's nodes with nsenter instead of SSH, the user-data runcmd in
place of cloud-init, and the tenant change that reload tests and benchmarks apply (Lab.apply)."""

from __future__ import annotations

from pathlib import Path

import yaml

from blueprint.plan import Step, build_plan, encode_stdin
from blueprint.render import render_bundle
from blueprint.stack_config import load_stack

from .boxes import Box, LabError


def run_step(nodes: list[Box], step: Step, password: str, instance_ids: list[str] | tuple[str, ...] = ()) -> str:
    node = nodes[step.node]
    if step.stdin == "tls":
        raise LabError("the lab stack must not enable TLS (the lab has no certificate source)")
    stdin = encode_stdin(step, password if step.stdin else None)
    done = node.run("bash", "-c", step.script, step.name, *step.filled_args(instance_ids), stdin=stdin, timeout=600)
    if done.returncode != 0:
        raise LabError(f"step {step.name} on {node.name} failed:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return done.stdout


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
