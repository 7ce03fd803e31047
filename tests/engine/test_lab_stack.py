"""The three flows users run (`up` per environment, `preview` in pull requests, `destroy` of test
stacks), through scripts/pulumi.sh on a lab stack: the real CLI, Python language host and command
provider built by scripts/engine.sh, the program over real SSH into the lab's nodes. The lab runs in
a project copy of its own (lab/stack.py), so the repository's stack files are never edited."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from blueprint.render import render_bundle
from lab import gateway
from lab.runner import Lab
from lab.stack import PulumiStack
from lab.steps import plan_of

pytestmark = pytest.mark.lab  # and engine, from its folder: it brings a lab up through the real CLI
REPO = Path(__file__).resolve().parents[2]
NEW_MEMBER = "http://198.18.0.20:8113"  # t1's third RP member: the fake members start at 8111, 8112


@pytest.fixture(scope="module", autouse=True)
def engine_built():
    subprocess.run([REPO / "scripts/engine.sh", "--quiet"], check=True, timeout=3600)


@pytest.fixture(scope="module")
def lab():
    lab = Lab(f"e2e{os.getpid()}")
    try:
        lab.up()  # `pulumi up` from nothing
        yield lab
    finally:
        lab.down()


def cli(lab: Lab, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """scripts/pulumi.sh in the lab's project, on its stack."""
    return lab.pulumi.run(*args, "--stack", lab.name, check=check)


def changed_steps(lab: Lab) -> dict[str, str]:
    """`pulumi preview --json`: every resource the engine would touch, with its operation."""
    plan = json.loads(cli(lab, "preview", "--json").stdout)
    return {s["urn"].rsplit("::", 1)[1]: s["op"] for s in plan.get("steps", []) if s["op"] != "same"}


def test_up_from_nothing_serves_every_tenant_and_a_preview_right_after_expects_no_changes(lab):
    health = lab.tenant_health()
    assert set(health) == {t.id for t in lab.settings.tenants}
    for tid, services in health.items():
        assert set(services) == {"rws", "rp", "rcs", "interaction_receiver", "webdav"}
        assert all(member.startswith(f"{tid}-{svc}-") for svc, member in services.items()), services
    assert cli(lab, "preview", "--expect-no-changes").returncode == 0


def test_the_stack_export_holds_no_secret_in_plain_text(lab):
    shown = cli(lab, "stack", "export", "--show-secrets").stdout
    assert "OPENSSH PRIVATE KEY" in shown and lab.password in shown  # they are in the state...
    exported = cli(lab, "stack", "export").stdout
    assert "PRIVATE KEY" not in exported and lab.password not in exported  # ...only as ciphertext
    assert "ciphertext" in exported


def test_a_tenant_change_previews_as_the_two_pushes_and_applies_with_no_failed_request(lab):
    lab.topology.start_member("t1-rp-3", NEW_MEMBER)  # the GIR server exists before it joins the balancer
    cli(lab, "config", "set", "--path", "tenants[0].rp.members[2].url", NEW_MEMBER)
    # a changed trigger replaces the command (pulumi-command: it runs `create` again; no step has a delete)
    assert changed_steps(lab) == {"gir-lb-boot-httpd-push-1": "replace", "gir-lb-boot-httpd-push-0": "replace"}
    probe = lab.start_probe(max_seconds=120, interval=0.1)
    ran = lab.pulumi.up()  # scripts/pulumi.sh up --yes
    rows = probe.stop()
    assert list(ran) == ["httpd-push-1", "httpd-push-0"]
    print(f"\ntenant change through pulumi up: {len(rows)} probes, {sum(r.status != 200 for r in rows)} failed")
    assert len(rows) > 20 and [r for r in rows if r.status != 200] == []
    answered = {lab.get("/t1/rp/api/x")[1]["member"] for _ in range(12)}
    assert "t1-rp-3" in answered
    assert cli(lab, "preview", "--expect-no-changes").returncode == 0


def test_up_replace_of_the_standby_rebuilds_it_and_the_vip_never_moves(lab):
    vip_on = lab.where("virtual_ip")
    standby = next(n for n in lab.settings.cluster.nodes if n.name != vip_on)
    old_disk_id = lab.node_identity(lab.node_index(standby.name))["machine_id"]
    urn = lab.pulumi.urn(f"gir-lb-{standby.name}")
    probe = lab.start_probe(max_seconds=180, interval=0.1)
    cli(lab, "up", "--yes", "--skip-preview", "--replace", urn)
    rows = probe.stop()
    assert lab.node_identity(lab.node_index(standby.name))["machine_id"] != old_disk_id  # a new machine
    assert [r for r in rows if r.status != 200] == [] and lab.where("virtual_ip") == vip_on
    for node in lab.nodes:
        assert "Online: [ lab-a lab-b ]" in node.run("pcs", "status", check=True).stdout, node.name
    assert cli(lab, "preview", "--expect-no-changes").returncode == 0


