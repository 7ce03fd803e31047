"""`python -m blueprint diff`: what a change does to the nodes, against a git ref. A real git repo
holds a copy of the project; the old side is rendered by the code at its commit, the new side by
the working tree, and the Markdown names exactly the node files, tenant lines and steps."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from blueprint.bundle_diff import DiffError, Snapshot, compare, snapshot, snapshot_at
from tests.bundle_diff_repo import base_repo, git
from tests.conftest import REPO

DEV = "stacks/Pulumi.dev.yaml"
TENANTS_DIR = "/etc/httpd/conf.d/gir-lb"  # dev is rhel9
TLS_KEY = "etc/httpd/conf.d/gir-lb/tls/server.key"  # its path in Bundle.tree(): a placeholder


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return base_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def base(repo) -> Snapshot:
    """The dev stack as the commit `base` renders it, through git and a subprocess."""
    old = snapshot_at(repo, "base", repo / DEV)
    assert old is not None
    return old


def dev_changed(tmp_path: Path, change) -> Snapshot:
    """The snapshot of the dev stack after `change(config)`, rendered by this working tree."""
    doc = yaml.safe_load((REPO / DEV).read_text())
    change(doc["config"])
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    return snapshot(str(path))


def section(md: str, heading: str) -> list[str]:
    """The non-empty lines under a Markdown heading, up to the next heading of any level."""
    lines = md.split(heading + "\n", 1)[1].split("\n")
    out = []
    for line in lines:
        if line.startswith("#"):
            break
        if line:
            out.append(line)
    return out


def node_files(md: str, node: str) -> list[str]:
    return [line for line in section(md, f"### {node}") if line.startswith("- ")]


def steps_run(md: str) -> list[tuple[str, str]]:
    """(step, node) of each row of the steps table, in order."""
    return re.findall(r"^\| \d+ \| (\S+) \| (\S+) \|", md, flags=re.M)


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blueprint", "diff", *args], cwd=cwd, capture_output=True, text=True)


def test_an_unchanged_stack_changes_nothing(base, tmp_path):
    md = compare(base, dev_changed(tmp_path, lambda cfg: None), stack="dev", old_label="base")
    assert md == "# Bundle diff of stack dev: base → working tree\n\nNo change to the nodes.\n"


def test_a_new_member_changes_its_tenant_file_on_both_nodes_and_runs_the_pushes(base, tmp_path):
    def add_member(cfg):
        cfg["gir-lb:tenants"][0]["rws"]["members"].append({"url": "http://10.0.0.5:8080", "route": "T1RWS3"})

    md = compare(base, dev_changed(tmp_path, add_member), stack="dev", old_label="base")
    for node in ("lb-dev-a", "lb-dev-b"):
        assert node_files(md, node) == [f"- changed: `{TENANTS_DIR}/loadbalancer_t1.conf`"]
    assert section(md, "## Tenants") == ["- t1 rws: member http://10.0.0.5:8080 (route T1RWS3) added"]
    assert steps_run(md) == [("httpd-push-1", "lb-dev-b"), ("httpd-push-0", "lb-dev-a")]
    assert md.split("\n")[2] == "**1 file(s) on lb-dev-a and lb-dev-b; tenant(s) t1; 2 step(s) run: httpd-push-1, httpd-push-0.**"
    assert "+    BalancerMember \"http://10.0.0.5:8080\" route=T1RWS3" in md  # the unified diff
    assert f"<details><summary>{TENANTS_DIR}/loadbalancer_t1.conf</summary>" in md


def test_a_changed_route_is_one_member_line(base, tmp_path):
    def reroute(cfg):
        cfg["gir-lb:tenants"][0]["rws"]["members"][1]["route"] = "T1RWS9"

    md = compare(base, dev_changed(tmp_path, reroute), stack="dev", old_label="base")
    assert section(md, "## Tenants") == ["- t1 rws: member http://t1-rws2.dev.gir.internal:8080 changed: route T1RWS2 → T1RWS9"]
    assert node_files(md, "lb-dev-a") == [f"- changed: `{TENANTS_DIR}/loadbalancer_t1.conf`"]
    assert [name for name, _ in steps_run(md)] == ["httpd-push-1", "httpd-push-0"]


def test_a_removed_tenant_removes_its_file(base, tmp_path):
    def drop_t2(cfg):
        del cfg["gir-lb:tenants"][1]

    md = compare(base, dev_changed(tmp_path, drop_t2), stack="dev", old_label="base")
    assert section(md, "## Tenants") == ["- tenant t2 removed"]
    for node in ("lb-dev-a", "lb-dev-b"):
        assert node_files(md, node) == [
            "- changed: `/etc/httpd/conf.d/gir-lb.conf`",  # it includes each tenant's file
            f"- removed: `{TENANTS_DIR}/loadbalancer_t2.conf`",
        ]
    assert [name for name, _ in steps_run(md)] == ["httpd-push-1", "httpd-push-0"]


def test_a_corosync_token_runs_cluster_setup_only(base, tmp_path):
    def slower_token(cfg):
        cfg["gir-lb:cluster"]["token_ms"] = 2000

    md = compare(base, dev_changed(tmp_path, slower_token), stack="dev", old_label="base")
    assert steps_run(md) == [("cluster-setup", "lb-dev-a")]
    assert node_files(md, "lb-dev-a") == node_files(md, "lb-dev-b") == []
    assert section(md, "## Tenants") == ["No tenant changes."]
    assert "- changed: `cluster/cluster-setup.sh`" in md


def test_an_alert_threshold_changes_the_prometheus_rules_only(base, tmp_path):
    """The rendered Prometheus files are no node's: a threshold changes no node file and runs no step."""

    def slower_member_alert(cfg):
        cfg["gir-lb:monitoring"] = {"member_down_minutes": 9}

    md = compare(base, dev_changed(tmp_path, slower_member_alert), stack="dev", old_label="base")
    assert node_files(md, "lb-dev-a") == node_files(md, "lb-dev-b") == []
    assert steps_run(md) == []
    assert section(md, "## Prometheus files (for the operator's Prometheus, not on the nodes)") == [
        "- changed: `monitoring/gir-lb-alerts.yml`"
    ]
    assert "1 Prometheus file(s)" in md.split("\n")[2]
    assert "+        for: 9m" in md


