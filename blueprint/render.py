"""Pure rendering: settings -> the bundle of text files both load-balancer nodes need.

No Pulumi import, no clock, no randomness: the same settings give a byte-identical bundle.
Secrets never enter the bundle; the files that hold them are listed in ``secret_files`` and are
written on the node at deploy time from stdin.
"""

from __future__ import annotations

import base64
import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import yaml

from .profiles import EXPORTER_PORT, OsProfile
from .services import BY_KEY, SERVICES
from .settings import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXPORTER_SOURCE = Path(__file__).resolve().parent / "exporter.py"  # runs on the nodes
EXPORTER_PATH = "/usr/local/libexec/gir-lb/gir-lb-exporter"
EXPORTER_UNIT = "/etc/systemd/system/gir-lb-exporter.service"
# network.vip_mode -> the gir-lb OCF agent that moves its VIP (templates/cluster/gir-lb-<name>.j2)
VIP_AGENTS = {"aws": "awsvip", "overlay": "aws-vpc-move-ip"}
# 250 would cost 4% less memory per held poll (`python -m bench capacity`), but an old worker then
# takes longer to join its threads at a graceful reload: in tests/live 10-12 wake-ups per 20 reloads
# instead of 0-4, worst 80-86 ms instead of 40-52, one run in five over 0.4 s (docs/reload.md).
THREADS_PER_CHILD = 100
LISTEN_BACKLOG = 4096


def _httpd_quote(value: object) -> str:
    """A double-quoted httpd argument. Settings already restrict every value that gets here;
    this refuses anything that could still end the quoted string or the line."""
    text = str(value)
    if re.search(r'["\\\n\r]', text):
        raise ValueError(f"refusing to put {text!r} into an httpd config")
    return f'"{text}"'


def _shell_quote(value: object) -> str:
    return shlex.quote(str(value))


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["q"] = _httpd_quote
_env.filters["sh"] = _shell_quote
_env.globals["services"] = BY_KEY


def render_template(name: str, **context: object) -> str:
    """One template under templates/, with the quoting filters (q: httpd, sh: shell)."""
    return _env.get_template(name).render(**context)


@dataclass(frozen=True)
class MpmSizing:
    workers_needed: int
    threads_per_child: int
    processes: int
    max_request_workers: int
    server_limit: int
    listen_backlog: int


def mpm_sizing(max_agents: int, headroom_percent: int, threads_per_child: int = THREADS_PER_CHILD) -> MpmSizing:
    """One worker thread per held RWS long-poll plus headroom; ServerLimit doubled so a
    graceful reload can start new children while old ones still hold polls."""
    needed = max_agents + math.ceil(max_agents * headroom_percent / 100)
    processes = max(1, math.ceil(needed / threads_per_child))
    return MpmSizing(
        workers_needed=needed,
        threads_per_child=threads_per_child,
        processes=processes,
        max_request_workers=processes * threads_per_child,
        server_limit=2 * processes,
        listen_backlog=LISTEN_BACKLOG,
    )


@dataclass(frozen=True)
class Bundle:
    """Everything the nodes get, keyed by path. ``httpd`` paths are absolute on the node."""

    httpd: dict[str, str]
    user_data: str
    scripts: dict[str, str]  # script name -> text
    secret_files: dict[str, str] = field(default_factory=dict)  # node path -> what fills it
    # node path -> (mode, text): what node-prepare installs, read from its stdin (gir-lb-exporter)
    node_files: dict[str, tuple[str, str]] = field(default_factory=dict)
    monitoring: dict[str, str] = field(default_factory=dict)  # Prometheus files (not on the nodes): name -> text
    arbiter_user_data: str | None = None  # cloud-config of the arbiter gir-lb makes (cluster.quorum_device.create)

    def tree(self, secret_placeholder: str = "<secret: {} - written at deploy time>\n") -> dict[str, str]:
        """The bundle as a folder that mirrors the node (for `render --out` and diffs); monitoring/ is
        for the operator's Prometheus, not the nodes."""
        out = {path.lstrip("/"): text for path, text in self.httpd.items()}
        out.update({path.lstrip("/"): secret_placeholder.format(what) for path, what in self.secret_files.items()})
        out["cloud-init/user-data.yaml"] = self.user_data
        if self.arbiter_user_data is not None:
            out["cloud-init/arbiter-user-data.yaml"] = self.arbiter_user_data
        out.update({f"cluster/{name}": text for name, text in self.scripts.items()})
        out.update({path.lstrip("/"): text for path, (_, text) in self.node_files.items()})
        out.update({f"monitoring/{name}": text for name, text in self.monitoring.items()})
        return dict(sorted(out.items()))


