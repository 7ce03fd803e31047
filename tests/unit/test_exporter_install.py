"""node-prepare's watching block, run for real by bash against a stand-in `systemctl` (its file
paths moved into a temporary folder): it installs gir-lb-exporter and its unit from stdin,
restarts the exporter only when either changed, and a second run changes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from blueprint import exporter
from blueprint.plan import build_plan
from blueprint.render import EXPORTER_PATH, EXPORTER_UNIT, exporter_args, render_bundle
from blueprint.stack_config import parse_settings
from tests.conftest import base_config


def prepare(cfg: dict):
    s = parse_settings(cfg)
    bundle = render_bundle(s)
    step = next(st for st in build_plan(s, bundle) if st.name == "prepare-0")
    return bundle, step


def run_block(tmp_path: Path, bundle, step) -> list[str]:
    """The block (with the install function it uses), its paths under tmp_path; the systemctl calls."""
    script = step.script
    block = script[script.index("# Installs base64") : script.index("# Pacemaker starts")]
    for path in (EXPORTER_PATH, EXPORTER_UNIT):
        block = block.replace(path, f"{tmp_path}{path}")
    calls = tmp_path / "systemctl.calls"
    stand_in = f'systemctl() {{ echo "$*" >> {calls}; }}\ntmp=$(mktemp)\n'
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", stand_in + block], input=step.payload, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = calls.read_text().splitlines() if calls.exists() else []
    calls.unlink(missing_ok=True)
    return lines


def test_the_exporter_is_installed_from_stdin_restarted_on_change_only(tmp_path):
    bundle, step = prepare(base_config("rhel9"))
    first = run_block(tmp_path, bundle, step)
    installed = tmp_path / EXPORTER_PATH.lstrip("/")
    unit = tmp_path / EXPORTER_UNIT.lstrip("/")
    assert installed.read_text() == Path(exporter.__file__).read_text() and installed.stat().st_mode & 0o777 == 0o755
    assert unit.read_text() == bundle.node_files[EXPORTER_UNIT][1] and unit.stat().st_mode & 0o777 == 0o644
    assert first == ["enable --now pmproxy", "daemon-reload", "enable gir-lb-exporter", "restart gir-lb-exporter"]
    assert run_block(tmp_path, bundle, step) == ["enable --now pmproxy", "enable --now gir-lb-exporter"]
    moved_bundle, moved_step = prepare(base_config("rhel9", httpd={"port": 8080}))  # the status URL changes
    assert "restart gir-lb-exporter" in run_block(tmp_path, moved_bundle, moved_step)
    assert "127.0.0.1:8080/server-status" in unit.read_text()


def test_the_unit_runs_the_exporter_as_hacluster_with_the_stacks_values():
    bundle, _ = prepare(base_config("rhel8", httpd={"tls": {"enabled": True}}))
    unit = bundle.node_files[EXPORTER_UNIT][1]
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.startswith(f"ExecStart=/usr/libexec/platform-python {EXPORTER_PATH} --listen :9663 ")
    assert '"http://127.0.0.1:80/server-status?auto"' in exec_start  # quoted: `?` is a shell glob in the lab
    assert "--tls-cert /etc/httpd/conf.d/gir-lb/tls/server.crt" in exec_start
    assert "User=hacluster" in unit and "Group=haclient" in unit


def test_the_exporter_reads_the_quorum_device_only_with_one():
    """`--quorum-device` (corosync-quorumtool each scrape) where the stack has an arbiter."""
    cfg = base_config("rhel9")
    assert "--quorum-device" not in exporter_args(parse_settings(cfg), "")
    cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", "create": True}
    assert exporter_args(parse_settings(cfg), "")[-1] == "--quorum-device"
    unit = render_bundle(parse_settings(cfg)).node_files[EXPORTER_UNIT][1]
    assert next(line for line in unit.splitlines() if line.startswith("ExecStart=")).endswith(" --quorum-device")


def test_rhel6_nodes_get_no_exporter():
    bundle, step = prepare(base_config("rhel6"))
    assert bundle.node_files == {} and step.payload == ""
    assert "gir-lb-exporter" not in bundle.scripts["node-prepare.sh"]
