"""The step plan: which script runs on which node, in which order, with which secret on stdin.
Pure data built from settings and the bundle; the AWS components and the lab execute the same plan."""

from __future__ import annotations

import base64
import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .render import Bundle
from .settings import Settings

INSTANCE_ID_A, INSTANCE_ID_B = "{instance_id_a}", "{instance_id_b}"
Phase = Literal["prepare", "cluster", "httpd", "resources"]
SecretKind = Literal["hacluster_password", "tls"]


def encode_stdin(kind: SecretKind | None, secret: str | tuple[str, str] | None) -> str:
    """What a step reads on stdin: the hacluster password as one line; the TLS pair (certificate,
    key) as two base64 lines, so no PEM text is ever parsed by a shell. Used by every executor.
    PEM files end with one newline: `pulumi config set K < file` drops the file's last newline."""
    if kind is None:
        return ""
    if kind == "hacluster_password":
        assert isinstance(secret, str)
        return secret + "\n"
    assert isinstance(secret, tuple)
    return "".join(base64.b64encode(part.rstrip("\n").encode() + b"\n").decode() + "\n" for part in secret)


@dataclass(frozen=True)
class Step:
    name: str
    node: int  # index into settings.cluster.nodes
    script: str
    phase: Phase  # an executor picks steps by phase (a tenant change runs the "httpd" phase)
    stdin: SecretKind | None = None  # the secret the step reads on stdin (see encode_stdin)
    args: tuple[str, ...] = ()  # may hold INSTANCE_ID_A/B: see filled_args
    after: tuple[str, ...] = ()
    waits_for_first_boot: bool = False  # runs only once cloud-init has finished on its node

    @property
    def trigger(self) -> str:
        """Content hash of exactly what the step applies."""
        return hashlib.sha256("\0".join([self.script, *self.args]).encode()).hexdigest()

    def filled_args(self, instance_ids: Sequence[str] = ()) -> list[str]:
        """The arguments with the nodes' instance ids put in (fence_aws needs them)."""
        values = dict(zip(("instance_id_a", "instance_id_b"), instance_ids, strict=False))
        try:
            return [a.format(**values) for a in self.args]
        except KeyError as missing:
            raise ValueError(f"step {self.name} needs the instance id {missing} of its nodes") from None

    def command(self, instance_ids: Sequence[str] = ()) -> str:
        """The remote command: the script is argv of `bash -c` (never a secret); secrets go on stdin."""
        args = self.filled_args(instance_ids)
        return " ".join(["sudo", "bash", "-c", shlex.quote(self.script), shlex.quote(self.name), *map(shlex.quote, args)])


def push_script(s: Settings, bundle: Bundle) -> str:
    """Installs the httpd files (from base64: no content is ever parsed by a shell), removes stale
    tenant files, writes the TLS cert/key read from stdin, then runs httpd-reload (configtest +
    graceful). If the new config is refused, the previous files are put back, so a later restart
    or failover never starts httpd on a config that failed its test."""
    p = s.profile
    tenant_dir = f"{p.server_root}/{p.tenant_dir}"
    # Everything this step owns: the tenant folder (tenants, TLS) and the files outside it.
    managed = sorted({path for path in bundle.httpd if not path.startswith(tenant_dir + "/")}) + [tenant_dir]
    keep = "|".join(shlex.quote(f"loadbalancer_{t.id}.conf") for t in s.tenants)
    reload_b64 = base64.b64encode(bundle.scripts["httpd-reload.sh"].encode()).decode()
    lines = [
        "set -euo pipefail",
        "umask 022",
        f"managed=({' '.join(map(shlex.quote, managed))})",
        "backup=$(mktemp -d)",
        "done_ok=0",
        'for p in "${managed[@]}"; do',
        '  if [ -e "$p" ]; then mkdir -p "$backup$(dirname "$p")"; cp -a "$p" "$backup$p"; fi',
        "done",
        "restore() {",
        '  for p in "${managed[@]}"; do',
        '    rm -rf "$p"',
        '    if [ -e "$backup$p" ]; then cp -a "$backup$p" "$p"; fi',
        "  done",
        "}",
        "finish() {",
        '  if [ "$done_ok" != 1 ]; then',
        "    restore",
        '    echo "httpd-push: failed on $(hostname); previous files restored, nothing reloaded" >&2',
        "  fi",
        '  rm -rf "$backup"',
        "}",
        "# Any failure from here on (a bad file, a refused config) puts the previous files back.",
        "trap finish EXIT",
        'install_file() { mkdir -p "$(dirname "$1")"; base64 -d > "$1.new"; mv "$1.new" "$1"; }',
    ]
    for path, text in sorted(bundle.httpd.items()):
        b64 = base64.b64encode(text.encode()).decode()
        lines.append(f"printf %s {shlex.quote(b64)} | install_file {shlex.quote(path)}")
    lines.append(
        f"for f in {shlex.quote(tenant_dir)}/loadbalancer_*.conf; do "
        f'case "${{f##*/}}" in {keep}) ;; *) rm -f -- "$f" ;; esac; done'
    )
    if bundle.secret_files:
        crt, key = sorted(bundle.secret_files)  # server.crt, server.key
        lines += [
            "IFS= read -r cert_b64; IFS= read -r key_b64",
            f'printf %s "$cert_b64" | install_file {shlex.quote(crt)}',
            f'(umask 077; printf %s "$key_b64" | install_file {shlex.quote(key)})',
        ]
    lines += [f"printf %s {shlex.quote(reload_b64)} | base64 -d | bash -s", "done_ok=1"]
    return "\n".join(lines) + "\n"


def build_plan(s: Settings, bundle: Bundle) -> list[Step]:
    p = s.profile
    nodes = range(len(s.cluster.nodes))
    prepare = bundle.scripts["node-prepare.sh"]
    steps = [Step(f"prepare-{i}", i, prepare, "prepare", stdin="hacluster_password", waits_for_first_boot=True) for i in nodes]
    prepared = tuple(st.name for st in steps)
    if p.cluster_stack == "cman":  # ccs/cman configures and starts every node
        setup = [Step(f"cluster-setup-{i}", i, bundle.scripts["cluster-setup.sh"], "cluster", after=prepared) for i in nodes]
    else:  # pcs sets up once, each node gets a seeded CIB, then one start of both
        setup_script = bundle.scripts["cluster-setup.sh"]
        steps.append(Step("cluster-setup", 0, setup_script, "cluster", stdin="hacluster_password", after=prepared))
        seeds = [Step(f"seed-cib-{i}", i, bundle.scripts["seed-cib.sh"], "cluster", after=("cluster-setup",)) for i in nodes]
        steps += seeds
        setup = [Step("cluster-start", 0, bundle.scripts["cluster-start.sh"], "cluster", after=tuple(st.name for st in seeds))]
    steps += setup
    set_up = tuple(st.name for st in setup)
    # Rolling: the second node first, the first node only after the second one succeeded.
    push = push_script(s, bundle)
    stdin: SecretKind | None = "tls" if bundle.secret_files else None
    steps.append(Step("httpd-push-1", 1, push, "httpd", stdin=stdin, after=set_up))
    steps.append(Step("httpd-push-0", 0, push, "httpd", stdin=stdin, after=("httpd-push-1",)))
    steps.append(
        Step(
            "cluster-resources",
            0,
            bundle.scripts["resources.sh"],
            "resources",
            args=("apply", INSTANCE_ID_A, INSTANCE_ID_B) if s.fencing else ("apply",),
            after=(*set_up, "httpd-push-0"),
        )
    )
    return steps
