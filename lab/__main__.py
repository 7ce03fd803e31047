"""python -m lab up|status|down|failover [--node|--httpd|--split] [--name NAME] [--stack STACK]
   python -m lab apply STACK_FILE     run the steps a changed stack file changes (as `pulumi up`)
   python -m lab drift                does each node still run what the stack says (content hashes)?
   python -m lab replace NODE         a new machine for NODE (fresh disk, same name and IP), then
                                      the steps a replacement re-runs

Run as root on Debian 12 (README command 1 does the one-time package set-up)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from blueprint.drift import report

from .boxes import LabError
from .runner import Lab


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="the gir-lb HA pair on this machine")
    parser.add_argument("command", choices=["up", "status", "down", "failover", "apply", "replace", "drift"])
    parser.add_argument("target", nargs="?", help="apply: a stack file; replace: a node name")
    parser.add_argument("--name", default="lab", help="lab name: state folder and box names derive from it")
    parser.add_argument("--stack", help="stack file stacks/Pulumi.<stack>.yaml (default: the lab's own, else lab)")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--node", action="store_const", dest="kind", const="node", help="kill the active node")
    kind.add_argument("--httpd", action="store_const", dest="kind", const="httpd", help="SIGKILL httpd on the active node")
    kind.add_argument(
        "--split", action="store_const", dest="kind", const="split", help="cut the link between the nodes (lab-aws)"
    )
    args = parser.parse_args(argv)
    lab = Lab(args.name, args.stack)
    try:
        if args.command == "up":
            try:
                lab.up()
            except BaseException:
                print("up failed; tearing the lab down", file=sys.stderr)
                lab.down()
                raise
        elif args.command == "status":
            lab.status()
        elif args.command == "down":
            lab.down()
        elif args.command == "drift":
            findings = lab.drift()
            print("\n".join(report(node, found) for node, found in findings.items()))
            return 0 if all(f.ok for found in findings.values() for f in found) else 1
        elif args.command in ("apply", "replace"):
            if not args.target:
                parser.error(f"{args.command} needs a {'stack file' if args.command == 'apply' else 'node name'}")
            ran = lab.apply(Path(args.target)) if args.command == "apply" else lab.replace_node(args.target)
            print(f"{args.command}: ran {', '.join(ran) or 'nothing (no step changed)'}")
        else:
            lab.failover(args.kind or "node")
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
