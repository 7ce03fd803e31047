"""The program's scale: wall time to validate + render the dev stack with 10, 50 and 200 tenants
(copies of its tenants under new ids), and to run the whole Pulumi program for it under
`pulumi.runtime` mocks (tests/pulumi_harness.py: every resource registered, no cloud), medians of
`--repeat`. A real `pulumi preview` cannot run here: the Go module proxy serves neither the
Python language host nor pulumi-resource-aws (docs/engine.md). Writes timings.csv, timings.png and
summary.md to `--out`. No root, no lab."""

from __future__ import annotations

import argparse
import copy
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the mocks harness the tests use

import yaml  # noqa: E402

from blueprint.render import render_bundle  # noqa: E402
from blueprint.stack_config import load_stack  # noqa: E402

from . import machine_line  # noqa: E402
from .plot import timings_by_size  # noqa: E402


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


def render_once(stack_file: Path) -> None:
    render_bundle(load_stack(str(stack_file)))


def program_once(stack_file: Path) -> int:
    import pulumi
    from pulumi_harness import run  # type: ignore[import-not-found]  # tests/, put on the path above

    from components.aws import LoadBalancerPair

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
    parser.add_argument("--tenants", default="10,50,200")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("bench/results/scale"))
    args = parser.parse_args(argv)
    print(measure([int(n) for n in args.tenants.split(",")], args.repeat, args.out))
    return 0


def measure(sizes: list[int], repeat: int, out: Path) -> str:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            stack = dev_with(n, Path(tmp))
            render_median, render_all = timed(lambda stack=stack: render_once(stack), repeat)
            resources = program_once(stack)  # warm-up, and the count
            program_median, program_all = timed(lambda stack=stack: program_once(stack), repeat)
            rows.append((n, resources, render_median, render_all, program_median, program_all))
    with open(out / "timings.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["tenants", "resources", "what", "run", "seconds"])
        for n, resources, _, render_all, _, program_all in rows:
            for what, values in (("render", render_all), ("program-under-mocks", program_all)):
                writer.writerows([n, resources, what, i, f"{v:.4f}"] for i, v in enumerate(values, 1))
    timings_by_size(
        {"validate + render": [(r[0], r[2]) for r in rows], "program under mocks": [(r[0], r[4]) for r in rows]},
        out / "timings.png",
        "The program's time against the number of tenants (medians)",
    )
    lines = [
        "# The program's scale",
        "",
        machine_line(with_apache=False),
        f"- method: `python -m bench scale --tenants {','.join(map(str, sizes))} --repeat {repeat}`: the dev stack with that many"
        " tenants; medians of the repeats; the program under mocks registers every resource (no cloud)",
        "- a real `pulumi preview` is not measured: the CLI built here lacks the Python language host and the AWS provider",
        "",
        "| tenants | resources | validate + render (s) | program under mocks (s) |",
        "|---|---|---|---|",
        *(f"| {n} | {res} | {rm:.2f} | {pm:.2f} |" for n, res, rm, _, pm, _ in rows),
        "",
        "![timings](timings.png)",
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return "\n".join(lines)
