"""A lab's Pulumi stack: the real CLI (scripts/pulumi.sh) on the project, `up` and `destroy`, and
what a run did (which steps ran, with their output, read from the state).

The lab named like its stack file runs in this repository (stacks/Pulumi.<name>.yaml is its
config, as `pulumi up --stack lab` has it); any other lab runs in a project copy of its own
(Pulumi.yaml, its own stacks/ and .state/, the code linked), so tests and benchmarks never edit
the repository's stack files. Lab stacks encrypt their secrets with the public passphrase
LAB_PASSPHRASE (their committed encryptionsalt is for it): a lab is local and thrown away."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import yaml

from blueprint.stacks import stack_file

from .boxes import LabError

REPO = Path(__file__).resolve().parent.parent
PULUMI = REPO / "scripts" / "pulumi.sh"
LAB_PASSPHRASE = "gir-lb-lab"
LINKED = ("__main__.py", "components", "blueprint", "templates", "lab", "policy", ".venv", "requirements.txt")
STEP_PREFIX = "gir-lb-boot-"  # components.lab: Bootstrap("gir-lb-boot") names each step's command after it
TIMEOUT_S = 1800


class PulumiStack:
    def __init__(self, name: str, template: Path, project: Path):
        self.name, self.template, self.project = name, template, project
        self.config_file = stack_file(name, project)

    # ---- running the CLI ---------------------------------------------------------------------------

    def ensure_project(self) -> None:
        if self.project == REPO:
            return
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "Pulumi.yaml", self.project / "Pulumi.yaml")
        for name in LINKED:
            link = self.project / name
            if not link.is_symlink():
                link.symlink_to(REPO / name)
        if not self.config_file.exists():
            self.config_file.write_text(self.template.read_text())

    def run(self, *args: str, echo: bool = False, check: bool = True) -> subprocess.CompletedProcess:
        """The CLI in the project, with the lab passphrase. `echo`: its output shown as it comes."""
        env = {k: v for k, v in os.environ.items() if k != "PULUMI_CONFIG_PASSPHRASE_FILE"}
        env["PULUMI_CONFIG_PASSPHRASE"] = LAB_PASSPHRASE
        with subprocess.Popen(
            [str(PULUMI), *args],
            cwd=self.project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            lines = []
            for line in proc.stdout:
                lines.append(line)
                if echo:
                    print(line, end="", flush=True)
            code = proc.wait(timeout=TIMEOUT_S)
        out = "".join(lines)
        if check and code != 0:
            raise LabError(f"pulumi {' '.join(args)} (stack {self.name}) failed:\n{failure(out)}")
        return subprocess.CompletedProcess(args, code, out, "")

    def exists(self) -> bool:
        if not (self.project / ".state").exists() or not (self.project / "Pulumi.yaml").exists():
            return False
        listed = self.run("stack", "ls", "--json", check=False)
        return listed.returncode == 0 and any(s["name"] == self.name for s in json.loads(listed.stdout or "[]"))

    def up(self, *extra: str, echo: bool = False) -> dict[str, str]:
        """`pulumi up` of the lab's stack; each step that ran (created, updated or replaced: its
        id or modification time differ in the state afterwards), in plan order, with its stdout
        ("[secret]" for a step with a secret)."""
        self.ensure_project()
        self.run("stack", "select", "--create", self.name)
        before = self.steps()
        self.run("up", "--yes", "--skip-preview", "--stack", self.name, *extra, echo=echo)
        return {name: out for name, (state, out) in self.steps().items() if before.get(name, (None,))[0] != state}

    def steps(self) -> dict[str, tuple[str, str]]:
        """Each plan step's command in the state: (its id and when it last ran, its stdout), in plan
        order. A step with a secret on stdin keeps its stdout as a secret: read here in plain (the
        lab's own state; the steps print no secret)."""
        found = {}
        for r in self.resources(show_secrets=True):
            if r["type"] == "command:remote:Command":
                name = r["urn"].rsplit("::", 1)[1].removeprefix(STEP_PREFIX)
                # id: new when replaced; modified: when created or updated (secrets re-encrypt every run)
                ran_at = json.dumps([r.get("id"), r.get("modified")])
                found[name] = (ran_at, plain((r.get("outputs") or {}).get("stdout", "")))
        return found

    def up_with_config(self, stack_file: Path) -> dict[str, str]:
        """`stack_file`'s config as the stack's, then `up`; the previous config is put back when it fails."""
        self.ensure_project()
        before = self.config_file.read_text()
        if stack_file.resolve() != self.config_file.resolve():
            doc = {k: v for k, v in (yaml.safe_load(before) or {}).items() if k != "config"}
            doc["config"] = yaml.safe_load(stack_file.read_text())["config"]
            self.config_file.write_text(yaml.safe_dump(doc, sort_keys=False))
        try:
            return self.up()
        except LabError:
            self.config_file.write_text(before)
            raise

    def destroy(self) -> None:
        if self.exists():
            self.run("destroy", "--yes", "--skip-preview", "--stack", self.name, echo=True)

    def forget(self) -> None:
        """A project copy goes entirely (its state with it); the repository keeps its empty stack."""
        if self.project != REPO:
            shutil.rmtree(self.project, ignore_errors=True)

    # ---- reading the state -------------------------------------------------------------------------

    def resources(self, show_secrets: bool = False) -> list[dict]:
        if not self.config_file.exists():
            return []
        args = ["stack", "export", "--stack", self.name, *(["--show-secrets"] if show_secrets else [])]
        return json.loads(self.run(*args).stdout)["deployment"].get("resources") or []

    def urn(self, resource: str) -> str:
        """The URN of the lab's local command `resource` (a component may share its name)."""
        found = [
            r["urn"] for r in self.resources() if r["urn"].endswith(f"::{resource}") and r["type"] == "command:local:Command"
        ]
        if len(found) != 1:
            raise LabError(f"stack {self.name} has no resource {resource!r}")
        return found[0]

    def secret_output(self, resource: str, key: str) -> str:
        for r in self.resources(show_secrets=True):
            if r["urn"].endswith(f"::{resource}") and r["type"] == "command:local:Command":
                return plain(r.get("outputs", {}).get(key))
        raise LabError(f"stack {self.name} has no resource {resource!r}")


def plain(value: object) -> str:
    """A state value as `stack export --show-secrets` writes it: a secret is {sig, plaintext: JSON}."""
    if isinstance(value, dict) and "plaintext" in value:
        return json.loads(value["plaintext"])
    return value if isinstance(value, str) else ""


def failure(out: str) -> str:
    """What to show of a failed run: the diagnostics of the resources that failed (a failed step's
    own error and output), else the output's end. The program's own block only repeats that the
    update failed, with a language host traceback when the engine stopped it."""
    if "Diagnostics:" not in out:
        return out[-4000:]
    section = out.split("Diagnostics:", 1)[1].split("\nOutputs:", 1)[0].split("\nResources:", 1)[0]
    blocks, current = [], []
    for line in section.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            current = [line]
            blocks.append(current)
        elif current:
            current.append(line)
    kept = ["\n".join(b) for b in blocks if not b[0].strip().startswith("pulumi:pulumi:Stack")]
    return "\n".join(kept)[-6000:] if kept else out[-4000:]
