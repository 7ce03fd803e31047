"""Stack names and their files: stack <name> keeps its config in stacks/Pulumi.<name>.yaml of its
project (Pulumi.yaml's stackConfigDir), in this repository or in a lab's copy of it."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STACKS_DIR = "stacks"  # Pulumi.yaml's stackConfigDir


def stack_file(name: str, project: Path = REPO) -> Path:
    return project / STACKS_DIR / f"Pulumi.{name}.yaml"


def stack_name(path: str | Path) -> str:
    """The stack a stack file belongs to: stacks/Pulumi.dev.yaml -> dev."""
    return Path(path).name.removeprefix("Pulumi.").removesuffix(".yaml")


def stack_files(project: Path = REPO) -> list[Path]:
    return sorted((project / STACKS_DIR).glob("Pulumi.*.yaml"))
