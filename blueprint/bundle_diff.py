"""What a change does to the nodes: the stack as the code, templates and stack file at a git ref
render it, compared with the working tree's, as Markdown for a pull request.

Each side is a *snapshot* (plain JSON data): the bundle's files, the plan's steps with their
triggers, the nodes and the tenants. `snapshot` builds one with the blueprint it imports; for the
old side it runs in a subprocess inside the tree extracted at the ref (`snapshot_at`), so template
and code changes show up, not only stack-file changes. `compare` is pure: two snapshots in,
Markdown out. Secrets never enter a snapshot: their files are the render's placeholders, and only
whether a placeholder changed is reported, never its text.
"""

from __future__ import annotations

import difflib
import inspect
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import textwrap
from pathlib import Path
from typing import Any, TypedDict

from .plan import ARBITER  # Step.node of a step on the arbiter (snapshot, which runs alone at a ref, does not use it)

USER_DATA = "cloud-init/user-data.yaml"
ARBITER_USER_DATA = "cloud-init/arbiter-user-data.yaml"  # the arbiter's (cluster.quorum_device.create), not the nodes'
SCRIPTS_DIR = "cluster/"  # the steps' scripts: run over SSH, never installed on a node
PROMETHEUS_DIR = "monitoring/"  # alert rules and scrape jobs for the operator's Prometheus, not on a node


class StepInfo(TypedDict):
    name: str
    node: int
    trigger: str
    reruns_on_replace_of: list[int]
    script_sha: str
    args: list[str]
    payload_sha: str


class NodeInfo(TypedDict):
    name: str
    ip: str


class Snapshot(TypedDict):
    files: dict[str, str]  # Bundle.tree(): path relative to / on the node (or cloud-init/, cluster/) -> text
    secret_files: list[str]  # tree paths whose text is only a placeholder
    steps: list[StepInfo]  # in plan order
    nodes: list[NodeInfo]
    tenants: dict[str, dict[str, Any]]  # tenant id -> service key -> {"members": [...], other keys}