def _header(s: Settings, comment: str = "#") -> str:
    return f"{comment} Managed by gir-lb (environment {s.environment}). Do not edit on the node: change the stack and deploy."


def kernel_threads(m: MpmSizing) -> int:
    """The pid_max and threads-max a node needs: every httpd thread of two generations (a graceful
    reload) plus room for the OS, Pacemaker and Corosync."""
    return m.server_limit * m.threads_per_child + 8192


def mpm_conf(s: Settings, threads_per_child: int = THREADS_PER_CHILD) -> str:
    """gir-lb-mpm.conf (other threads_per_child: `python -m bench capacity` compares them)."""
    m = mpm_sizing(s.httpd.max_agents, s.httpd.headroom_percent, threads_per_child)
    return _env.get_template("httpd/mpm.conf.j2").render(s=s, p=s.profile, header=_header(s), m=m)


def _systemd_quote(word: str) -> str:
    """One ExecStart argument: bare when plain, else double-quoted (systemd and the lab's shell
    read both the same way); anything either would expand is refused."""
    if re.search(r'["\\$%`\s]', word):
        raise ValueError(f"refusing to put {word!r} into a unit file")
    return word if re.fullmatch(r"[A-Za-z0-9_./:=,-]+", word) else f'"{word}"'


def exporter_args(s: Settings, tls_cert_path: str) -> list[str]:
    """gir-lb-exporter's command line on the nodes (its unit's ExecStart)."""
    p = s.profile
    assert p.metrics is not None
    return [
        p.metrics.python, EXPORTER_PATH, "--listen", f":{EXPORTER_PORT}",
        "--status-url", f"http://127.0.0.1:{s.httpd.port}/server-status?auto",
        "--balancers", ",".join(f"{svc.balancer}={svc.key}" for svc in SERVICES),
        "--vip-resource", "virtual_ip",
        *(["--tls-cert", tls_cert_path] if s.httpd.tls.enabled else []),
        *(["--quorum-device"] if s.cluster.quorum_device is not None else []),
    ]  # fmt: skip


def exporter_files(s: Settings, tls_cert_path: str) -> dict[str, tuple[str, str]]:
    """node path -> (mode, text): gir-lb-exporter (blueprint/exporter.py) and its systemd unit."""
    unit = _env.get_template("monitoring/gir-lb-exporter.service.j2").render(
        header=_header(s), exec_start=" ".join(map(_systemd_quote, exporter_args(s, tls_cert_path)))
    )
    return {EXPORTER_PATH: ("0755", EXPORTER_SOURCE.read_text()), EXPORTER_UNIT: ("0644", unit)}


