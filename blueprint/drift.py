"""Drift: does what a node runs still match the stack? `probe_script` is a read-only script that
prints what it finds on a node; `compare` sets that against what the stack renders. The lab
(`python -m lab drift`) and AWS (`scripts/drift.sh`) run the same script through their executor.

Compared: every managed httpd file by content hash (the TLS key and certificate only for
presence: their content is a secret), stray tenant files, corosync's running timers and cluster
name, and the CIB: the part resources.sh owns, rebuilt from the live CIB, must equal the live CIB."""

from __future__ import annotations

import base64
import hashlib
import shlex
from dataclasses import dataclass

from .render import Bundle
from .settings import Settings


@dataclass(frozen=True)
class Finding:
    item: str
    wanted: str
    found: str

    @property
    def ok(self) -> bool:
        return self.wanted == self.found


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _corosync_expected(s: Settings) -> dict[str, str]:
    return {
        "totem.cluster_name": s.cluster.name,
        "runtime.config.totem.token": str(s.cluster.token_ms),
        "runtime.config.totem.interface.0.knet_ping_interval": str(s.cluster.knet_ping_interval_ms),
        "runtime.config.totem.interface.0.knet_ping_timeout": str(s.cluster.knet_ping_timeout_ms),
    }


def probe_script(s: Settings, bundle: Bundle) -> str:
    """Read-only. Arguments: the instance ids of node A and B when fencing is on (the fence map)."""
    p = s.profile
    tenant_dir = f"{p.server_root}/{p.tenant_dir}"
    resources = base64.b64encode(bundle.scripts["resources.sh"].encode()).decode()
    lines = ["#!/bin/bash", "# gir-lb drift probe: reads only; prints what this node runs.", "set -uo pipefail"]
    for path in sorted(bundle.httpd):
        q = shlex.quote(path)
        lines.append(f'if [ -f {q} ]; then echo "file {path} $(sha256sum < {q} | cut -c1-64)";'
                     f' else echo "file {path} missing"; fi')
    for path in sorted(bundle.secret_files):
        q = shlex.quote(path)
        lines.append(f'if [ -s {q} ]; then echo "file {path} present"; else echo "file {path} missing"; fi')
    lines.append(f"for f in {shlex.quote(tenant_dir)}/loadbalancer_*.conf; do [ -e \"$f\" ] && echo \"seen $f\"; done")
    if p.cluster_stack == "corosync3":
        for key in _corosync_expected(s):
            lines.append(f'echo "corosync {key} $(corosync-cmapctl -g {key} 2>/dev/null | awk \'{{print $NF}}\')"')
    fence_args = ' "$1" "$2"' if s.fencing else ""
    lines += [
        "live=$(mktemp); wanted=$(mktemp); script=$(mktemp)",
        'trap \'rm -f "$live" "$wanted" "$script"\' EXIT',
        f"printf %s {shlex.quote(resources)} | base64 -d > \"$script\"",
        'if pcs cluster cib > "$live" 2>/dev/null && cp "$live" "$wanted" &&'
        f' bash "$script" build "$wanted"{fence_args} >/dev/null 2>&1; then',
        '  if crm_diff --original "$live" --new "$wanted" --no-version >/dev/null 2>&1; then echo "cib in-sync";'
        ' else echo "cib differs"; fi',
        'else echo "cib unreadable"; fi',
    ]
    return "\n".join(lines) + "\n"


def compare(s: Settings, bundle: Bundle, output: str) -> list[Finding]:
    """What the probe printed, item by item against the stack."""
    seen: dict[str, str] = {}
    tenant_files: set[str] = set()
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "seen":
            tenant_files.add(rest)
        elif kind in ("file", "corosync", "cib"):
            item, _, value = rest.rpartition(" ")
            seen[f"{kind} {item}".strip()] = value
    def found(item: str) -> str:
        return seen.get(item, "not reported")

    findings = [Finding(f"file {path}", _sha256(text), found(f"file {path}")) for path, text in sorted(bundle.httpd.items())]
    findings += [Finding(f"file {path}", "present", found(f"file {path}")) for path in sorted(bundle.secret_files)]
    findings += [Finding(f"file {path}", "absent", "present") for path in sorted(tenant_files - set(bundle.httpd))]
    if s.profile.cluster_stack == "corosync3":
        findings += [Finding(f"corosync {k}", v, found(f"corosync {k}")) for k, v in _corosync_expected(s).items()]
    findings.append(Finding("cib (resources, constraints, properties)", "in-sync", found("cib")))
    return findings


def report(node: str, findings: list[Finding]) -> str:
    """One line for the node, one per drifted item."""
    drifted = [f for f in findings if not f.ok]
    lines = [f"{node}: {len(findings) - len(drifted)} of {len(findings)} items match the stack"]
    lines += [f"  DRIFT {f.item}: wanted {f.wanted}, found {f.found}" for f in drifted]
    return "\n".join(lines)