def test_a_user_data_change_is_called_out(base, tmp_path):
    def other_region(cfg):
        cfg["gir-lb:network"]["region"] = "eu-central-1"  # user-data writes the aws CLI's region

    md = compare(base, dev_changed(tmp_path, other_region), stack="dev", old_label="base")
    assert node_files(md, "lb-dev-a") == ["- changed: `cloud-init user-data`"]
    assert "user-data changes" in md.split("\n")[2]
    assert "> **cloud-init user-data changes.**" in md


def test_an_arbiter_is_its_own_section_and_its_step_runs_on_it(base, tmp_path):
    """The arbiter's user-data is no node's file: it has a section of its own, and its step's node is the arbiter."""

    def add_arbiter(cfg):
        cfg["gir-lb:cluster"]["quorum_device"] = {"address": "10.20.1.13", "create": True}

    with_arbiter = dev_changed(tmp_path, add_arbiter)
    md = compare(base, with_arbiter, stack="dev", old_label="base")
    # the nodes' one changed file: the exporter's unit, which now asks for the link to the arbiter
    exporter_unit = ["- changed: `/etc/systemd/system/gir-lb-exporter.service`"]
    assert node_files(md, "lb-dev-a") == node_files(md, "lb-dev-b") == exporter_unit
    assert section(md, "## Arbiter (cluster.quorum_device.create)") == ["- added: `cloud-init user-data`"]
    assert "1 file(s) on lb-dev-a and lb-dev-b; arbiter user-data added;" in md.split("\n")[2]
    assert ("arbiter-prepare", "arbiter") in steps_run(md) and ("quorum-device", "lb-dev-a") in steps_run(md)
    assert "<details><summary>cloud-init/arbiter-user-data.yaml</summary>" in md and "+- corosync-qnetd" in md

    # a changed arbiter user-data (a later release's packages): the arbiter restarts, the nodes do not
    changed = copy.deepcopy(with_arbiter)
    changed["files"]["cloud-init/arbiter-user-data.yaml"] += "- corosync-qnetd-tools\n"
    md = compare(with_arbiter, changed, stack="dev")
    assert section(md, "## Arbiter (cluster.quorum_device.create)") == [
        "- changed: `cloud-init user-data`",
        "> **The arbiter's user-data changes.** On AWS, Pulumi updates its user-data, which stops and starts the arbiter;"
        " cloud-init runs packages and runcmd only on a new instance.",
    ]
    assert "> **cloud-init user-data changes.**" not in md  # the nodes' note
    removed = compare(with_arbiter, dev_changed(tmp_path, lambda cfg: None), stack="dev")
    assert section(removed, "## Arbiter (cluster.quorum_device.create)") == ["- removed: `cloud-init user-data`"]
    assert "- arbiter-prepare (on arbiter) is no longer in the plan" in removed


