"""The step plan: which script runs on which node, in which order, with which secret on stdin.
Pure data built from settings and the bundle; the AWS components and the lab execute the same plan."""

from __future__ import annotations

import base64
import hashlib
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .render import Bundle, render_template
from .settings import Settings

INSTANCE_ID_A, INSTANCE_ID_B = "{instance_id_a}", "{instance_id_b}"
ARBITER = 2  # Step.node of a step on the arbiter gir-lb made (cluster.quorum_device.create): after the two nodes
Phase = Literal["prepare", "cluster", "httpd", "resources"]
SecretKind = Literal["hacluster_password", "tls"]


def _b64_line(text: str) -> str:
    return base64.b64encode(text.encode()).decode() + "\n"


def encode_stdin(step: Step, secret: str | tuple[str, str] | None = None) -> str:
    """What a step reads on stdin, built here for every executor: its payload (not secret), then
    its secret: the hacluster password as one line; the TLS pair (certificate, key) as two base64
    lines, so no PEM text is ever parsed by a shell. Whoever sends it treats all of it as secret
    when the step has one. PEM files end with one newline: `pulumi config set K < file` drops it."""
    if step.stdin is None:
        return step.payload
    if step.stdin == "hacluster_password":
        assert isinstance(secret, str)
        return step.payload + secret + "\n"
    assert isinstance(secret, tuple)
    return step.payload + "".join(_b64_line(part.rstrip("\n") + "\n") for part in secret)


@dataclass(frozen=True)
class Step:
    name: str
    node: int  # index into settings.cluster.nodes, or ARBITER
    script: str
    # What the step does, in plan order. Executors run a step when its trigger changes, not by phase.
    phase: Phase
    stdin: SecretKind | None = None  # the secret the step reads on stdin, after its payload (see encode_stdin)
    args: tuple[str, ...] = ()  # may hold INSTANCE_ID_A/B: see filled_args
    after: tuple[str, ...] = ()
    waits_for_first_boot: bool = False  # runs only once cloud-init has finished on its node
    # The nodes whose replacement (a new instance / lab disk, same name and IP) re-runs this step:
    # AWS adds their instance ids to the step's triggers, the lab's `replace` runs these steps.
    reruns_on_replace_of: tuple[int, ...] = ()
    # Content the step reads on stdin before its secret (the push's httpd files): stdin has no
    # size limit, an argument has (128 KiB, MAX_ARG_STRLEN).
    payload: str = field(default="", repr=False)

    @property
    def trigger(self) -> str:
        """Content hash of exactly what the step applies, its secret aside (a changed secret changes
        its stdin, and pulumi-command runs `create` again when any input changes)."""
        parts = [self.script, *self.args, *([self.payload] if self.payload else [])]  # no payload: hash as before
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

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


def _push_order(s: Settings, bundle: Bundle) -> tuple[list[str], list[str]]:
    """The httpd files in the order the push reads them on stdin: those that are not a tenant's
    (by path), then one per tenant (by id, so the script stays small with many tenants)."""
    p = s.profile
    tenant_files = [f"{p.server_root}/{p.tenant_dir}/loadbalancer_{t.id}.conf" for t in s.tenants]
    assert set(tenant_files) <= set(bundle.httpd), "the push names tenant files by id"
    return sorted(set(bundle.httpd) - set(tenant_files)), tenant_files


def push_payload(s: Settings, bundle: Bundle) -> str:
    """The push step's payload: one base64 line per httpd file, in the order push_script reads them."""
    others, tenant_files = _push_order(s, bundle)
    return "".join(_b64_line(bundle.httpd[path]) for path in others + tenant_files)


def comment_out_listen(s: Settings, path: str | None = None) -> str:
    """The command that turns the main config's stock Listen lines into comments (RHEL's httpd.conf
    has `Listen 80`): the bundle's listen file holds every Listen. A second run changes nothing."""
    p = s.profile
    expression = "s|^([[:space:]]*Listen[[:space:]])|# gir-lb: Listen lines live in " + p.listen_conf + r": \1|"
    return f"sed -i -E {shlex.quote(expression)} {shlex.quote(path or p.main_config)}"


def push_script(s: Settings, bundle: Bundle) -> str:
    """The httpd push step (templates/cluster/httpd-push.sh.j2). Installs the httpd files read from
    stdin (base64: no content is ever parsed by a shell, and no argument grows with them), removes
    stale tenant files, writes the TLS cert/key read after them, then runs httpd-reload (configtest +
    graceful + status check). If the new config is refused, the previous files are put back, so a
    later restart or failover never starts httpd on a config that failed its test; if the reload
    killed httpd or left it not serving, httpd is also brought back on them (only where it ran
    before the push: Pacemaker owns where it runs)."""
    p = s.profile
    tenant_dir = f"{p.server_root}/{p.tenant_dir}"
    # Everything this step owns: the tenant folder (tenants, TLS) and the files outside it.
    managed = sorted({path for path in bundle.httpd if not path.startswith(tenant_dir + "/")}) + [tenant_dir]
    if p.main_config_has_listen:
        managed.append(p.main_config)  # its Listen lines are commented out below; restored on failure
    others, _ = _push_order(s, bundle)
    return render_template(
        "cluster/httpd-push.sh.j2",
        s=s,
        p=p,
        managed=managed,
        tenant_dir=tenant_dir,
        reload_b64=base64.b64encode(bundle.scripts["httpd-reload.sh"].encode()).decode(),
        others=others,
        tls_files=sorted(bundle.secret_files),  # server.crt, server.key
        listen_off=comment_out_listen(s) if p.main_config_has_listen else None,
    )


