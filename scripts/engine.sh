#!/bin/bash
# Builds the real Pulumi engine from source, never a prebuilt binary, into .engine/<hash of the
# pins>/bin (git-ignored) and points .engine/current at it:
#   pulumi                       the CLI, from the Go module proxy (engine/cli pins it)
#   pulumi-language-python(-exec) the Python language host, from its upstream source archive
#   pulumi-resource-command      the command provider, from its upstream source archive, installed
#                                into the project's PULUMI_HOME (.engine/home) as resource command 1.2.1
# Every Go module is pinned by hash (engine/*/go.sum); each archive by the sha256 below. The
# archives are `git archive` tarballs of the upstream tags, looked for in $GIR_LB_SOURCES (default:
# ../shared/third_party beside this clone; docs/engine.md says how to make them). Runs once per pin
# set; later calls only check. --quiet: no output when the build is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
quiet=false; [ "${1:-}" = --quiet ] && quiet=true
say() { echo "engine: $*" >&2; }
command -v go >/dev/null || { say "needs the Go toolchain (go) on PATH"; exit 1; }

command_archive=pulumi-command-v1.2.1.tar.gz
command_sha256=b73b66042c9ecdbea088ce8bb38accd1ff8214ffeb8db05a65e706e233b039a3
command_version=1.2.1  # = the pulumi-command wheel's pulumi-plugin.json
python_archive=pulumi-language-python-v3.259.0.tar.gz
python_sha256=471c44cc152dd8aed5f2033840de07fe1a146258cff2ea81f2bbf9f8bdda903d
python_version=v3.259.0
sources=${GIR_LB_SOURCES:-$repo/../shared/third_party}

cli_version=$(awk '{ for (i = 1; i < NF; i++) if ($i == "github.com/pulumi/pulumi/pkg/v3") print $(i + 1) }' engine/cli/go.mod)
[ -n "$cli_version" ] || { say "engine/cli/go.mod does not require github.com/pulumi/pulumi/pkg/v3"; exit 1; }
pins=$( (cat engine/{cli,command,language-python}/go.{mod,sum}; echo "$command_sha256 $python_sha256"; go version) | sha256sum | cut -c1-16)
out=.engine/$pins
export PULUMI_HOME=$repo/.engine/home PULUMI_SKIP_UPDATE_CHECK=true
plugin_dir=$PULUMI_HOME/plugins/resource-command-v$command_version
installed() {
  [ -x "$out/bin/pulumi" ] && [ -x "$out/bin/pulumi-language-python" ] && [ -x "$out/bin/pulumi-language-python-exec" ] &&
    [ -x "$out/bin/pulumi-resource-command" ] && cmp -s "$out/bin/pulumi-resource-command" "$plugin_dir/pulumi-resource-command"
}
if installed; then
  ln -sfn "$pins" .engine/current
  $quiet || say "pulumi $cli_version, language host $python_version, command $command_version ready ($out/bin)"
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
# go build of main package $2 in wrapper module engine/$1 into $out/bin.partial/$3, version by ldflags $4
build() {
  say "$3: fetching modules"
  (cd "engine/$1" && go mod download -x 2>&1) | progress '^# get |^(cd|mkdir|rm|unzip) ' "downloads" 50
  say "$3: compiling"
  (cd "engine/$1" && go build -v -trimpath -tags osusergo,grpcnotrace -ldflags "-s -w -X $4" \
      -o "$repo/$out/bin.partial/$3" "$2" 2>&1) | progress '^[^ ]+$' "packages compiled" 100
}

# The archives: checked, then unpacked afresh where the wrappers' replace lines point.
for pair in "$command_archive $command_sha256" "$python_archive $python_sha256"; do
  read -r archive sha <<<"$pair"
  [ -f "$sources/$archive" ] || { say "missing $sources/$archive (set GIR_LB_SOURCES; docs/engine.md says how to make it)"; exit 1; }
  echo "$sha  $sources/$archive" | sha256sum --quiet -c - || { say "$sources/$archive: sha256 is not $sha"; exit 1; }
done
rm -rf .engine/src && mkdir -p .engine/src
tar -C .engine/src -xzf "$sources/$command_archive"
tar -C .engine/src -xzf "$sources/$python_archive"

rm -rf "$out/bin.partial" && mkdir -p "$out/bin.partial"
build cli github.com/pulumi/pulumi/pkg/v3/cmd/pulumi pulumi \
  "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$cli_version"
build language-python github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 pulumi-language-python \
  "github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$python_version"
build command github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command pulumi-resource-command \
  "github.com/pulumi/pulumi-command/provider/pkg/version.Version=$command_version"
# The language host runs programs through this script, which must sit next to it.
install -m 0755 .engine/src/pulumi-v3.259.0/sdk/python/cmd/pulumi-language-python-exec "$out/bin.partial/"
"$out/bin.partial/pulumi" version >/dev/null
rm -rf "$out/bin" && mv "$out/bin.partial" "$out/bin"
"$out/bin/pulumi" plugin install resource command "$command_version" --file "$out/bin/pulumi-resource-command" --reinstall >&2
installed || { say "the command provider did not install into $plugin_dir"; exit 1; }
ln -sfn "$pins" .engine/current
say "pulumi $("$out/bin/pulumi" version), language host $python_version, command $command_version built in $(($(date +%s) - start))s: $out/bin"
