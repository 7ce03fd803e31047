#!/bin/bash
# Drift on AWS: runs the stack's read-only drift probe on each node over SSH and compares what it
# prints with the stack (blueprint/drift.py). Exits 1 when anything drifted.
#   scripts/drift.sh STACK [INSTANCE_ID_A INSTANCE_ID_B]
# The instance ids are needed when fencing is on (scripts/pulumi.sh stack output instance_ids).
# SSH goes to each node's IP as ssh.user with your agent or keys (a bastion: ProxyJump in ~/.ssh/config).
set -euo pipefail
cd "$(dirname "$0")/.."
stack=${1:?usage: scripts/drift.sh STACK [INSTANCE_ID_A INSTANCE_ID_B]}
shift
for id in "$@"; do  # they become part of the remote command line
  [[ $id =~ ^i-[0-9a-f]{8,17}$ ]] || { echo "drift: not an EC2 instance id: $id" >&2; exit 2; }
done
scripts/venv.sh requirements.txt
py=.venv/bin/python
probe=$("$py" -m blueprint drift-probe --stack "$stack")
status=0
while read -r name ip user; do
  # The probe arrives on stdin; only the validated instance ids are arguments.
  if ! ssh -o BatchMode=yes "$user@$ip" sudo bash -s -- "$@" <<<"$probe" |
       "$py" -m blueprint drift --stack "$stack" --node "$name"; then
    status=1
  fi
done < <("$py" -m blueprint nodes --stack "$stack")
exit "$status"
