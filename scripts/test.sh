#!/bin/bash
# README command 2: install what the tests need (Debian packages, pinned Python packages) and run
# them. Extra arguments go to pytest. A test's tier is its folder, tests/<tier>/, and its marker:
# `-m unit` (pure Python, under a minute), `-m tools` (real external programs), `-m live` (httpd and
# fake members on loopback), `-m lab` (the namespace lab, root), `-m engine` (the real Pulumi CLI);
# e.g. `-m "not lab and not engine"`.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t lab_packages < <(grep -v '^#' lab/debian-packages.txt)
scripts/apt-need.sh "${lab_packages[@]}" cloud-init shellcheck graphviz openssl python3-venv haproxy wrk
scripts/venv.sh requirements-dev.txt
scripts/engine.sh   # the real Pulumi CLI, language host and command provider from source: minutes once, then cached in .engine/
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
