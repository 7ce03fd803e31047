#!/bin/bash
# `pulumi` for this project, offline (engine/__init__.py says how): builds the pinned CLI once,
# then runs preview/up/refresh/destroy through the Automation API and every other command through
# the CLI, with a file:// backend in .state/ and the passphrase secrets provider.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/engine.sh" --quiet
(cd "$repo" && scripts/venv.sh requirements.txt)
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" exec "$repo/.venv/bin/python" -m engine "$@"
