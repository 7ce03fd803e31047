#!/bin/bash
# README command 2: install what the tests need (Debian packages, pinned Python packages) and run
# them. Extra arguments go to pytest. A test's tier is its folder, tests/<tier>/, and its marker:
# `-m unit` (pure Python, under a minute), `-m tools` (real external programs), `-m live` (httpd and
# fake members on loopback), `-m lab` (the namespace lab, root), `-m engine` (the real Pulumi CLI);
# e.g. `-m "not lab and not engine"`.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t lab_packages < <(grep -v '^#' lab/debian-packages.txt)
# httpd 2.2 (the rhel6 profile's) is built from source against Debian's APR: its build needs
httpd22_build=(libapr1-dev libaprutil1-dev libpcre3-dev autoconf libtool gcc make)
scripts/apt-need.sh "${lab_packages[@]}" cloud-init shellcheck graphviz openssl python3-venv haproxy wrk strace prometheus "${httpd22_build[@]}"
scripts/venv.sh requirements-dev.txt
scripts/engine.sh   # the real Pulumi CLI, language host and command provider from source: minutes once, then cached in .engine/
scripts/httpd22.sh --quiet   # httpd 2.2.34 from source: 25 s once, then cached in .tools/
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