def render_bundle(s: Settings) -> Bundle:
    p = s.profile
    root = p.server_root
    tls_dir = f"{p.tenant_dir}/tls"
    ctx = dict(s=s, p=p, header=_header(s))
    m = mpm_sizing(s.httpd.max_agents, s.httpd.headroom_percent)

    def render(template: str, **extra: object) -> str:
        return _env.get_template(template).render(**ctx, **extra)

    httpd = {
        f"{root}/{p.conf_dir}/serverstatus.conf": render("httpd/serverstatus.conf.j2"),
        f"{root}/{p.conf_dir}/gir-lb.conf": render("httpd/gir-lb.conf.j2"),
        f"{root}/{p.conf_dir}/gir-lb-mpm.conf": mpm_conf(s),
        f"{root}/{p.listen_conf}": render("httpd/listen.conf.j2"),
    }
    for t in s.tenants:
        httpd[f"{root}/{p.tenant_dir}/loadbalancer_{t.id}.conf"] = render("httpd/loadbalancer_tenant.conf.j2", t=t)
    secret_files = {}
    member_ca_file = p.system_ca_file
    if s.httpd.member_ca_cert:
        member_ca_file = f"{tls_dir}/members-ca.crt"
        httpd[f"{root}/{member_ca_file}"] = s.httpd.member_ca_cert.strip() + "\n"
    if s.httpd.tls.enabled or s.any_https_member or p.ssl_conf_is_stock:
        httpd[f"{root}/{p.ssl_conf}"] = render(
            "httpd/ssl.conf.j2",
            tls_cert_path=f"{tls_dir}/server.crt",
            tls_key_path=f"{tls_dir}/server.key",
            member_ca_file=member_ca_file,
        )
    if s.httpd.tls.enabled:
        source = "gir-lb:tls_cert" if s.tls_cert else "a generated self-signed certificate"
        secret_files[f"{root}/{tls_dir}/server.crt"] = source
        secret_files[f"{root}/{tls_dir}/server.key"] = "gir-lb:tls_key" if s.tls_key else "its generated key"

    stack_dir = f"cluster/{p.cluster_stack}"  # each cluster stack (cman, corosync3) has its own scripts
    # The VIP's gir-lb agent: the stock one with our monitor and start (awsvip: from the instance
    # metadata instead of the EC2 API) or our start (aws-vpc-move-ip: every table at once); each
    # agent says why.
    agent_name = VIP_AGENTS.get(s.network.vip_mode)
    agent = render(f"cluster/gir-lb-{agent_name}.j2") if agent_name else None
    node_files = exporter_files(s, f"{root}/{tls_dir}/server.crt") if p.metrics else {}
    scripts = {
        "cluster-check.sh": render(f"{stack_dir}/cluster-check.sh.j2"),
        "node-prepare.sh": render(
            f"{stack_dir}/node-prepare.sh.j2",
            kernel_threads=kernel_threads(m),
            vip_agent=(agent_name, base64.b64encode(agent.encode()).decode()) if agent else None,
            node_files=[(path, mode) for path, (mode, _) in node_files.items()],
        ),
        "cluster-setup.sh": render(f"{stack_dir}/cluster-setup.sh.j2"),
        "resources.sh": render(
            f"{stack_dir}/resources.sh.j2",
            fencing=s.fencing,
            fence_args=" INSTANCE_ID_A INSTANCE_ID_B" if s.fencing else "",
        ),
        "httpd-reload.sh": render("cluster/httpd-reload.sh.j2"),
    }
    if p.cluster_stack == "corosync3":
        scripts["seed-cib.sh"] = render(f"{stack_dir}/seed-cib.sh.j2")
        scripts["cluster-start.sh"] = render(f"{stack_dir}/cluster-start.sh.j2")
        scripts["cluster-join.sh"] = render(f"{stack_dir}/cluster-join.sh.j2")
    if agent:
        scripts[f"gir-lb-{agent_name}.sh"] = agent  # installed as /usr/lib/ocf/resource.d/gir-lb/<agent_name>
    qd = s.cluster.quorum_device
    if p.quorum_device is not None:  # every corosync 3 stack: the step also removes a device left out
        scripts["quorum-device.sh"] = render(f"{stack_dir}/quorum-device.sh.j2", qd=qd, holds_vip=holds_vip_command(s))
    if qd is not None and qd.create:
        scripts["arbiter-prepare.sh"] = render(f"{stack_dir}/arbiter-prepare.sh.j2")
    return Bundle(
        httpd=httpd,
        user_data=render_user_data(s, p),
        scripts=scripts,
        secret_files=secret_files,
        node_files=node_files,
        monitoring=render_monitoring(s),
        arbiter_user_data=render_arbiter_user_data(s) if qd is not None and qd.create else None,
    )


