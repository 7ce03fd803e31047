"""What differs between the supported operating systems: httpd 2.2 vs 2.4, paths, packages,
cman vs corosync 3, pcs 0.9 vs 0.10+ syntax, where each may run. Pure data: the settings rules,
the renderer and the components read these fields and never name a profile, so adding an
operating system is one entry here (CONTRIBUTING.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PLATFORMS = ("aws", "lab", "lan")  # gir-lb:platform
DEFAULT_PROFILE = "rhel9"  # gir-lb:os_profile left out


@dataclass(frozen=True)
class AmiLookup:
    """How the program finds the image on AWS: the newest AMI of `owner` whose name matches."""

    owner: str
    name_filter: str


EXPORTER_PORT = 9663  # gir-lb-exporter (the cluster, the balancers, the TLS certificate) on every node


@dataclass(frozen=True)
class NodeMetrics:
    """What a profile's nodes run to be watched: the distribution's exporter of node basics, and
    the interpreter of gir-lb-exporter (blueprint/exporter.py)."""

    packages: tuple[str, ...]  # the node-basics exporter, from the distribution's repositories
    service: str
    port: int  # where it serves Prometheus metrics at /metrics
    python: str  # RHEL 8 has no /usr/bin/python3 until python3 is installed; platform-python always


@dataclass(frozen=True)
class QuorumDevicePackages:
    """What a quorum device needs: corosync-qdevice on the nodes, corosync-qnetd and pcs (whose pcsd
    signs the nodes' certificates) on an arbiter gir-lb makes, and how a node installs a package
    (a running stack that gains an arbiter installs it in the step, not by changing the user-data,
    which would restart the instances)."""

    node: str
    arbiter: tuple[str, ...]
    install: tuple[str, ...]  # the command that installs one package, without it


@dataclass(frozen=True)
class OsProfile:
    name: str
    httpd_version: str  # "2.2" | "2.4"
    server_root: str  # httpd ServerRoot; relative Include/SSL paths resolve against it
    conf_dir: str  # directory (relative to server_root) the main config already includes
    main_config: str
    httpd_binary: str
    pid_file: str
    test_config: str  # shell command: config test of the main config
    # Listen: the bundle renders every Listen line into listen_conf. Debian keeps its stock Listen
    # lines in ports.conf alone, which the bundle replaces; RHEL keeps `Listen 80` in httpd.conf,
    # the main config, which the bundle does not own: the push comments its Listen lines out
    # (main_config_has_listen; see plan.comment_out_listen).
    listen_conf: str
    main_config_has_listen: bool
    # RHEL's mod_ssl package ships conf.d/ssl.conf with `Listen 443 https` and a default vhost:
    # the bundle always replaces it (ssl_conf_is_stock), also without TLS.
    ssl_conf: str
    ssl_conf_is_stock: bool
    ssl_session_cache: str | None
    system_ca_file: str
    packages: tuple[str, ...]
    apache_modules: tuple[str, ...]  # enabled by a2enmod (Debian only; RHEL loads them by default)
    cluster_stack: str  # "cman" | "corosync3"
    pcs_legacy: bool  # pcs 0.9 command syntax
    init: str  # "sysv" | "systemd"
    httpd_service: str
    # Where it may not run, and why (a refused stack shows it, followed by the profiles that do run
    # there); it runs on the other PLATFORMS.
    not_on: Mapping[str, str]
    ami: AmiLookup | None  # only a profile that runs on aws has one
    transport: str  # the corosync transport its cluster stack runs: "udpu" (cman) | "knet" (corosync 3)
    token_default_ms: int  # the totem token when cluster.token_ms is left out
    # Debian's corosync package starts a one-node default cluster at install: pcs must destroy it.
    resets_packaged_cluster: bool
    # None: the nodes run no exporter (RHEL 6: no Python 3, no packaged exporter).
    metrics: NodeMetrics | None
    # None: its cluster stack has no corosync-qdevice (cman's quorum disk is another design).
    quorum_device: QuorumDevicePackages | None

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(p for p in PLATFORMS if p not in self.not_on)

    @property
    def tenant_dir(self) -> str:
        """Tenant files live in a subfolder the conf_dir glob does not reach: they are included
        one by one from gir-lb.conf, so a removed tenant's stale file can never load."""
        return f"{self.conf_dir}/gir-lb"


_RHEL_COMMON: dict[str, Any] = dict(
    server_root="/etc/httpd",
    conf_dir="conf.d",
    main_config="/etc/httpd/conf/httpd.conf",
    listen_conf="conf.d/gir-lb-listen.conf",
    main_config_has_listen=True,
    ssl_conf="conf.d/ssl.conf",
    ssl_conf_is_stock=True,
    system_ca_file="/etc/pki/tls/certs/ca-bundle.crt",
    apache_modules=(),
    httpd_service="httpd",
    resets_packaged_cluster=False,
)
RED_HAT = "309956199498"
LAB_IS_DEBIAN = "the lab runs Debian 12 in network namespaces"

PROFILES: dict[str, OsProfile] = {
    "rhel6": OsProfile(
        name="rhel6",
        httpd_version="2.2",
        # The worker MPM: prefork would need one process per held long-poll.
        httpd_binary="/usr/sbin/httpd.worker",
        pid_file="/var/run/httpd/httpd.pid",
        test_config="/usr/sbin/httpd.worker -t -f /etc/httpd/conf/httpd.conf",
        ssl_session_cache="shmcb:/var/cache/mod_ssl/scache(512000)",
        packages=("httpd", "mod_ssl", "pacemaker", "cman", "pcs", "ccs", "resource-agents"),
        cluster_stack="cman",
        pcs_legacy=True,
        init="sysv",
        not_on={
            "aws": "RHEL 6 has neither awsvip nor fence_aws, so its VIP cannot move on AWS",
            "lab": LAB_IS_DEBIAN,
        },
        ami=None,
        transport="udpu",
        # cman's own default; Red Hat tests it between 5000 and 300000 ms.
        token_default_ms=10000,
        metrics=None,
        quorum_device=None,
        **_RHEL_COMMON,
    ),
    **{
        name: OsProfile(
            name=name,
            httpd_version="2.4",
            httpd_binary="/usr/sbin/httpd",
            pid_file="/run/httpd/httpd.pid",
            # apachectl on RHEL 7+ delegates to systemctl; Pacemaker, not systemd, runs httpd.
            test_config="/usr/sbin/httpd -t -f /etc/httpd/conf/httpd.conf",
            ssl_session_cache="shmcb:/run/httpd/sslcache(512000)",
            packages=(
                "httpd",
                "mod_ssl",
                "pacemaker",
                "pcs",
                "resource-agents-cloud",
                "fence-agents-aws",
                "awscli2" if name == "rhel9" else "awscli",
            ),
            cluster_stack="corosync3",
            pcs_legacy=False,
            init="systemd",
            not_on={"lab": LAB_IS_DEBIAN},
            ami=AmiLookup(owner=RED_HAT, name_filter=f"RHEL-{version}.*_HVM-*-x86_64-*"),
            transport="knet",
            token_default_ms=3000,  # corosync 3 on RHEL 8.4 and later
            # BaseOS/AppStream ship no node_exporter; Red Hat's metrics stack is PCP, whose pmproxy
            # serves OpenMetrics at :44322/metrics (pcp-zeroconf: pmcd, pmlogger, pmproxy).
            metrics=NodeMetrics(
                packages=("pcp-zeroconf",),
                service="pmproxy",
                port=44322,
                python="/usr/libexec/platform-python" if name == "rhel8" else "/usr/bin/python3",
            ),
            # From the High Availability repository, like pacemaker and pcs.
            quorum_device=QuorumDevicePackages(
                node="corosync-qdevice", arbiter=("pcs", "corosync-qnetd"), install=("dnf", "-y", "install")
            ),
            **_RHEL_COMMON,
        )
        for name, version in (("rhel8", "8"), ("rhel9", "9"))
    },
    "debian12": OsProfile(
        name="debian12",
        httpd_version="2.4",
        server_root="/etc/apache2",
        conf_dir="conf-enabled",
        main_config="/etc/apache2/apache2.conf",
        httpd_binary="/usr/sbin/apache2",
        pid_file="/run/apache2/apache2.pid",
        test_config="/usr/sbin/apache2ctl -t",
        listen_conf="ports.conf",
        main_config_has_listen=False,
        ssl_conf="conf-enabled/gir-lb-ssl.conf",
        ssl_conf_is_stock=False,
        ssl_session_cache=None,
        system_ca_file="/etc/ssl/certs/ca-certificates.crt",
        packages=("apache2", "pacemaker", "corosync", "pcs", "resource-agents", "fence-agents", "awscli", "curl"),
        apache_modules=(
            "proxy",
            "proxy_http",
            "proxy_balancer",
            "lbmethod_byrequests",
            "slotmem_shm",
            "headers",
            "status",
            "ssl",
        ),
        cluster_stack="corosync3",
        pcs_legacy=False,
        init="systemd",
        httpd_service="apache2",
        not_on={"aws": "debian12 is the local lab's profile, not for AWS"},
        ami=None,
        transport="knet",
        token_default_ms=3000,
        resets_packaged_cluster=True,
        metrics=NodeMetrics(
            packages=("prometheus-node-exporter",), service="prometheus-node-exporter", port=9100, python="/usr/bin/python3"
        ),
        quorum_device=QuorumDevicePackages(
            node="corosync-qdevice", arbiter=("pcs", "corosync-qnetd"), install=("apt-get", "install", "-y")
        ),
    ),
}
