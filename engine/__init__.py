"""The real Pulumi engine, offline: the CLI, the Python language host and the command provider
that scripts/engine.sh builds from source, a `file://` backend inside the project and the
passphrase secrets provider (docs/engine.md)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".engine"  # git-ignored: built binaries and PULUMI_HOME
CLI_ROOT = CACHE / "current"  # scripts/engine.sh points it at the build of the current pins
CLI = CLI_ROOT / "bin" / "pulumi"  # the language host sits next to it, where the CLI looks first
HOME = CACHE / "home"  # PULUMI_HOME: the command provider is installed here


class EngineError(Exception):
    pass


def project_dir() -> Path:
    """Like the CLI: the nearest directory upwards with a Pulumi.yaml."""
    here = Path.cwd().resolve()
    return next((d for d in (here, *here.parents) if (d / "Pulumi.yaml").exists()), REPO)


def backend_url(project_dir: Path) -> str:
    return f"file://{project_dir / '.state'}"


def environment(project_dir: Path) -> dict[str, str]:
    """What every CLI run gets: no update check, no plugin download, no registry, local state."""
    if not CLI.exists():
        raise EngineError(f"{CLI} is missing: run scripts/engine.sh first")
    if not (os.environ.get("PULUMI_CONFIG_PASSPHRASE") is not None or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        raise EngineError("set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE): stack secrets use a passphrase")
    (project_dir / ".state").mkdir(exist_ok=True)
    return {
        "PULUMI_HOME": str(HOME),
        "PULUMI_BACKEND_URL": backend_url(project_dir),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
    }
