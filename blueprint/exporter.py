#!/usr/bin/env python3
"""gir-lb-exporter: the cluster, every tenant's balancer members and the front's TLS certificate as
Prometheus metrics, collected when scraped (docs/monitoring.md lists them).

It runs on the nodes (installed by node-prepare as /usr/local/libexec/gir-lb/gir-lb-exporter), so
it keeps to the standard library and to Python 3.6 (RHEL 8's platform-python). Tests import it
for its parsers, which read what the real programs print: `crm_mon --output-as=xml`, httpd's
`/server-status?auto` (with `ProxyStatus On`, one `ProxyBalancer[i]Worker[j]...` line per field)
and, with a quorum device, `corosync-quorumtool -s`.
"""

import argparse
import calendar
import re
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from typing import Dict, List, Optional, Tuple  # noqa: F401 (Optional: a type comment)

Labels = Tuple[Tuple[str, str], ...]
Sample = Tuple[str, Labels, float]

HELP = {
    "gir_lb_httpd_up": "1 when httpd answers its status page on this node",
    "gir_lb_member_usable": "1 when Apache may send requests to the member",
    "gir_lb_member_standby": "1 for a hot standby member",
    "gir_lb_standby_in_use": "1 when this hot standby takes the traffic (no other member usable)",
    "gir_lb_service_usable_members": "usable members of a tenant's service (standbys included)",
    "gir_lb_cluster_up": "1 when crm_mon answered on this node",
    "gir_lb_cluster_quorate": "1 when this node's partition has quorum",
    "gir_lb_cluster_node_online": "1 when this node sees that cluster node online",
    "gir_lb_cluster_vip_on": "1 for the node where every VIP resource runs",
    "gir_lb_cluster_resource_running": "1 where the resource runs",
    "gir_lb_cluster_fail_count": "the resource's fail count on that node",
    "gir_lb_cluster_resource_banned": "1 when the fail count reached the migration-threshold",
    "gir_lb_cluster_failed_actions": "failed resource actions Pacemaker remembers",
    "gir_lb_cluster_fencing_failed": "failed fencing actions in the fencing history",
    "gir_lb_cluster_fencing_pending": "fencing actions under way",
    "gir_lb_tls_cert_expiry_timestamp_seconds": "when the front's TLS certificate ends",
    "gir_lb_quorum_device_voting": "1 when the arbiter's vote counts on this node (corosync-quorumtool: Qdevice flag V)",
    "gir_lb_collect_error": "1 when that source could not be read this scrape",
}

# Apache's worker status flags (ap_proxy_parse_wstatus): any of these and no request goes there.
NOT_USABLE = {"Err", "Dis", "Drn", "Stop", "HcFl"}


def sample(name: str, value: float, **labels: str) -> Sample:
    return name, tuple(sorted(labels.items())), float(value)


def balancer_members(status_auto: str, services: Dict[str, str]) -> List[Sample]:
    """Member samples from /server-status?auto. `services` maps a balancer's suffix to the
    service key (balancer://t1-rcs -> tenant t1, service rcs); other balancers are left out."""
    balancers = {}  # type: Dict[str, Tuple[str, str]]
    workers = {}  # type: Dict[Tuple[str, str], Dict[str, str]]
    for line in status_auto.splitlines():
        m = re.match(r"ProxyBalancer\[(\d+)\](?:Worker\[(\d+)\])?(\w+): (.*)$", line)
        if not m:
            continue
        b, w, field, value = m.groups()
        if w is None and field == "Name":
            name = value.strip()
            tenant, _, suffix = name[len("balancer://") :].partition("-")
            if name.startswith("balancer://") and suffix in services:
                balancers[b] = (tenant, services[suffix])
        elif w is not None:
            workers.setdefault((b, w), {})[field] = value.strip()
    out = []  # type: List[Sample]
    by_service = {}  # type: Dict[Tuple[str, str], List[Tuple[str, bool, bool]]]
    for (b, _), fields in sorted(workers.items(), key=lambda kv: (int(kv[0][0]), int(kv[0][1]))):
        if b not in balancers or "Name" not in fields:
            continue
        flags = set(fields.get("Status", "").split())
        usable, standby = not (flags & NOT_USABLE) and "Ok" in flags, "Stby" in flags
        by_service.setdefault(balancers[b], []).append((fields["Name"], usable, standby))
    for (tenant, service), members in sorted(by_service.items()):
        regular_usable = any(usable for _, usable, standby in members if not standby)
        for url, usable, standby in members:
            labels = dict(tenant=tenant, service=service, member=url)
            out.append(sample("gir_lb_member_usable", usable, **labels))
            out.append(sample("gir_lb_member_standby", standby, **labels))
            if standby:
                out.append(sample("gir_lb_standby_in_use", usable and not regular_usable, **labels))
        usable_count = sum(1 for _, usable, _ in members if usable)
        out.append(sample("gir_lb_service_usable_members", usable_count, tenant=tenant, service=service))
    return out


