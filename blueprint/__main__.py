"""Command line: render a stack's bundle to a folder, so a pull request can diff what deploys.

python -m blueprint render --stack dev --out build/dev
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .render import render_bundle
from .stack_config import SettingsError, load_stack

REPO = Path(__file__).resolve().parent.parent


def stack_file(stack: str) -> Path:
    return REPO / "stacks" / f"Pulumi.{stack}.yaml"


def cmd_render(args: argparse.Namespace) -> int:
    path = Path(args.file) if args.file else stack_file(args.stack)
    if not path.is_file():
        print(f"render: no stack file {path}", file=sys.stderr)
        return 2
    try:
        settings = load_stack(str(path))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 1
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
    print(f"render: {len(tree)} files for stack {args.stack or path.name} ({settings.os_profile}) in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="write a stack's bundle to a folder")
    which = render.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name: reads stacks/Pulumi.<stack>.yaml")
    which.add_argument("--file", help="a stack file anywhere")
    render.add_argument("--out", required=True, help="output folder (replaced)")
    args = parser.parse_args(argv)
    return cmd_render(args)


if __name__ == "__main__":
    sys.exit(main())
