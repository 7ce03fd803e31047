"""Command line: render a stack's bundle to a folder, so a pull request can diff what deploys.

python -m blueprint render --stack dev --out build/dev
python -m blueprint drift-probe --stack dev     the read-only drift probe a node runs (scripts/drift.sh)
python -m blueprint drift --stack dev --node N  compares a probe's output (stdin) with the stack
python -m blueprint nodes --stack dev           each node's name, IP and SSH user
python -m blueprint diff --stack dev --against origin/main
                                                Markdown: what the working tree changes on the nodes
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .bundle_diff import DiffError, snapshot, snapshot_at
from .bundle_diff import compare as compare_snapshots
from .drift import compare, probe_script, report
from .render import render_bundle
from .settings import Settings
from .stack_config import SettingsError, load_stack
from .stacks import stack_file
from .topology import topology_dot

REPO = Path(__file__).resolve().parent.parent


def load(args: argparse.Namespace) -> Settings:
    path = Path(args.file) if args.file else stack_file(args.stack)
    if not path.is_file():
        print(f"{args.command}: no stack file {path}", file=sys.stderr)
        sys.exit(2)
    try:
        return load_stack(str(path))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)


def cmd_drift(args: argparse.Namespace) -> int:
    settings = load(args)
    bundle = render_bundle(settings)
    if args.command == "drift-probe":
        print(probe_script(settings, bundle), end="")
        return 0
    if args.command == "topology":
        print(topology_dot(settings, args.stack or Path(args.file).name), end="")
        return 0
    if args.command == "nodes":
        print("\n".join(f"{n.name} {n.ip} {settings.ssh.user}" for n in settings.cluster.nodes))
        return 0
    findings = compare(settings, bundle, sys.stdin.read())
    print(report(args.node, findings))
    return 0 if all(f.ok for f in findings) else 1


def cmd_render(args: argparse.Namespace) -> int:
    settings = load(args)
    for warning in settings.warnings():  # as the Pulumi program shows them in a preview
        print(f"warning: {warning}", file=sys.stderr)
    tree = render_bundle(settings).tree()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)  # a removed tenant must disappear from the diff too
    for rel, text in tree.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if rel.startswith("cluster/"):
            target.chmod(0o755)
    print(f"render: {len(tree)} files for stack {args.stack or Path(args.file).name} ({settings.os_profile}) in {out}")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else stack_file(args.stack)
    load(args)  # the working tree's stack must load; exits 2 or 1 with the reason
    try:
        old = snapshot_at(REPO, args.against, path)
    except DiffError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    new = snapshot(str(path))
    print(compare_snapshots(old, new, stack=args.stack or str(path), old_label=args.against), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blueprint", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write a stack's bundle to a folder")
    which = render.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    which.add_argument("--file", help="a stack file anywhere")
    render.add_argument("--out", required=True, help="output folder (replaced)")
    commands = (("drift-probe", "print the read-only drift probe"), ("drift", "compare a probe's output (stdin)"),
                ("nodes", "print each node's name, IP and SSH user"), ("topology", "print the topology as Graphviz DOT"))
    for name, what in commands:
        cmd = sub.add_parser(name, help=what)
        which = cmd.add_mutually_exclusive_group(required=True)
        which.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
        which.add_argument("--file", help="a stack file anywhere")
        if name == "drift":
            cmd.add_argument("--node", required=True, help="the node the output came from (for the report)")
    diff = sub.add_parser("diff", help="Markdown: what the working tree changes on the nodes, against a git ref")
    which = diff.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    which.add_argument("--file", help="a stack file anywhere (outside the repo: the same file, the ref's code)")
    diff.add_argument("--against", required=True, metavar="REF", help="git ref to compare with (e.g. origin/main)")
    args = parser.parse_args(argv)
    if args.command == "diff":
        return cmd_diff(args)
    return cmd_render(args) if args.command == "render" else cmd_drift(args)


if __name__ == "__main__":
    sys.exit(main())
