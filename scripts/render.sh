#!/bin/bash
# README command 1: render a stack's bundle offline into build/<stack> (default: dev).
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:-dev}
scripts/venv.sh requirements.txt
exec .venv/bin/python -m blueprint render --stack "$stack" --out "build/$stack"
