"""python -m lab up|status|down|failover [--node|--httpd|--split|--az] [--name NAME] [--stack STACK]
   python -m lab apply STACK_FILE     STACK_FILE's config as the lab's, then `pulumi up`
   python -m lab drift                does each node still run what the stack says (content hashes)?
   python -m lab replace NODE         `pulumi up --replace` of NODE's machine (fresh disk, same name and IP)
What the program's local commands run (a lab is a Pulumi stack; its name is the stack's):
   python -m lab world up|down --name NAME [--config FILE]
   python -m lab node up|keys|down --name NAME --index I     (up, keys: the keys as JSON on stdin)

Run as root on Debian 12 (README command 1 does the one-time package set-up)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from blueprint.drift import report

from .boxes import LabError
from .runner import Lab


def resource_verb(args: argparse.Namespace) -> None:
    lab = Lab(args.name, config_file=args.config)
    if args.command == "world":
        lab.world_up() if args.target == "up" else lab.world_down()
        return
    if args.index is None:
        raise LabError("node needs --index")
    if args.target == "down":
        lab.node_down(args.index)
        return
    keys = json.loads(sys.stdin.read())
    identity = lab.node_up(args.index, keys) if args.target == "up" else lab.node_keys(args.index, keys)
    print(json.dumps(identity))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="the gir-lb HA pair on this machine")
    parser.add_argument("command", choices=["up", "status", "down", "failover", "apply", "replace", "drift", "world", "node"])
    parser.add_argument("target", nargs="?", help="apply: a stack file; replace: a node name; world/node: up, keys or down")
    parser.add_argument("--name", default="lab", help="lab name = its Pulumi stack: state folder and box names derive from it")
    parser.add_argument("--stack", help="stack file stacks/Pulumi.<stack>.yaml (default: the lab's own, else lab)")
    parser.add_argument("--config", type=Path, help="world: the stack config the lab is made from")
    parser.add_argument("--index", type=int, help="node: which of the stack's nodes")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--node", action="store_const", dest="kind", const="node", help="kill the active node")
    kind.add_argument("--httpd", action="store_const", dest="kind", const="httpd", help="SIGKILL httpd on the active node")
    kind.add_argument(
        "--split", action="store_const", dest="kind", const="split", help="cut the link between the nodes (lab-aws)"
    )
    kind.add_argument(
        "--az", action="store_const", dest="kind", const="az", help="the active node's AZ fails: power and subnet (lab-overlay)"
    )
    args = parser.parse_args(argv)
    try:
        if args.command in ("world", "node"):
            if args.target not in ("up", "down", "keys") or (args.command == "world" and args.target == "keys"):
                parser.error(f"{args.command}: up{', keys' if args.command == 'node' else ''} or down")
            resource_verb(args)
            return 0
        lab = Lab(args.name, args.stack)
        if args.command == "up":
            lab.up()
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
