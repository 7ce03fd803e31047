"""The program's scale: wall time to validate + render the dev stack with 10, 50 and 150 tenants
(copies of its tenants under new ids), and to run the whole Pulumi program for it under
`pulumi.runtime` mocks (harness/pulumi_mocks.py: every resource registered, no cloud), medians of
`--repeat`. `--engine`: a real `pulumi preview` (CLI, language host, command provider: scripts/
engine.sh) of the lab stack with as many tenants (an AWS stack cannot be previewed for real here:
no aws provider, docs/engine.md). `--lab` (root): a real `pulumi up` of the lab from nothing, a
one-tenant change and a no-op preview. 200 tenants cannot run at all: the whole config must fit the
one 128 KiB environment string the Python language host passes it in (docs/engine.md). Writes
timings.csv, timings.png and summary.md to `--out`."""

from __future__ import annotations

import argparse
import copy
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

import pulumi
import yaml

from blueprint.render import render_bundle
from blueprint.stack_config import load_stack
from components.aws import LoadBalancerPair
from harness.pulumi_mocks import run
from lab.runner import Lab
from lab.stack import PulumiStack

from . import machine_line
from .plot import timings_by_size

REPO = Path(__file__).resolve().parent.parent


def dev_with(tenants: int, folder: Path) -> Path:
    """The dev stack file with `tenants` tenants (its own, repeated under new ids)."""
    doc = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())
    given = doc["config"]["gir-lb:tenants"]
    # deep copies: shared objects would be written as YAML anchors, which stack files refuse
    doc["config"]["gir-lb:tenants"] = [{**copy.deepcopy(given[i % len(given)]), "id": f"t{i + 1}"} for i in range(tenants)]
    path = folder / f"{tenants}" / "Pulumi.dev.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def lab_with(tenants: int, project: Path) -> PulumiStack:
    """A fresh stack `scale<N>` of the lab stack file with `tenants` tenants, in a project copy."""
    template = REPO / "stacks" / "Pulumi.lab.yaml"
    doc = yaml.safe_load(template.read_text())
    given = doc["config"]["gir-lb:tenants"]
    doc["config"]["gir-lb:tenants"] = [{**copy.deepcopy(given[i % len(given)]), "id": f"t{i + 1}"} for i in range(tenants)]
    stack = PulumiStack(f"scale{tenants}", template, project)
    stack.ensure_project()
    stack.config_file.write_text(yaml.safe_dump(doc))
    stack.run("stack", "init", stack.name)
    return stack


def preview_once(stack: PulumiStack) -> None:
    stack.run("preview", "--stack", stack.name)


def lab_flows(out_rows: list, repeat: int) -> list[tuple[str, float]]:
    """A real lab: `up` from nothing, a one-tenant change (`up`), a no-op `preview`; then down."""
    lab = Lab(f"scale{os.getpid()}")
    timings = []
    try:
        start = time.perf_counter()
        lab.up()
        timings.append(("up from nothing", time.perf_counter() - start))
        with tempfile.TemporaryDirectory() as tmp:
            smaller = lab.smaller_stack(Path(tmp))
            for i in range(repeat):
                start = time.perf_counter()
                ran = lab.apply(smaller if i % 2 == 0 else lab.stack_file)
                assert list(ran) == ["httpd-push-1", "httpd-push-0"], ran
                timings.append(("one-tenant change (up)", time.perf_counter() - start))
        for _ in range(repeat):
            start = time.perf_counter()
            lab.pulumi.run("preview", "--expect-no-changes", "--stack", lab.name)
            timings.append(("no-op preview", time.perf_counter() - start))
    finally:
        lab.down()
    out_rows += [(2, what, i, t) for i, (what, t) in enumerate(timings, 1)]
    return [(what, statistics.median([t for w, t in timings if w == what])) for what in dict(timings)]


def render_once(stack_file: Path) -> None:
    render_bundle(load_stack(str(stack_file)))


