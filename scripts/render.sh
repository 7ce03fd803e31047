#!/bin/bash
# Renders a stack's bundle offline into build/<stack> (default: dev), for review: no Pulumi engine,
# nothing created (README: "To only render a stack's files for review").
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:-dev}
scripts/venv.sh requirements.txt
exec .venv/bin/python -m blueprint render --stack "$stack" --out "build/$stack"
