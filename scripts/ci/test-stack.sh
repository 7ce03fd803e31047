#!/bin/bash
# test-stack.sh up|destroy PR_NUMBER: the throw-away stack test-pr-<N> of a pull request, made from
# stacks/Pulumi.test-example.yaml (its addresses derive from its name). `up` sets the SSH key from
# $TEST_STACK_SSH_KEY (the key itself, e.g. a GitHub secret) when given; `destroy` also removes
# the stack.
# shellcheck source=scripts/ci/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || { echo "usage: $0 up|destroy PR_NUMBER" >&2; exit 2; }
action=$1
stack=$(py -m pipeline test-stack --pr "$2")
case "$action" in
  up)
    "${pulumi[@]}" stack select --create "$stack"
    if [ -n "${TEST_STACK_SSH_KEY:-}" ]; then
      "${pulumi[@]}" config set --stack "$stack" --secret ssh_private_key <<< "$TEST_STACK_SSH_KEY"
    fi
    "${pulumi[@]}" up --yes --stack "$stack" --policy-pack policy
    ;;
  destroy)
    "${pulumi[@]}" destroy --yes --remove --stack "$stack"
    ;;
  *) echo "usage: $0 up|destroy PR_NUMBER" >&2; exit 2 ;;
esac
summary "$action $stack: done"
