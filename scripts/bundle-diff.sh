#!/bin/bash
# A change's effect on the nodes, for a pull request: STACK as the working tree renders it against
# STACK as the code, templates and stack file at REF render it (blueprint/bundle_diff.py), as
# Markdown on stdout. Exits 2 when REF is not a commit.
#   scripts/bundle-diff.sh STACK REF        e.g. scripts/bundle-diff.sh prod origin/main
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:?usage: scripts/bundle-diff.sh STACK REF}
ref=${2:?usage: scripts/bundle-diff.sh STACK REF}
# Only the renderer runs: an existing .venv is used as it is (no pip run on every diff).
[ -x .venv/bin/python ] || scripts/venv.sh requirements.txt
exec .venv/bin/python -m blueprint diff --stack "$stack" --against "$ref"