def test_a_token_change_reaches_both_nodes_runtime_through_up(lab):
    before = {st.name: st.trigger for st in plan_of(lab.config_file)}
    cli(lab, "config", "set", "--path", "cluster.token_ms", "1500")
    after = {st.name: st.trigger for st in plan_of(lab.config_file)}
    assert changed_steps(lab) == {f"gir-lb-boot-{name}": "replace" for name in after if after[name] != before[name]}
    cli(lab, "up", "--yes", "--skip-preview")
    for node in lab.nodes:
        token = node.run("corosync-cmapctl", "-g", "runtime.config.totem.token", check=True).stdout
        assert token.split()[-1] == "1500", node.name


def test_a_stack_with_problems_fails_preview_with_every_key_path_before_any_resource(lab):
    doc = yaml.safe_load(lab.stack_file.read_text())
    doc["config"]["gir-lb:network"]["vip"] = "198.19.0.100"
    doc["config"]["gir-lb:tenants"][0]["rws"]["members"][1]["route"] = "T1RWS1"
    bad = f"bad{os.getpid()}"
    (lab.pulumi.project / "stacks" / f"Pulumi.{bad}.yaml").write_text(yaml.safe_dump(doc))
    lab.pulumi.run("stack", "init", bad)
    done = lab.pulumi.run("preview", "--stack", bad, check=False)
    assert done.returncode != 0
    assert "gir-lb:network.vip: 198.19.0.100 is outside subnet_cidr 198.18.0.0/24" in done.stdout
    assert "gir-lb:tenants[0].rws.members[1].route: route 'T1RWS1' is already used by members[0]" in done.stdout
    state = json.loads(lab.pulumi.run("stack", "export", "--stack", bad).stdout)
    assert not state["deployment"].get("resources")
    lab.pulumi.run("stack", "rm", "--yes", bad)


def test_the_policy_pack_passes_on_the_lab_and_stops_a_connection_without_a_host_key(lab, tmp_path):
    done = cli(lab, "preview", "--policy-pack", str(REPO / "policy"))
    assert "gir-lb-guardrails" in done.stdout
    # A program of one remote command that names no host key: the pack refuses it at preview.
    (tmp_path / "Pulumi.yaml").write_text(
        yaml.safe_dump({"name": "unpinned", "runtime": {"name": "python", "options": {"virtualenv": str(REPO / ".venv")}}})
    )
    (tmp_path / "__main__.py").write_text(
        "from pulumi_command import remote\n"
        "remote.Command('unpinned', create='true', connection=remote.ConnectionArgs(host='198.18.0.11', user='root'))\n"
    )
    other = PulumiStack("unpinned", lab.stack_file, tmp_path)
    other.run("stack", "init", "unpinned")
    refused = other.run("preview", "--stack", "unpinned", "--policy-pack", str(REPO / "policy"), check=False)
    assert refused.returncode != 0
    assert "ssh-host-key-pinned" in refused.stdout and "without a pinned host key" in refused.stdout


def test_a_node_answering_with_another_host_key_fails_the_step_and_nothing_is_touched(lab, tmp_path):
    """An impostor on node B's address (here: node B's sshd with another host key): the first step
    to reach it fails on the pinned key, so no file is pushed anywhere; with the node's own key
    back, the same `up` goes through."""
    b = lab.node_index("lab-b")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "impostor"], check=True)
    authorized = lab.nodes[b].run("cat", "/root/.ssh/authorized_keys", check=True).stdout
    lab.topology.install_keys(b, (tmp_path / "impostor").read_text(), authorized)
    lab.topology.restart_sshd(b)
    tenant_file = next(p for p in render_bundle(lab.settings).httpd if p.endswith("loadbalancer_t1.conf"))
    before = [node.run("cat", tenant_file, check=True).stdout for node in lab.nodes]
    cli(lab, "config", "set", "--path", "tenants[0].webdav.extra_paths[1]", "dest9")  # a tenant change
    refused = cli(lab, "up", "--yes", "--skip-preview", check=False)
    assert refused.returncode != 0 and "host key mismatch" in refused.stdout
    assert [node.run("cat", tenant_file, check=True).stdout for node in lab.nodes] == before
    own_key = lab.pulumi.secret_output("gir-lb-lab-b-host-key", "stdout").split("\n", 1)[1]
    lab.topology.install_keys(b, own_key, authorized)
    lab.topology.restart_sshd(b)
    assert list(lab.pulumi.up()) == ["httpd-push-1", "httpd-push-0"]
    assert "/t1/dest9" in lab.nodes[b].run("cat", tenant_file, check=True).stdout


def test_destroy_leaves_no_box_process_mount_state_folder_or_resource(lab):
    pids = [box.pid for box in (lab.box(n) for n in lab.topology.box_names)]
    assert all(pids)
    cli(lab, "destroy", "--yes", "--skip-preview")
    assert not lab.state.exists()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout
    assert str(lab.state) not in mounts
    state = json.loads(cli(lab, "stack", "export").stdout)
    assert not state["deployment"].get("resources")
    listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
    assert gateway.address(lab.name) not in listening  # the SSH gateway's loopback listeners are gone
