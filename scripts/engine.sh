#!/bin/bash
# Builds the Pulumi CLI pinned in engine/cli/go.mod (+ go.sum) from the Go module proxy into
# .engine/<hash of the pins>/bin/pulumi (git-ignored) and points .engine/current at it. Runs once
# per pin set; later calls only check. Never downloads a prebuilt binary. --quiet: no output
# when the build is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=false; [ "${1:-}" = --quiet ] && quiet=true
say() { echo "engine: $*" >&2; }
command -v go >/dev/null || { say "needs the Go toolchain (go) on PATH"; exit 1; }

version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/pulumi/pulumi/pkg/v3") print $(i + 1) }' engine/cli/go.mod)
[ -n "$version" ] || { say "engine/cli/go.mod does not require github.com/pulumi/pulumi/pkg/v3"; exit 1; }
pins=$( (cat engine/cli/go.mod engine/cli/go.sum; go version) | sha256sum | cut -c1-16)
out=.engine/$pins
if [ -x "$out/bin/pulumi" ]; then
  ln -sfn "$pins" .engine/current
  $quiet || say "pulumi $version ready ($out/bin/pulumi)"
  exit 0
fi

export GOFLAGS=-mod=readonly CGO_ENABLED=0
start=$(date +%s)
# Progress: counts the lines matching $1 (a line per $3 of them); any other line is go's own
# message (an error) and is shown as it is.
progress() {
  awk -v pattern="$1" -v what="$2" -v every="$3" -v start="$start" '
    $0 ~ pattern { n++; if (n % every == 0) { printf "engine:   %s %d (%ds)\n", what, n, systime() - start; fflush() }; next }
    { print; fflush() }
    END { printf "engine:   %s %d in all\n", what, n }' >&2
}
say "pulumi $version: fetching modules (cold: ~2 GB into $(go env GOMODCACHE))"
(cd engine/cli && go mod download -x 2>&1) | progress '^# get |^(cd|mkdir|rm|unzip) ' "downloads" 50
say "compiling (cold: ~10 min on 2 cores; cached afterwards in $(go env GOCACHE))"
mkdir -p "$out/bin.partial"
(cd engine/cli && go build -v -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version" \
    -o "../../$out/bin.partial/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi 2>&1) | progress '^[^ ]+$' "packages compiled" 100
"$out/bin.partial/pulumi" version >/dev/null
mv "$out/bin.partial" "$out/bin"
ln -sfn "$pins" .engine/current
say "pulumi $("$out/bin/pulumi" version) built in $(($(date +%s) - start))s: $out/bin/pulumi"
