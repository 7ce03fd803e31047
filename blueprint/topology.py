"""The pair's topology as Graphviz DOT text, from a stack's settings: clients → VIP → the two nodes,
each tenant's balancers and members, the cluster links between the nodes, and the SSH path the
bootstrap takes. Pure; `scripts/topology.sh` renders it (docs/topology.png)."""

from __future__ import annotations

from blueprint.services import SERVICES
from blueprint.settings import Settings


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def topology_dot(s: Settings, stack: str) -> str:
    nodes = s.cluster.nodes
    ports = ", ".join(str(p) for p, _ in s.httpd.listen_ports)
    vip_by = {"aws": "awsvip + IPaddr2", "l2": "IPaddr2", "overlay": "aws-vpc-move-ip (route tables)"}[s.network.vip_mode]
    subnets = [str(s.network.node_subnet(i)[1]) for i in range(len(nodes))]
    where = f"subnets {' and '.join(subnets)}" if subnets[0] != subnets[1] else f"subnet {subnets[0]}"
    fencing = "fence_aws (StopInstances)" if s.fencing else "fencing off"
    lines = [
        f"digraph {_q('gir-lb ' + stack)} {{",
        "  rankdir=LR; fontname=Helvetica; node [fontname=Helvetica, fontsize=10, shape=box, style=rounded];",
        "  edge [fontname=Helvetica, fontsize=9];",
        f"  label={_q(f'gir-lb stack {stack}: {s.os_profile}, {where}')}; labelloc=t;",
        f"  clients [label={_q('GIR clients' + chr(10) + ', '.join(map(str, s.network.client_cidrs)))}, shape=ellipse];",
        f"  operator [label={_q('pulumi up (operator / CI)')}, shape=ellipse];",
        f"  vip [label={_q(f'VIP {s.network.vip}' + chr(10) + f'{vip_by}, port(s) {ports}')}, shape=diamond];",
        "  clients -> vip;",
    ]
    if s.ssh.bastion_host:
        lines.append(f"  bastion [label={_q('bastion ' + str(s.ssh.bastion_host))}];")
        lines.append('  operator -> bastion [label="SSH", style=dashed];')
    lines.append("  subgraph cluster_pair {")
    lines.append(f"    label={_q(f'cluster {s.cluster.name}: corosync token {s.cluster.token_ms} ms, {fencing}')};")
    for n in nodes:
        node_id = _q("node " + n.name)
        text = f"{n.name}\n{n.ip}\nhttpd, pacemaker, corosync, pcsd"
        lines.append(f"    {node_id} [label={_q(text)}];")
    a, b = (_q("node " + n.name) for n in nodes)
    lines.append(f'    {a} -> {b} [dir=both, label="corosync (knet/udpu), pcsd 2224", color=grey40];')
    lines.append("  }")
    for n in nodes:
        node_id = _q("node " + n.name)
        style = "solid" if n is nodes[0] else "dotted"
        lines.append(f'  vip -> {node_id} [style={style}, label="{"holds it" if n is nodes[0] else "on failover"}"];')
        ssh_from = "bastion" if s.ssh.bastion_host else "operator"
        lines.append(f'  {ssh_from} -> {node_id} [label="SSH: step plan", style=dashed, color=grey50];')
    for t in s.tenants:
        lines.append(f"  subgraph {_q('cluster_tenant_' + t.id)} {{")
        lines.append(f"    label={_q(f'tenant {t.id}: /{t.id}/...')}; style=dashed;")
        for svc in SERVICES:
            members = getattr(t, svc.key).members
            text = f"balancer://{t.id}-{svc.balancer}" + "".join(chr(10) + m.url for m in members)
            lines.append(f"    {_q(t.id + '-' + svc.key)} [label={_q(text)}, shape=box3d];")
        lines.append("  }")
        for svc in SERVICES:  # drawn from the node holding the VIP; the other proxies the same after a failover
            lines.append(f"  {a} -> {_q(t.id + '-' + svc.key)} [color=grey60];")
    lines.append("}")
    return "\n".join(lines) + "\n"
