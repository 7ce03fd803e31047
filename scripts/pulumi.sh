#!/bin/bash
# `pulumi` for this project, offline: builds the engine once (scripts/engine.sh: the CLI, the Python
# language host and the command provider, from source), then runs the CLI exactly as typed
# (`scripts/pulumi.sh preview|up|refresh|destroy --stack S`, `stack`, `config`, …) with a file://
# backend in .state/ and the passphrase secrets provider (engine/__init__.py).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/engine.sh" --quiet
[ -x "$repo/.venv/bin/python" ] || (cd "$repo" && scripts/venv.sh requirements.txt)
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" exec "$repo/.venv/bin/python" -m engine "$@"
