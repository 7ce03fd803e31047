#!/bin/bash
# deploy.sh STACK: `pulumi up` of one stack with the policy pack (the workflow holds one deployment
# per stack at a time and puts staging and prod behind their GitHub environments).
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] || { echo "usage: $0 STACK" >&2; exit 2; }
"${pulumi[@]}" up --yes --diff --stack "$1" --policy-pack policy
summary "deployed $1"
