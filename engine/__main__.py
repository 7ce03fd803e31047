"""`python -m engine <pulumi arguments>` (what scripts/pulumi.sh runs): `preview`, `up`,
`refresh` and `destroy` run the program through the Automation API (see engine/__init__.py);
every other command goes to the CLI as typed, with the same offline environment."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pulumi import automation as auto

from engine import CLI, CLI_ROOT, PROJECT, REPO, EngineError, environment

PROGRAM_VERBS = {"preview", "up", "update", "refresh", "destroy"}


def project_dir() -> Path:
    """Like the CLI: the nearest directory upwards with a Pulumi.yaml."""
    here = Path.cwd().resolve()
    return next((d for d in (here, *here.parents) if (d / "Pulumi.yaml").exists()), REPO)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/pulumi.sh", description=__doc__)
    parser.add_argument("verb", choices=sorted(PROGRAM_VERBS))
    parser.add_argument("-s", "--stack", required=True)
    parser.add_argument("-C", "--cwd", type=Path, default=project_dir(), help="the project directory (Pulumi.yaml)")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--json", action="store_true", help="preview only: the engine's JSON plan on stdout")
    parser.add_argument("--expect-no-changes", action="store_true")
    parser.add_argument("--policy-pack", action="append", default=[])
    parser.add_argument("--refresh", action="store_true")
    parser.add_argument("--remove", action="store_true", help="destroy only: also remove the stack")
    parser.add_argument("-y", "--yes", "--skip-preview", action="store_true", help="accepted; never prompts")
    return parser.parse_args(argv)


def stack(args: argparse.Namespace) -> auto.Stack:
    from components.program import run  # imports pulumi_aws etc.: only when the program runs

    project_dir = args.cwd.resolve()
    options = auto.LocalWorkspaceOptions(
        work_dir=str(project_dir),
        env_vars=environment(project_dir),
        secrets_provider="passphrase",
        pulumi_command=auto.PulumiCommand(root=str(CLI_ROOT)),
    )
    if args.verb == "destroy":
        return auto.select_stack(args.stack, PROJECT, run, opts=options)
    return auto.create_or_select_stack(args.stack, PROJECT, run, opts=options)


def run_program_verb(args: argparse.Namespace) -> None:
    out = None if args.json else (lambda line: print(line, flush=True))
    target = stack(args)
    packs = args.policy_pack or None
    if args.verb == "preview":
        result = target.preview(diff=args.diff, json=args.json, expect_no_changes=args.expect_no_changes,
                                policy_packs=packs, refresh=args.refresh, on_output=out, color="never")
        if args.json:
            print(result.stdout)
    elif args.verb in ("up", "update"):
        target.up(diff=args.diff, expect_no_changes=args.expect_no_changes, policy_packs=packs, refresh=args.refresh,
                  on_output=out, color="never")
    elif args.verb == "refresh":
        target.refresh(expect_no_changes=args.expect_no_changes, on_output=out, color="never")
    else:
        target.destroy(refresh=args.refresh, remove=args.remove, on_output=out, color="never")


def main(argv: list[str]) -> int:
    try:
        if argv and argv[0] in PROGRAM_VERBS:
            run_program_verb(parse(argv))
            return 0
        env = {**os.environ, **environment(project_dir())}
        os.execve(CLI, [str(CLI), *argv], env)
    except EngineError as e:
        print(f"engine: {e}", file=sys.stderr)
        return 2
    except auto.CommandError as e:
        # its text repeats the streamed stdout: show the CLI's stderr only
        stderr = str(e).partition("\n stderr: ")[2].strip()
        print(stderr or "engine: the pulumi command failed (its output is above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
