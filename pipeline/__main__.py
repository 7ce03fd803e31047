"""python -m pipeline changed-stacks --against REF     JSON list of the deployed stacks a change touches
   python -m pipeline comment --stack S --bundle-diff F --preview F --preview-rc N   one stack's PR comment
   python -m pipeline test-stack --pr N                 writes stacks/Pulumi.test-pr-N.yaml, prints its name
   python -m pipeline stale-test-stacks --max-age-hours H   reads `pulumi stack ls --json` on stdin

What the workflows decide, called by scripts/ci/*.sh (see pipeline/__init__.py)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from blueprint.stacks import stack_name

from . import changed_paths, changed_stacks, pr_comment, stale_test_stacks, write_test_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("changed-stacks").add_argument("--against", required=True, help="the base git ref")
    comment = sub.add_parser("comment")
    comment.add_argument("--stack", required=True)
    comment.add_argument("--bundle-diff", type=Path, required=True)
    comment.add_argument("--preview", type=Path, required=True)
    comment.add_argument("--preview-rc", type=int, required=True)
    sub.add_parser("test-stack").add_argument("--pr", required=True, help="the pull request number")
    sub.add_parser("stale-test-stacks").add_argument("--max-age-hours", type=float, required=True)
    args = parser.parse_args(argv)
    if args.command == "changed-stacks":
        print(json.dumps(changed_stacks(changed_paths(args.against))))
    elif args.command == "comment":
        text = pr_comment(args.stack, args.bundle_diff.read_text(), args.preview.read_text(), args.preview_rc == 0)
        print(text, end="")
    elif args.command == "test-stack":
        try:
            print(stack_name(write_test_stack(args.pr)))
        except ValueError as exc:
            print(f"test-stack: {exc}", file=sys.stderr)
            return 2
    else:
        listed = json.loads(sys.stdin.read() or "[]")
        print("\n".join(stale_test_stacks(listed, datetime.now(UTC), timedelta(hours=args.max_age_hours))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