def holds_vip_command(s: Settings) -> str:
    """The quorum device's heuristic (corosync-qdevice runs it, split like a Bourne shell would,
    without a shell): passes on the node that holds the VIP, so in a split the arbiter votes for
    the side that serves."""
    return f'/bin/sh -c "/usr/sbin/ip -o -4 addr show to {s.network.vip}/32 | /usr/bin/grep -q ."'


def render_arbiter_user_data(s: Settings) -> str:
    """The arbiter's cloud-config: qnetd and pcs (pcsd signs the nodes' certificates); the
    arbiter-prepare step sets its hacluster password and sets qnetd up."""
    q = s.profile.quorum_device
    assert q is not None, "the settings refuse a quorum device on a profile without one"
    doc = {"packages": list(q.arbiter), "runcmd": [["systemctl", "enable", "--now", "pcsd"]]}
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)
    return f"#cloud-config\n{_header(s)}\n{body}"


def render_monitoring(s: Settings) -> dict[str, str]:
    """The files an operator loads into their Prometheus (docs/monitoring.md): the stack's alert
    rules and the scrape jobs for its two nodes. Empty for a profile whose nodes run no exporter."""
    metrics = s.profile.metrics
    if metrics is None:
        return {}
    header = f"# Rendered by gir-lb from the stack of environment {s.environment}: change the stack and render again."
    ctx = dict(s=s, header=header, metrics=metrics, exporter_port=EXPORTER_PORT)
    return {
        "gir-lb-alerts.yml": _env.get_template("monitoring/alerts.yml.j2").render(**ctx),
        "prometheus-scrape.yml": _env.get_template("monitoring/prometheus.yml.j2").render(**ctx),
    }


def render_user_data(s: Settings, p: OsProfile) -> str:
    """cloud-config with packages and base OS only: it must not change with tenants or secrets,
    or every tenant change would replace the instances."""
    runcmd: list[list[str]] = []
    if p.apache_modules:
        runcmd.append(["a2enmod", "-q", *p.apache_modules])
    if p.init == "sysv":
        runcmd.append(["chkconfig", p.httpd_service, "off"])
    else:
        runcmd.append(["systemctl", "disable", "--now", p.httpd_service])
    if p.resets_packaged_cluster:
        runcmd.append(["pcs", "cluster", "destroy", "--force"])
    if not p.pcs_legacy:
        runcmd.append(["systemctl", "enable", "--now", "pcsd"])
    doc: dict[str, object] = {"packages": [*p.packages, *(p.metrics.packages if p.metrics else ())]}
    if s.network.vip_mode != "l2":
        # awsvip and the aws CLI read the region from the profile (Debian's awsvip has no region=).
        doc["write_files"] = [
            {
                "path": "/root/.aws/config",
                "permissions": "0600",
                "content": f"[default]\nregion = {s.network.region}\n",
            }
        ]
    doc["runcmd"] = runcmd
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=1000)
    return f"#cloud-config\n{_header(s)}\n{body}"


def user_data_with_host_key(user_data: str, private_key: str, public_key: str) -> str:
    """One node's user-data: the bundle's, plus the SSH host key the program generated for it
    (cloud-init `ssh_keys`), so the bootstrap can pin that key from its first connection. Only the
    ed25519 key is installed; cloud-init generates no other. The result is secret: it holds a key."""
    keys = {
        "ssh_deletekeys": True,
        "ssh_genkeytypes": [],
        "ssh_keys": {"ed25519_private": private_key.rstrip("\n") + "\n", "ed25519_public": public_key.strip()},
    }
    return user_data + yaml.safe_dump(keys, sort_keys=False, default_flow_style=False, width=1000)
