#!/bin/bash
# README command 1: the local lab. `scripts/lab.sh [VERB] [--name NAME] [--stack lab-aws]`, VERB one of
# up (the default), status, failover --node|--httpd|--split, apply STACK_FILE, replace NODE, drift, down.
# As root it installs the Debian packages the lab needs once (apt-get), then runs `python -m lab`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "lab: run as root (it creates network namespaces and mounts)" >&2
  exit 2
fi
mapfile -t packages < <(grep -v '^#' lab/debian-packages.txt)
scripts/apt-need.sh "${packages[@]}" python3-venv
scripts/venv.sh requirements-lab.txt
[ $# -gt 0 ] || set -- up
exec .venv/bin/python -m lab "$@"
