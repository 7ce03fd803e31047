#!/bin/bash
# Creates or refreshes .venv from the pinned requirements (once per change of the pins).
set -euo pipefail
cd "$(dirname "$0")/.."
reqs=${1:-requirements.txt}
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "venv: python3-venv is missing; installing it" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
fi
stamp=.venv/.installed-$(cat requirements*.txt "$reqs" | sha256sum | cut -c1-16)  # -r includes: hash them all
if [ ! -e "$stamp" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r "$reqs"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
