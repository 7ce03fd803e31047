#!/bin/bash
# README command 2: install what the tests need (Debian packages, pinned Python packages) and run
# them. Extra arguments go to pytest (e.g. `-m "not tools and not lab"` for the unit part only).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t lab_packages < <(grep -v '^#' lab/debian-packages.txt)
scripts/apt-need.sh "${lab_packages[@]}" cloud-init shellcheck graphviz openssl python3-venv haproxy wrk
scripts/venv.sh requirements-dev.txt
scripts/engine.sh   # the real Pulumi CLI, language host and command provider from source: minutes once, then cached in .engine/
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
