#!/bin/bash
# changed-stacks.sh BASE_REF: the JSON list of deployed stacks this change touches, as the step
# output `stacks` (GITHUB_OUTPUT) and on stdout.
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 BASE_REF" >&2; exit 2; }
stacks=$(py -m pipeline changed-stacks --against "$1")
echo "$stacks"
if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "stacks=$stacks" >> "$GITHUB_OUTPUT"; fi