class DiffError(Exception):
    """The old side cannot be built (bad ref, a stack that does not load at the ref)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


# --- one side ------------------------------------------------------------------------------------


def snapshot(stack_file: str) -> Snapshot:
    """The snapshot of a stack file, by the `blueprint` first on sys.path. Self-contained (its
    imports inside, no module global used): its source also runs alone in the tree at a git ref."""
    import hashlib

    from blueprint.plan import build_plan
    from blueprint.render import render_bundle
    from blueprint.stack_config import load_stack

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    settings = load_stack(stack_file)
    bundle = render_bundle(settings)
    steps: list[StepInfo] = [  # a local annotation is never evaluated: the source runs where StepInfo is not defined
        {
            "name": st.name,
            "node": st.node,
            "trigger": st.trigger,
            "reruns_on_replace_of": list(getattr(st, "reruns_on_replace_of", ())),
            "script_sha": sha(st.script),
            "args": list(st.args),
            "payload_sha": sha(getattr(st, "payload", "")),
        }
        for st in build_plan(settings, bundle)
    ]
    tenants: dict[str, dict[str, Any]] = {}
    for tenant in settings.tenants:
        services = {}
        for key, dumped in tenant.model_dump(mode="json").items():
            if key == "id":
                continue
            # RCS routes are derived from app_name: the dump does not hold them.
            members = zip(dumped["members"], getattr(tenant, key).members, strict=True)
            dumped["members"] = [{**d, "route": getattr(m, "route", None)} for d, m in members]
            services[key] = dumped
        tenants[tenant.id] = services
    return {
        "files": bundle.tree(),
        "secret_files": sorted(path.lstrip("/") for path in getattr(bundle, "secret_files", {})),
        "steps": steps,
        "nodes": [{"name": n.name, "ip": str(n.ip)} for n in settings.cluster.nodes],
        "tenants": tenants,
    }


# Runs `snapshot` in the tree extracted at a ref: that tree's blueprint first on sys.path.
_SNAPSHOT_PROGRAM = "\n".join(
    [
        "from __future__ import annotations",
        "import json, sys",
        "sys.path.insert(0, sys.argv[1])",
        textwrap.dedent(inspect.getsource(snapshot)),
        "try:",
        "    print(json.dumps(snapshot(sys.argv[2])))",
        "except Exception as exc:",
        "    print(exc, file=sys.stderr)",
        "    sys.exit(1)",
    ]
)


def snapshot_at(repo: Path, ref: str, stack_file: Path) -> Snapshot | None:
    """The snapshot of `stack_file` as the commit `ref` of `repo` renders it: its code, templates
    and, for a file inside the repo, its version of the file (None when the file is not there: a
    new stack). A file outside the repo is rendered as it is, by the ref's code."""
    if ref.startswith("-"):  # would be read as an option by git
        raise DiffError(f"diff: {ref!r} is not a git ref", 2)
    found = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], capture_output=True, text=True
    )
    if found.returncode != 0:
        raise DiffError(f"diff: {ref!r} is not a commit in {repo}", 2)
    commit = found.stdout.strip()
    archive = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", commit], capture_output=True, check=True)
    stack_file = stack_file.resolve()
    inside = stack_file.is_relative_to(repo.resolve())
    with tempfile.TemporaryDirectory(prefix="gir-lb-diff-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            # Links are not needed to render, and one pointing outside the tree would be refused.
            tar.extractall(tmp, filter=lambda m, path: None if m.issym() or m.islnk() else tarfile.data_filter(m, path))
        old_file = Path(tmp) / stack_file.relative_to(repo.resolve()) if inside else stack_file
        if not old_file.is_file():
            return None
        run = subprocess.run(
            [sys.executable, "-c", _SNAPSHOT_PROGRAM, tmp, str(old_file)], cwd=tmp, capture_output=True, text=True
        )
    if run.returncode != 0:
        problem = run.stderr.strip().replace(tmp, "<" + ref + ">")
        raise DiffError(f"diff: the stack does not render at {ref}:\n{problem}", 1)
    result: Snapshot = json.loads(run.stdout)
    return result


# --- the comparison (pure) -----------------------------------------------------------------------


def _node_path(tree_path: str) -> str:
    return "cloud-init user-data" if tree_path == USER_DATA else "/" + tree_path


def _fence(text: str) -> str:
    """A code fence longer than any backtick run in the text, so a file cannot end the block."""
    ticks = 3
    while "`" * ticks in text:
        ticks += 1
    return "`" * ticks


def _unified(path: str, old: str | None, new: str | None, old_label: str, new_label: str) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        fromfile=f"{old_label}:{path}" if old is not None else "/dev/null",
        tofile=f"{new_label}:{path}" if new is not None else "/dev/null",
    )
    body = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    fence = _fence(body)
    return f"<details><summary>{path}</summary>\n\n{fence}diff\n{body}{fence}\n\n</details>\n"


def _file_changes(old: Snapshot | None, new: Snapshot) -> dict[str, str]:
    """Tree path -> added / removed / changed, for every path that differs."""
    before = old["files"] if old else {}
    after = new["files"]
    changes = {}
    for path in sorted(set(before) | set(after)):
        if path not in before:
            changes[path] = "added"
        elif path not in after:
            changes[path] = "removed"
        elif before[path] != after[path]:
            changes[path] = "changed"
    return changes


def _shown(value: object) -> str:
    """A setting's value as JSON ("RCS 1", true, ["dest2"]); a single word (a route) bare."""
    return value if isinstance(value, str) and re.fullmatch(r"[\w.-]+", value) else json.dumps(value)


def _describe_member(member: dict[str, Any]) -> str:
    extra = []
    if member.get("route"):
        extra.append(f"route {member['route']}")
    if member.get("app_name"):
        extra.append(f"application {member['app_name']!r}")
    if member.get("hot_standby"):
        extra.append("hot standby")
    return f"member {member['url']}" + (f" ({', '.join(extra)})" if extra else "")