def build_plan(s: Settings, bundle: Bundle) -> list[Step]:
    p = s.profile
    nodes = range(len(s.cluster.nodes))
    # First, read-only: a running cluster whose identity (name, nodes, transport) differs from the
    # stack refuses the change before any step touches a node.
    steps = [Step("cluster-check", 0, bundle.scripts["cluster-check.sh"], "prepare")]
    prepare = bundle.scripts["node-prepare.sh"]
    node_files = "".join(_b64_line(text) for _, text in bundle.node_files.values())  # in the script's order
    steps += [
        Step(f"prepare-{i}", i, prepare, "prepare", stdin="hacluster_password", after=("cluster-check",),
             waits_for_first_boot=True, reruns_on_replace_of=(i,), payload=node_files)
        for i in nodes
    ]
    prepared = tuple(f"prepare-{i}" for i in nodes)
    if p.cluster_stack == "cman":  # ccs/cman configures and starts every node; a new node rejoins by it
        setup = [
            Step(f"cluster-setup-{i}", i, bundle.scripts["cluster-setup.sh"], "cluster", after=prepared,
                 reruns_on_replace_of=(i,))
            for i in nodes
        ]
    else:  # pcs sets up once, each node gets a seeded CIB, then one start of both
        setup_script = bundle.scripts["cluster-setup.sh"]
        steps.append(Step("cluster-setup", 0, setup_script, "cluster", stdin="hacluster_password", after=prepared))
        seeds = [Step(f"seed-cib-{i}", i, bundle.scripts["seed-cib.sh"], "cluster", after=("cluster-setup",)) for i in nodes]
        steps += seeds
        setup = [Step("cluster-start", 0, bundle.scripts["cluster-start.sh"], "cluster", after=tuple(st.name for st in seeds))]
        # A replaced node (fresh disk, same name and IP) is added back by the other node; on a
        # member these steps change nothing. One after the other: two `pcs host auth` at once race
        # on pcsd's known-hosts sync ("Some nodes had a newer known-hosts…", seen in a CI run).
        setup += [
            Step(f"cluster-join-{i}", 1 - i, bundle.scripts["cluster-join.sh"], "cluster", stdin="hacluster_password",
                 args=(s.cluster.nodes[i].name, str(s.cluster.nodes[i].ip)),
                 after=("cluster-start", f"prepare-{i}", *(f"cluster-join-{j}" for j in nodes if j < i)),
                 reruns_on_replace_of=(i,))
            for i in nodes
        ]
    steps += setup
    set_up = tuple(st.name for st in setup)
    qd = s.cluster.quorum_device
    device = ("quorum-device",) if "quorum-device.sh" in bundle.scripts else ()
    if "arbiter-prepare.sh" in bundle.scripts:
        steps.append(
            Step("arbiter-prepare", ARBITER, bundle.scripts["arbiter-prepare.sh"], "cluster", stdin="hacluster_password",
                 after=("cluster-check",), waits_for_first_boot=True, reruns_on_replace_of=(ARBITER,))
        )
    if "quorum-device.sh" in bundle.scripts:
        # Every corosync 3 stack has it: left out of the stack, a device is removed. A new arbiter
        # (another CA) re-runs it: the nodes need certificates from it.
        made = qd is not None and qd.create
        steps.append(
            # the password only to authenticate to an arbiter: without a device it reads nothing
            Step("quorum-device", 0, bundle.scripts["quorum-device.sh"], "cluster", stdin="hacluster_password" if qd else None,
                 after=(*set_up, *(("arbiter-prepare",) if made else ())), reruns_on_replace_of=(ARBITER,) if made else ())
        )
    # Rolling: the second node first, the first node only after the second one succeeded.
    push = push_script(s, bundle)
    stdin: SecretKind | None = "tls" if bundle.secret_files else None
    steps.append(
        Step("httpd-push-1", 1, push, "httpd", stdin=stdin, after=set_up, reruns_on_replace_of=(1,),
             payload=push_payload(s, bundle))
    )
    steps.append(
        Step("httpd-push-0", 0, push, "httpd", stdin=stdin, after=("httpd-push-1",), reruns_on_replace_of=(0,),
             payload=push_payload(s, bundle))
    )
    steps.append(
        Step(
            "cluster-resources",
            0,
            bundle.scripts["resources.sh"],
            "resources",
            args=("apply", INSTANCE_ID_A, INSTANCE_ID_B) if s.fencing else ("apply",),
            after=(*set_up, *device, "httpd-push-0"),  # with a device, fencing needs no delay
            reruns_on_replace_of=(0, 1) if s.fencing else (),  # the fence host map names the instances
        )
    )
    return steps
