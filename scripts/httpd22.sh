#!/bin/bash
# Builds Apache httpd 2.2.34, the httpd of the rhel6 profile (Debian ships 2.4 only), as a test
# tool: from the upstream source archive (sha256 checked) against Debian's APR packages, into
# .tools/httpd-2.2.34-<hash>/ (git-ignored), pointed at by .tools/httpd22. Runs once; later calls
# only check. --quiet: no output when the build is already there. Nothing of it enters the
# project's tree. The archive is a `git archive` of the upstream 2.2.34 tag, looked for in
# $GIR_LB_SOURCES (default: ../shared/third_party beside this clone; docs/engine.md says how to
# make such archives).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
quiet=false; [ "${1:-}" = --quiet ] && quiet=true
say() { echo "httpd22: $*" >&2; }

archive=httpd-2.2.34.tar.gz
sha256=e46970774e7181d0980fa1b803c15093e9fa23081e6bc6b2ebaa8312a005427d
sources=${GIR_LB_SOURCES:-$repo/../shared/third_party}
# The modules the rhel6 bundle loads beyond the static defaults (RHEL 6 loads them from conf.modules.d).
modules="proxy proxy_http proxy_balancer headers status"
pins=$( (echo "$sha256 $modules"; cat "$0") | sha256sum | cut -c1-16)
out=.tools/httpd-2.2.34-$pins

if [ -x "$out/bin/httpd" ] && [ -f "$out/modules/mod_proxy_balancer.so" ]; then
  ln -sfn "httpd-2.2.34-$pins" .tools/httpd22
  $quiet || say "httpd 2.2.34 ready ($out/bin/httpd)"
  exit 0
fi
[ -f "$sources/$archive" ] || { say "no $archive in $sources (set GIR_LB_SOURCES)"; exit 1; }
echo "$sha256  $sources/$archive" | sha256sum -c --quiet - || { say "$archive: sha256 mismatch"; exit 1; }

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "building httpd 2.2.34 (worker MPM; shared: $modules) in $work"
tar -xzf "$sources/$archive" -C "$work"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d)
# buildconf wants apr and apr-util source trees only for their build macros: Debian ships apr's in
# /usr/share/apr-1.0/build/; for apr-util a folder with an empty Makefile.in and find_apu.m4 will do.
mkdir -p "$work/apr-util/build"
touch "$work/apr-util/Makefile.in"
cp /usr/share/apr-1.0/build/find_apu.m4 "$work/apr-util/build/"
cp /usr/share/misc/config.guess /usr/share/misc/config.sub "$src/build/"
(cd "$src" && ./buildconf --with-apr=/usr/share/apr-1.0 --with-apr-util="$work/apr-util") >"$work/buildconf.log" 2>&1 ||
  { cat "$work/buildconf.log" >&2; say "buildconf failed"; exit 1; }
say "  buildconf done ($(($(date +%s) - start))s)"
(cd "$src" && ./configure --prefix="$repo/$out.partial" --with-mpm=worker --enable-so \
    --with-apr=/usr/bin/apr-1-config --with-apr-util=/usr/bin/apu-1-config \
    --enable-mods-shared="$modules") >"$work/configure.log" 2>&1 ||
  { tail -30 "$work/configure.log" >&2; say "configure failed"; exit 1; }
say "  configure done ($(($(date +%s) - start))s)"
rm -rf "$out.partial"
(cd "$src" && make -j"$(nproc)" && make install) >"$work/make.log" 2>&1 ||
  { tail -30 "$work/make.log" >&2; say "make failed"; exit 1; }
# The installed tree names its prefix ($out.partial) in apachectl and httpd.conf; neither is used:
# the tests run bin/httpd with a config of their own.
rm -rf "$out"
mv "$out.partial" "$out"
ln -sfn "httpd-2.2.34-$pins" .tools/httpd22
say "httpd 2.2.34 built in $(($(date +%s) - start))s ($out/bin/httpd)"
