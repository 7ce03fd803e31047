#!/bin/bash
# Pull-request checks: lint, type check, the unit tier (no root, no lab, no Go build). Arguments go
# to pytest (the tests narrow the run with them).
export GIR_LB_REQUIREMENTS=requirements-dev.txt
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"
.venv/bin/ruff check .
.venv/bin/mypy
py -m pytest -q -m unit "$@"
