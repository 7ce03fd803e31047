#!/bin/bash
# README command 2: install what the tests need (Debian packages, pinned Python packages) and run
# them. Extra arguments go to pytest (e.g. `-m "not tools and not lab"` for the unit part only).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/apt-need.sh apache2 cloud-init shellcheck graphviz pacemaker corosync pcs resource-agents fence-agents \
  openssl python3-venv psmisc iproute2 curl util-linux stress-ng haproxy wrk
scripts/venv.sh requirements-dev.txt
scripts/engine.sh   # the real Pulumi CLI from Go modules: minutes once, then cached in .engine/
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
