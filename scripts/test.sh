#!/bin/bash
# README command 2: install what the tests need (Debian packages, pinned Python packages) and run
# them. Extra arguments go to pytest (e.g. `-m "not tools"` for the unit part only).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(apache2 cloud-init shellcheck pacemaker corosync pcs resource-agents fence-agents openssl python3-venv psmisc iproute2 curl util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
scripts/venv.sh requirements-dev.txt
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
