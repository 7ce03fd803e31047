#!/bin/bash
# sweep-test-stacks.sh MAX_AGE_HOURS: destroys and removes every test-pr-<N> stack last updated
# longer ago than that (a pull request closed without its clean-up, a failed destroy).
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 MAX_AGE_HOURS" >&2; exit 2; }
listed=$(mktemp)
trap 'rm -f "$listed"' EXIT
"${pulumi[@]}" stack ls --all --json > "$listed"
mapfile -t stale < <(py -m pipeline stale-test-stacks --max-age-hours "$1" < "$listed")
swept=0
for stack in "${stale[@]}"; do
  [ -n "$stack" ] || continue
  "${pulumi[@]}" destroy --yes --remove --stack "$stack"
  summary "swept $stack"
  swept=$((swept + 1))
done
summary "sweep: $swept test stack(s) last updated more than $1 h ago removed"