def _service_changes(tid: str, key: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    out = []
    old_members = {m["url"]: m for m in before.get("members", [])}
    new_members = {m["url"]: m for m in after.get("members", [])}
    for url, m in new_members.items():
        if url not in old_members:
            out.append(f"{tid} {key}: {_describe_member(m)} added")
    for url, m in old_members.items():
        if url not in new_members:
            out.append(f"{tid} {key}: {_describe_member(m)} removed")
    for url, m in new_members.items():
        was = old_members.get(url)
        if was is not None and was != m:
            differ = [f for f in sorted(set(was) | set(m)) if was.get(f) != m.get(f)]
            fields = ", ".join(f"{f} {_shown(was.get(f))} → {_shown(m.get(f))}" for f in differ)
            out.append(f"{tid} {key}: member {url} changed: {fields}")
    common = [u for u in new_members if u in old_members]
    if common != [u for u in old_members if u in new_members]:
        out.append(f"{tid} {key}: member order changed")  # the order of the BalancerMember lines
    for field in sorted((set(before) | set(after)) - {"members"}):
        if before.get(field) != after.get(field):
            out.append(f"{tid} {key}: {field} {_shown(before.get(field))} → {_shown(after.get(field))}")
    return out


def _tenant_changes(old: Snapshot | None, new: Snapshot) -> list[tuple[str, str]]:
    """(tenant id, line) for each tenant, balancer and member that differs."""
    before = old["tenants"] if old else {}
    after = new["tenants"]
    out = []
    for tid, services in after.items():
        if tid not in before:
            members = sum(len(s.get("members", [])) for s in services.values())
            out.append((tid, f"tenant {tid} added ({len(services)} balancers, {members} members)"))
    out += [(tid, f"tenant {tid} removed") for tid in before if tid not in after]
    for tid, services in after.items():
        if tid not in before:
            continue
        lines = []
        for key in [*services, *(k for k in before[tid] if k not in services)]:
            if key not in before[tid]:
                lines.append(f"{tid} {key}: balancer added")
            elif key not in services:
                lines.append(f"{tid} {key}: balancer removed")
            else:
                lines += _service_changes(tid, key, before[tid][key], services[key])
        out += [(tid, line) for line in lines]
    return out


def _replaced_nodes(old: Snapshot | None, new: Snapshot) -> list[int]:
    """Nodes whose instance is new: a node's name names its resource, its IP is fixed at launch."""
    if old is None:
        return []
    return [i for i, node in enumerate(new["nodes"]) if i >= len(old["nodes"]) or old["nodes"][i] != node]


def _why_step_runs(step: StepInfo, was: StepInfo | None, replaced: list[int], nodes: list[NodeInfo]) -> str | None:
    if was is None:
        return "new step"
    reasons = []
    if step["script_sha"] != was["script_sha"]:
        reasons.append("its script changed")
    if step["args"] != was["args"]:
        reasons.append("its arguments changed")
    if step["payload_sha"] != was["payload_sha"]:
        reasons.append("the files it pushes changed")
    if not reasons and step["trigger"] != was["trigger"]:
        reasons.append("its trigger changed")
    reasons += [f"node {nodes[i]['name']} is a new instance" for i in step["reruns_on_replace_of"] if i in replaced]
    return "; ".join(reasons) or None


def _step_changes(old: Snapshot | None, new: Snapshot) -> tuple[list[tuple[StepInfo, str]], list[StepInfo]]:
    """The steps that will run, in plan order, with why; and the steps no longer in the plan."""
    before = {st["name"]: st for st in old["steps"]} if old else {}
    replaced = _replaced_nodes(old, new)
    running = []
    for step in new["steps"]:
        why = _why_step_runs(step, before.get(step["name"]), replaced, new["nodes"])
        if why:
            running.append((step, why))
    names = {st["name"] for st in new["steps"]}
    gone = [st for st in (old["steps"] if old else []) if st["name"] not in names]
    return running, gone


def _node_name(snap: Snapshot, index: int) -> str:
    if index < len(snap["nodes"]):
        return snap["nodes"][index]["name"]
    return "arbiter" if index == ARBITER else f"node {index}"


def compare(
    old: Snapshot | None, new: Snapshot, stack: str = "", old_label: str = "ref", new_label: str = "working tree"
) -> str:
    """Markdown: what going from `old` (None: the stack is new) to `new` does to the nodes."""
    files = _file_changes(old, new)
    node_files = {p: c for p, c in files.items() if not p.startswith((SCRIPTS_DIR, PROMETHEUS_DIR)) and p != ARBITER_USER_DATA}
    arbiter = files.get(ARBITER_USER_DATA)
    scripts = {p: c for p, c in files.items() if p.startswith(SCRIPTS_DIR)}
    prometheus = {p: c for p, c in files.items() if p.startswith(PROMETHEUS_DIR)}
    tenants = _tenant_changes(old, new)
    running, gone = _step_changes(old, new)
    replaced = _replaced_nodes(old, new)
    names = [n["name"] for n in new["nodes"]]
    secret = set(new["secret_files"]) | set(old["secret_files"] if old else [])

    title = f"# Bundle diff{' of stack ' + stack if stack else ''}: {old_label} → {new_label}\n"
    if not (files or tenants or running or gone or replaced):
        return f"{title}\nNo change to the nodes.\n"

    summary = []
    if old is None:
        summary.append("new stack")
    if node_files:
        summary.append(f"{len(node_files)} file(s) on {' and '.join(names)}")
    if USER_DATA in node_files:
        summary.append("user-data changes")
    if arbiter:
        summary.append(f"arbiter user-data {arbiter}")
    if prometheus:
        summary.append(f"{len(prometheus)} Prometheus file(s)")
    if replaced:
        summary.append(f"new instance(s): {', '.join(names[i] for i in replaced)}")
    changed_tenants = sorted({tid for tid, _ in tenants})
    if changed_tenants:
        summary.append(f"tenant(s) {', '.join(changed_tenants)}")
    if running:
        summary.append(f"{len(running)} step(s) run: {', '.join(st['name'] for st, _ in running)}")
    if gone:
        summary.append(f"{len(gone)} step(s) removed")
    out = [title, "**" + "; ".join(summary) + ".**", ""]

    out.append("## Nodes\n")
    if replaced:
        for i in replaced:
            was = old["nodes"][i] if old and i < len(old["nodes"]) else None
            before = f" (was {was['name']} {was['ip']})" if was else ""
            out.append(f"- node {i} is now {names[i]} {new['nodes'][i]['ip']}{before}: a new instance, its steps run again")
        out.append("")
    for name in names:  # the httpd files and the user-data are the same on both nodes
        out.append(f"### {name}\n")
        if not node_files:
            out.append("No file changes.\n")
            continue
        for path, change in node_files.items():
            note = " (secret: written at deploy time; content not shown)" if path in secret else ""
            out.append(f"- {change}: `{_node_path(path)}`{note}")
        out.append("")
    if USER_DATA in node_files:
        out.append(
            "> **cloud-init user-data changes.** On AWS, Pulumi updates each instance's user-data, which stops and"
            " starts the instance (components/aws.py does not set user_data_replace_on_change); cloud-init runs"
            " packages and runcmd only on a new instance.\n"
        )

    if arbiter:
        out.append("## Arbiter (cluster.quorum_device.create)\n")
        out.append(f"- {arbiter}: `cloud-init user-data`\n")
        if arbiter == "changed":
            out.append(
                "> **The arbiter's user-data changes.** On AWS, Pulumi updates its user-data, which stops and starts"
                " the arbiter; cloud-init runs packages and runcmd only on a new instance.\n"
            )

    out.append("## Tenants\n")
    out += [f"- {line}" for _, line in tenants] or ["No tenant changes."]
    out.append("")

    out.append("## Steps that will run\n")
    if running:
        out += ["| # | step | node | why |", "|---|---|---|---|"]
        out += [f"| {n} | {st['name']} | {_node_name(new, st['node'])} | {why} |" for n, (st, why) in enumerate(running, 1)]
    else:
        out.append("None: every step's trigger is unchanged.")
    if gone:
        out.append("")
        out += [
            f"- {st['name']} (on {_node_name(old, st['node']) if old else st['node']}) is no longer in the plan:"
            " its command resource is deleted, nothing runs on the node (no step has a delete command)"
            for st in gone
        ]
    out.append("")

    arbiter_files = {ARBITER_USER_DATA: arbiter} if arbiter else {}
    shown = {
        p: c for p, c in {**node_files, **arbiter_files, **scripts, **prometheus}.items() if c != "removed" and p not in secret
    }
    if scripts:
        out.append("## Step scripts (run over SSH, not kept on the nodes)\n")
        out += [f"- {change}: `{path}`" for path, change in scripts.items()]
        out.append("")
    if prometheus:
        out.append("## Prometheus files (for the operator's Prometheus, not on the nodes)\n")
        out += [f"- {change}: `{path}`" for path, change in prometheus.items()]
        out.append("")
    if shown:
        out.append("## File diffs\n")
        for path in shown:
            old_text = old["files"].get(path) if old else None
            shown_as = _node_path(path) if path in node_files else path
            out.append(_unified(shown_as, old_text, new["files"][path], old_label, new_label))
    out.append(
        "_Compared: the bundle, the step plan and the tenants. Secret values are never seen (the render has"
        " only their placeholders); AWS settings outside the bundle (network, instance type, AMI) show in `pulumi preview`._"
    )
    return "\n".join(out) + "\n"
