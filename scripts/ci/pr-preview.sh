#!/bin/bash
# pr-preview.sh STACK BASE_REF OUT.md: one stack's pull-request comment: what the change does to
# the nodes (the bundle diff against BASE_REF) and `pulumi preview --diff` with the policy pack.
# Writes OUT.md in every case; exits with the preview's status (a failed preview fails the check).
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 3 ] || { echo "usage: $0 STACK BASE_REF OUT.md" >&2; exit 2; }
stack=$1 base=$2 out=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! py -m blueprint diff --stack "$stack" --against "$base" > "$work/bundle.md" 2> "$work/bundle.err"; then
  { echo "The bundle diff failed:"; echo; sed 's/^/    /' "$work/bundle.err"; } > "$work/bundle.md"
fi
rc=0
"${pulumi[@]}" preview --diff --stack "$stack" --policy-pack policy > "$work/preview.txt" 2>&1 || rc=$?
py -m pipeline comment --stack "$stack" --bundle-diff "$work/bundle.md" --preview "$work/preview.txt" --preview-rc "$rc" > "$out"
summary "preview of $stack: exit $rc; comment in $out"
exit "$rc"
