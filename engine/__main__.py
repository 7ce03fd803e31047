"""`python -m engine <pulumi arguments>` (= scripts/pulumi.sh): the Pulumi CLI that
scripts/engine.sh builds, run exactly as typed with the project's offline environment. The CLI
reads Pulumi.yaml and runs `__main__.py` through the Python language host, as the official one does."""

from __future__ import annotations

import os
import sys

from engine import CLI, EngineError, environment, project_dir


def main(argv: list[str]) -> int:
    try:
        env = {**os.environ, **environment(project_dir())}
    except EngineError as e:
        print(f"engine: {e}", file=sys.stderr)
        return 2
    os.execve(CLI, [str(CLI), *argv], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