def test_a_new_stack_is_all_added_and_no_secret_placeholder_leaks(repo, tmp_path):
    assert snapshot_at(repo, "base", repo / "stacks/Pulumi.brand-new.yaml") is None
    new = snapshot(str(REPO / DEV))
    md = compare(None, new, stack="brand-new", old_label="base")
    node_paths = [p for p in new["files"] if not p.startswith(("cluster/", "monitoring/"))]
    assert len(node_files(md, "lb-dev-a")) == len(node_paths)
    assert section(md, "## Prometheus files (for the operator's Prometheus, not on the nodes)") == [
        "- added: `monitoring/gir-lb-alerts.yml`",
        "- added: `monitoring/prometheus-scrape.yml`",
    ]
    assert all(line.startswith("- added: ") for line in node_files(md, "lb-dev-a"))
    assert section(md, "## Tenants") == [
        "- tenant t1 added (5 balancers, 10 members)",
        "- tenant t2 added (5 balancers, 7 members)",
    ]
    assert [name for name, _ in steps_run(md)] == [st["name"] for st in new["steps"]]
    assert md.count("| new step |") == len(new["steps"])
    secret = f"- added: `/{TLS_KEY}` (secret: written at deploy time; content not shown)"
    assert secret in node_files(md, "lb-dev-b")
    placeholder = new["files"][TLS_KEY]
    assert placeholder.startswith("<secret") and placeholder.strip() not in md and "<secret" not in md


def test_a_secret_file_never_shows_its_text(base):
    """Even if a snapshot held a secret's text, only the fact that it changed is printed."""
    old, new = copy.deepcopy(base), copy.deepcopy(base)
    old["files"][TLS_KEY], new["files"][TLS_KEY] = "old-s3cr3t\n", "new-s3cr3t\n"
    md = compare(old, new)
    assert f"- changed: `/{TLS_KEY}` (secret: written at deploy time; content not shown)" in node_files(md, "lb-dev-a")
    assert "s3cr3t" not in md and "<details>" not in md


def test_a_template_change_at_the_ref_shows_up(repo, tmp_path):
    """The old side is rendered by the ref's own templates: a template commit is in the diff."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    template = clone / "templates/httpd/loadbalancer_tenant.conf.j2"
    template.write_text(template.read_text().replace("# Tenant {{ tid }}.", "# Tenant {{ tid }} (balanced by gir-lb)."))
    git(clone, "commit", "-q", "-am", "template")
    done = run_cli(clone, "--stack", "dev", "--against", "HEAD~1")
    assert done.returncode == 0, done.stderr
    md = done.stdout
    assert node_files(md, "lb-dev-a") == [
        f"- changed: `{TENANTS_DIR}/loadbalancer_t1.conf`",
        f"- changed: `{TENANTS_DIR}/loadbalancer_t2.conf`",
    ]
    assert section(md, "## Tenants") == ["No tenant changes."]  # the stack file did not change
    assert "+# Tenant t1 (balanced by gir-lb)." in md
    assert [name for name, _ in steps_run(md)] == ["httpd-push-1", "httpd-push-0"]
    assert run_cli(clone, "--stack", "dev", "--against", "HEAD").stdout.endswith("No change to the nodes.\n")


def test_an_invalid_ref_exits_2(repo):
    done = run_cli(repo, "--stack", "dev", "--against", "no-such-ref")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"diff: 'no-such-ref' is not a commit in {repo}\n"
    with pytest.raises(DiffError, match="not a git ref"):
        snapshot_at(repo, "--output=/tmp/x", repo / DEV)