def cluster_state(crm_mon_xml: str, vip_resource: str) -> List[Sample]:
    """Cluster samples from `crm_mon --output-as=xml` as this node sees the cluster."""
    root = ET.fromstring(crm_mon_xml)
    dc = root.find("summary/current_dc")
    out = [sample("gir_lb_cluster_quorate", dc is not None and dc.get("with_quorum") == "true")]
    nodes = [n.get("name", "") for n in root.findall("nodes/node")]
    for n in root.findall("nodes/node"):
        out.append(sample("gir_lb_cluster_node_online", n.get("online") == "true", node=n.get("name", "")))
    running = {}  # type: Dict[str, List[str]]
    for r in root.iter("resource"):
        running[r.get("id", "")] = [n.get("name", "") for n in r.findall("node")]
    for rid, where in sorted(running.items()):
        for node in nodes:
            out.append(sample("gir_lb_cluster_resource_running", node in where, resource=rid, node=node))
    vip = root.find(".//*[@id='{}']".format(vip_resource))
    vip_parts = [vip] if vip is not None and vip.tag == "resource" else list(vip.iter("resource")) if vip is not None else []
    for node in nodes:
        on = bool(vip_parts) and all(node in running.get(r.get("id", ""), []) for r in vip_parts)
        out.append(sample("gir_lb_cluster_vip_on", on, node=node))
    counts = {}  # type: Dict[Tuple[str, str], Tuple[int, Optional[int]]]
    for n in root.findall("node_history/node"):
        for h in n.findall("resource_history"):
            limit = h.get("migration-threshold")
            counts[(h.get("id", ""), n.get("name", ""))] = (
                _count(h.get("fail-count", "0")),
                _count(limit) if limit is not None else None,
            )
    for rid in sorted(running):
        for node in nodes:
            fails, threshold = counts.get((rid, node), (0, None))
            out.append(sample("gir_lb_cluster_fail_count", fails, resource=rid, node=node))
            banned = threshold is not None and threshold > 0 and fails >= threshold
            out.append(sample("gir_lb_cluster_resource_banned", banned, resource=rid, node=node))
    out.append(sample("gir_lb_cluster_failed_actions", len(root.findall("failures/failure"))))
    events = root.findall("fence_history/fence_event")
    out.append(sample("gir_lb_cluster_fencing_failed", sum(1 for e in events if e.get("status") == "failed")))
    out.append(sample("gir_lb_cluster_fencing_pending", sum(1 for e in events if e.get("status") == "pending")))
    return out


def _count(text: str) -> int:
    """A fail count or threshold: Pacemaker writes INFINITY as a word."""
    return 1000000 if text.upper() == "INFINITY" else int(text)


def cert_expiry(openssl_enddate: str) -> float:
    """`openssl x509 -noout -enddate` output (notAfter=Dec  7 11:00:00 2027 GMT) as epoch seconds."""
    text = openssl_enddate.strip().split("=", 1)[1]
    return float(calendar.timegm(time.strptime(text, "%b %d %H:%M:%S %Y %Z")))


def quorum_device_voting(quorumtool_status: str) -> bool:
    """`corosync-quorumtool -s` output: True when this node's Qdevice flags (on its membership line,
    marked `(local)`) hold V: its corosync-qdevice reached the arbiter and the arbiter's vote counts
    here; NV when the arbiter cannot be reached (or voted for the other side of a split). Raises
    when the line has no Qdevice flags (the cluster has no quorum device)."""
    for line in quorumtool_status.splitlines():
        words = line.split()
        if line.rstrip().endswith("(local)") and len(words) >= 5:
            return "V" in words[2].split(",")
    raise ValueError("no Qdevice flags on the local node's line in corosync-quorumtool's output")


