#!/bin/bash
# Sourced by scripts/ci/*.sh: the repository as working directory, the pinned venv, and the
# pulumi command in "${pulumi[@]}" ($PULUMI overrides it, e.g. PULUMI=scripts/pulumi.sh offline).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
scripts/venv.sh "${GIR_LB_REQUIREMENTS:-requirements.txt}" >&2
# shellcheck disable=SC2034  # used by the scripts that source this file
read -ra pulumi <<< "${PULUMI:-pulumi}"
export PULUMI_SKIP_UPDATE_CHECK=true
py() { .venv/bin/python "$@"; }
# A line for the job's summary page on GitHub (and stderr everywhere).
summary() {
  echo "$*" >&2
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then echo "$*" >> "$GITHUB_STEP_SUMMARY"; fi
}
