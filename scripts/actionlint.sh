#!/bin/bash
# Lints the GitHub Actions workflows with actionlint, built once from the Go module proxy at the
# version pinned in engine/actionlint/go.mod (+ go.sum) into .engine/actionlint-<hash of the pins>/
# (git-ignored). Arguments go to actionlint (default: every file in .github/workflows). Where
# the shellcheck program is installed, actionlint also checks `run:` scripts with it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || { echo "actionlint: needs the Go toolchain (go) on PATH" >&2; exit 1; }
pins=$( (cat engine/actionlint/go.mod engine/actionlint/go.sum; go version) | sha256sum | cut -c1-16)
bin=.engine/actionlint-$pins/actionlint
if [ ! -x "$bin" ]; then
  echo "actionlint: building $(awk '$1 == "require" && $2 ~ /actionlint$/ { print $3 }' engine/actionlint/go.mod) from Go modules" >&2
  mkdir -p "$(dirname "$bin")"
  (cd engine/actionlint && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
    -o "../../$bin.partial" github.com/rhysd/actionlint/cmd/actionlint)
  mv "$bin.partial" "$bin"
fi
exec "$bin" "$@"
