"""The real Pulumi engine, offline: the CLI that scripts/engine.sh builds from Go modules, a
`file://` backend inside the project and the passphrase secrets provider.

The Go module proxy serves neither the Python language host nor pulumi-resource-command (see
docs/engine.md), so the program runs as an inline Automation API program: the Python SDK's own
language server evaluates `components.program.run` and the CLI connects to it (`--client`)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".engine"  # git-ignored: built binaries and PULUMI_HOME
CLI_ROOT = CACHE / "current"  # scripts/engine.sh points it at the build of the current pins
CLI = CLI_ROOT / "bin" / "pulumi"
PROJECT = "gir-lb"


class EngineError(Exception):
    pass


def backend_url(project_dir: Path) -> str:
    return f"file://{project_dir / '.state'}"


def environment(project_dir: Path) -> dict[str, str]:
    """What every CLI run gets: no update check, no plugin download, no registry, local state."""
    if not CLI.exists():
        raise EngineError(f"{CLI} is missing: run scripts/engine.sh first")
    if not (os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise EngineError("set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): stack secrets use a passphrase")
    (project_dir / ".state").mkdir(exist_ok=True)
    (CACHE / "home").mkdir(parents=True, exist_ok=True)
    return {
        "PULUMI_HOME": str(CACHE / "home"),
        "PULUMI_BACKEND_URL": backend_url(project_dir),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
    }
