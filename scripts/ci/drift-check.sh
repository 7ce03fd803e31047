#!/bin/bash
# drift-check.sh STACK: does the cloud still match the stack? `pulumi preview --refresh
# --expect-no-changes` fails on any difference; the job (and its summary) shows which.
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 STACK" >&2; exit 2; }
rc=0
"${pulumi[@]}" preview --refresh --expect-no-changes --diff --stack "$1" || rc=$?
if [ "$rc" -ne 0 ]; then
  summary "DRIFT or error in $1: pulumi preview --refresh --expect-no-changes exited $rc (see the log above)"
else
  summary "no drift in $1"
fi
exit "$rc"
