"""The real Pulumi CLI, Python language host and command provider (built by scripts/engine.sh) on a
copy of the project: stack files and config edits as the engine reads them, a stack with a problem
refused by the program before anything is registered, and the one limit of the language host a
stack can reach (its whole config in one environment string). The lab stack's flows: test_lab_stack.py."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from blueprint.stack_config import SettingsError, load_stack, settings_from_engine
from lab.stack import LAB_PASSPHRASE, LINKED

REPO = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in (REPO / "stacks").glob("Pulumi.*.yaml"))



@pytest.fixture(scope="module", autouse=True)
def engine_built():
    subprocess.run([REPO / "scripts/engine.sh", "--quiet"], check=True, timeout=3600)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The project in a scratch folder: Pulumi.yaml and the stack files copied (the CLI writes into
    them), the code and the venv linked."""
    shutil.copy(REPO / "Pulumi.yaml", tmp_path)
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    for name in LINKED:
        (tmp_path / name).symlink_to(REPO / name)
    return tmp_path


def pulumi(project: Path, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    # the lab stacks' committed salt is for the lab passphrase; the other stacks take any
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": LAB_PASSPHRASE, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=project, env=env, input=stdin,
        capture_output=True, text=True, timeout=300,
    )
    if check and done.returncode:
        pytest.fail(f"pulumi {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def engine_config(project: Path, stack: str) -> dict:
    """`pulumi config --json` with the `gir-lb:` prefix dropped: what the program's Config sees."""
    shown = json.loads(pulumi(project, "config", "--stack", stack, "--json", "--show-secrets").stdout)
    return {k.removeprefix("gir-lb:"): v for k, v in shown.items() if k.startswith("gir-lb:")}


def settings_seen_by_the_engine(project: Path, stack: str):
    shown = json.loads(pulumi(project, "config", "--stack", stack, "--json", "--show-secrets").stdout)
    return settings_from_engine(
        {k: v["value"] for k, v in shown.items()}, {k for k, v in shown.items() if v["secret"]}, source=f"stack {stack}"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_the_real_cli_reads_every_stack_file_as_our_loader_does(project, stack):
    pulumi(project, "stack", "init", stack)
    shown = engine_config(project, stack)
    written = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert set(shown) == {k.removeprefix("gir-lb:") for k in written if k.startswith("gir-lb:")}
    for key, value in written.items():
        if key.startswith("gir-lb:"):
            item = shown[key.removeprefix("gir-lb:")]
            if isinstance(value, dict | list):
                assert item["objectValue"] == value, key
            else:
                assert item["value"] == (str(value).lower() if isinstance(value, bool) else str(value)), key
    assert settings_seen_by_the_engine(project, stack) == load_stack(REPO / "stacks" / f"Pulumi.{stack}.yaml")


def readme_config_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return [line.split("#")[0].strip() for line in text.splitlines() if line.startswith("pulumi config set")]


def test_the_readme_config_set_examples_work_as_written(project):
    commands = readme_config_commands()
    assert any("--path" in c for c in commands) and any("--secret" in c and "<" in c for c in commands)
    pulumi(project, "stack", "init", "dev")
    pulumi(project, "stack", "select", "dev")
    home = project / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "gir-lb-dev").write_text("SSH-KEY-MATERIAL\n")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
         "-subj", "/CN=gir-lb.test", "-keyout", home / "key.pem", "-out", home / "cert.pem"],
        check=True, capture_output=True,
    )
    tls_key = (home / "key.pem").read_text()
    (home / "hacluster-password").write_text("HACLUSTER-PASSWORD\n")
    # each line as a shell runs it, `pulumi` being this project's wrapper
    script = "pulumi() { " + f"{sys.executable} -m engine \"$@\"; " + "}\n" + "\n".join(commands) + "\n"
    env = {**os.environ, "HOME": str(home), "PULUMI_CONFIG_PASSPHRASE": LAB_PASSPHRASE, "PYTHONPATH": str(REPO)}
    done = subprocess.run(["bash", "-euc", script], cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    stack_file = (project / "stacks" / "Pulumi.dev.yaml").read_text()
    for secret in ("SSH-KEY-MATERIAL", tls_key.splitlines()[1], "HACLUSTER-PASSWORD"):
        assert secret not in stack_file  # stored encrypted (secure:)
    settings = settings_seen_by_the_engine(project, "dev")
    assert [str(c) for c in settings.network.client_cidrs] == ["10.20.0.0/16", "10.30.0.0/16"]
    shown = engine_config(project, "dev")
    # the CLI drops a file's last newline (the TLS push adds it back: blueprint.plan.encode_stdin)
    assert shown["ssh_private_key"]["secret"] and shown["ssh_private_key"]["value"] == "SSH-KEY-MATERIAL"
    assert shown["tls_key"]["secret"] and shown["tls_key"]["value"] == tls_key.rstrip("\n")
    assert settings.tls_cert == (home / "cert.pem").read_text().rstrip("\n")


def test_a_stack_with_a_problem_fails_preview_naming_the_key_and_registers_nothing(project):
    bad = project / "stacks" / "Pulumi.bad.yaml"
    bad.write_text((project / "stacks" / "Pulumi.dev.yaml").read_text().replace("vip: 10.20.1.50", "vip: 10.99.1.50"))
    pulumi(project, "stack", "init", "bad")
    done = pulumi(project, "preview", "--stack", "bad", check=False)
    assert done.returncode != 0
    assert "gir-lb:network.vip: 10.99.1.50 is outside subnet_cidr 10.20.1.0/24" in done.stdout + done.stderr
    state = json.loads(pulumi(project, "stack", "export", "--stack", "bad").stdout)
    assert not state["deployment"].get("resources")


def test_the_program_refuses_unknown_keys_and_plaintext_secrets_the_engine_passes(project):
    """The program sees every key of the engine's config, not only the model's, and which are secrets."""
    bad = project / "stacks" / "Pulumi.bad.yaml"
    bad.write_text((project / "stacks" / "Pulumi.dev.yaml").read_text() + "  gir-lb:netwrok: {}\n")
    pulumi(project, "stack", "init", "bad")
    # the CLI refuses a password-like plaintext value unless told --plaintext
    pulumi(project, "config", "set", "--stack", "bad", "--plaintext", "hacluster_password", "PLAINTEXT-PASSWORD")
    pulumi(project, "config", "set", "--stack", "bad", "network.vip", "10.20.1.51")  # without --path
    done = pulumi(project, "preview", "--stack", "bad", check=False)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "gir-lb:netwrok: unknown key; did you mean gir-lb:network?" in out
    assert "gir-lb:hacluster_password: must be set with `pulumi config set --secret`" in out
    assert "gir-lb:network.vip: a nested key: set it with `pulumi config set --path 'network.vip' …`" in out
    assert "PLAINTEXT-PASSWORD" not in out


def lab_stack_with_tenants(project: Path, name: str, count: int) -> Path:
    doc = yaml.safe_load((REPO / "stacks" / "Pulumi.lab.yaml").read_text())
    two = doc["config"]["gir-lb:tenants"]
    doc["config"]["gir-lb:tenants"] = [{**copy.deepcopy(two[i % 2]), "id": f"t{i + 1}"} for i in range(count)]
    path = project / "stacks" / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_our_reader_refuses_exactly_the_config_the_language_host_cannot_start(project):
    """The Python language host passes the whole stack config to the program in PULUMI_CONFIG, one
    environment string, which Linux caps at 128 KiB: with the lab's tenants 191 start and 192 do not.
    Our reader (render, bundle diff, the lab) refuses the second, naming gir-lb:tenants."""
    fits, too_big = lab_stack_with_tenants(project, "fits", 191), lab_stack_with_tenants(project, "toobig", 192)
    for name in ("fits", "toobig"):
        pulumi(project, "stack", "init", name)
    assert pulumi(project, "preview", "--stack", "fits").returncode == 0
    refused = pulumi(project, "preview", "--stack", "toobig", check=False)
    assert refused.returncode != 0 and "argument list too long" in refused.stdout + refused.stderr
    assert load_stack(str(fits)).tenants[-1].id == "t191"
    with pytest.raises(SettingsError, match=r"gir-lb:tenants: the stack's config is 131,\d{3} bytes"):
        load_stack(str(too_big))


def test_the_engine_is_the_chosen_pair(project):
    """The CLI stays at v3.274.1 with the language host v3.259.0 (docs/engine.md says why) and the
    command provider of the pinned wheel; `pulumi about` reports what the program actually runs with."""
    pulumi(project, "stack", "init", "dev")
    about = json.loads(pulumi(project, "about", "--json", "--stack", "dev").stdout)
    assert about["cliAbout"]["version"] == "3.274.1"
    plugins = {(p["kind"], p["name"]): p["version"] for p in about["plugins"]}
    assert plugins[("language", "python")] == "3.259.0"
    assert plugins[("resource", "command")] == "1.2.1"
    assert about["runtime"]["executable"] == str(project / ".venv" / "bin" / "python")