def exposition(samples: List[Sample]) -> str:
    """The Prometheus text format, each metric's HELP and TYPE before its samples."""
    lines = []  # type: List[str]
    seen = set()
    for name, labels, value in sorted(samples, key=lambda s: (s[0], s[1])):
        if name not in seen:
            seen.add(name)
            lines += ["# HELP {} {}".format(name, HELP[name]), "# TYPE {} gauge".format(name)]
        text = ",".join('{}="{}"'.format(k, _escape(v)) for k, v in labels)
        lines.append("{}{} {}".format(name, "{" + text + "}" if text else "", _number(value)))
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _run(*cmd: str) -> str:
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=20)
    if done.returncode != 0:
        raise RuntimeError("{} exited {}: {}".format(cmd[0], done.returncode, done.stderr.strip()[:200]))
    return done.stdout


def _quorum_device() -> bool:
    """Whether the arbiter's vote counts on this node now. corosync-quorumtool, not
    corosync-qdevice-tool: qdevice's socket is root's alone, and this exporter runs as hacluster.
    Its exit status 2 only says "not quorate": the output is read all the same."""
    done = subprocess.run(
        ("corosync-quorumtool", "-s"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=5
    )
    if done.returncode not in (0, 2):
        raise RuntimeError("corosync-quorumtool exited {}: {}".format(done.returncode, done.stderr.strip()[:200]))
    return quorum_device_voting(done.stdout)


def collect(args: argparse.Namespace) -> List[Sample]:
    """One scrape: every source read now; a source that fails is reported, the others still are."""
    services = dict(pair.split("=", 1) for pair in args.balancers.split(","))
    out = []  # type: List[Sample]
    try:
        with urllib.request.urlopen(args.status_url, timeout=5) as response:
            status = response.read().decode("utf-8", "replace")
        out += [sample("gir_lb_httpd_up", 1)] + balancer_members(status, services)
    except OSError:
        # httpd runs on the active node only: elsewhere no status page is the normal state.
        out.append(sample("gir_lb_httpd_up", 0))
    try:
        xml = _run("crm_mon", "--output-as=xml", "--include=all", "--fence-history=2")
        out += [sample("gir_lb_cluster_up", 1)] + cluster_state(xml, args.vip_resource)
        out.append(sample("gir_lb_collect_error", 0, source="crm_mon"))
    except (OSError, RuntimeError, ET.ParseError, subprocess.TimeoutExpired, ValueError):
        out += [sample("gir_lb_cluster_up", 0), sample("gir_lb_collect_error", 1, source="crm_mon")]
    if args.tls_cert:
        try:
            enddate = _run("openssl", "x509", "-noout", "-enddate", "-in", args.tls_cert)
            out.append(sample("gir_lb_tls_cert_expiry_timestamp_seconds", cert_expiry(enddate)))
            out.append(sample("gir_lb_collect_error", 0, source="tls"))
        except (OSError, RuntimeError, ValueError, IndexError, subprocess.TimeoutExpired):
            out.append(sample("gir_lb_collect_error", 1, source="tls"))
    if args.quorum_device:
        try:
            out.append(sample("gir_lb_quorum_device_voting", _quorum_device()))
            out.append(sample("gir_lb_collect_error", 0, source="qdevice"))
        except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired):
            out.append(sample("gir_lb_collect_error", 1, source="qdevice"))
    return out


class _Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True


def serve(args: argparse.Namespace) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = exposition(collect(args)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *a: object) -> None:  # noqa: A002 (the http.server API)
            pass  # one line per scrape would fill the journal

    host, _, port = args.listen.rpartition(":")
    _Server((host, int(port)), Handler).serve_forever()


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="address:port to serve /metrics on")
    parser.add_argument("--status-url", required=True, help="httpd's status page, ?auto")
    parser.add_argument("--balancers", required=True, help="balancer suffix=service key, comma-separated")
    parser.add_argument("--vip-resource", required=True, help="the VIP's resource or group id")
    parser.add_argument("--tls-cert", help="the front's certificate file (TLS on)")
    parser.add_argument("--quorum-device", action="store_true", help="report whether the arbiter's vote counts here")
    parser.add_argument("--once", action="store_true", help="print one scrape and exit")
    args = parser.parse_args(argv)
    if args.once:
        sys.stdout.write(exposition(collect(args)))
        return 0
    serve(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