def program_once(stack_file: Path) -> int:
    s = load_stack(str(stack_file))

    def build():
        secrets = {"ssh_private_key": pulumi.Output.secret("key"), "hacluster_password": None, "tls_key": None, "tls_cert": None}
        LoadBalancerPair("gir-lb", s, render_bundle(s), secrets)

    monitor, _ = run(build, stack=s.environment)
    # the stack's root resource is registered once per process: not the program's
    return len([r for r in monitor.registered if r.type != "pulumi:pulumi:Stack"])


def timed(action, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scale", description=__doc__)
    parser.add_argument("--tenants", default="10,50,150")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engine", action="store_true", help="also a real pulumi preview of the lab stack per size")
    parser.add_argument("--lab", action="store_true", help="also a real lab: up from nothing, a tenant change (root)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/scale"))
    args = parser.parse_args(argv)
    print(measure([int(n) for n in args.tenants.split(",")], args.repeat, args.out, args.engine, args.lab))
    return 0


def measure(sizes: list[int], repeat: int, out: Path, engine: bool = False, lab: bool = False) -> str:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    previews: list[tuple[int, float, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            stack = dev_with(n, Path(tmp))
            render_median, render_all = timed(lambda stack=stack: render_once(stack), repeat)
            resources = program_once(stack)  # warm-up, and the count
            program_median, program_all = timed(lambda stack=stack: program_once(stack), repeat)
            rows.append((n, resources, render_median, render_all, program_median, program_all))
            if engine:
                lab_stack = lab_with(n, Path(tmp) / "project")
                preview_once(lab_stack)  # warm-up
                previews.append((n, *timed(lambda st=lab_stack: preview_once(st), repeat)))
    flows: list[tuple[str, float]] = []
    flow_rows: list = []
    if lab:
        flows = lab_flows(flow_rows, repeat)
    with open(out / "timings.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["tenants", "resources", "what", "run", "seconds"])
        for n, resources, _, render_all, _, program_all in rows:
            for what, values in (("render", render_all), ("program-under-mocks", program_all)):
                writer.writerows([n, resources, what, i, f"{v:.4f}"] for i, v in enumerate(values, 1))
        for n, _, values in previews:
            writer.writerows([n, "", "real-preview-lab-stack", i, f"{v:.4f}"] for i, v in enumerate(values, 1))
        writer.writerows([n, "", what, i, f"{t:.4f}"] for n, what, i, t in flow_rows)
    series = {"validate + render": [(r[0], r[2]) for r in rows], "program under mocks": [(r[0], r[4]) for r in rows]}
    if previews:
        series["real pulumi preview (lab stack)"] = [(n, m) for n, m, _ in previews]
    timings_by_size(series, out / "timings.png", "The program's time against the number of tenants (medians)")
    flags = (" --engine" if engine else "") + (" --lab" if lab else "")
    lines = [
        "# The program's scale",
        "",
        machine_line(with_apache=False),
        f"- method: `python -m bench scale --tenants {','.join(map(str, sizes))} --repeat {repeat}{flags}`: the dev stack"
        " with that many tenants; medians of the repeats; the program under mocks registers every resource (no cloud)",
        "- real preview: `scripts/pulumi.sh preview` of a fresh lab stack with that many tenants (the CLI, the Python language"
        " host and the command provider built here; nothing deployed, so every resource shows as a create)"
        if engine
        else "- a real `pulumi preview` was not measured in this run (`--engine`)",
        "",
        "| tenants | resources (AWS, mocks) | validate + render (s) | program under mocks (s) | real preview, lab stack (s) |",
        "|---|---|---|---|---|",
        *(
            f"| {n} | {res} | {rm:.2f} | {pm:.2f} | {next((f'{m:.2f}' for pn, m, _ in previews if pn == n), '–')} |"
            for n, res, rm, _, pm, _ in rows
        ),
    ]
    if flows:
        lines += ["", "A real lab (2 tenants), through `scripts/pulumi.sh`:", "", "| flow | median (s) |", "|---|---|"]
        lines += [f"| {what} | {t:.1f} |" for what, t in flows]
    lines += ["", "![timings](timings.png)"]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)
