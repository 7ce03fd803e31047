"""Reading a stack's gir-lb config — from a `Pulumi.<stack>.yaml` file (render, lab) or as the
Pulumi engine passes it (the program) — into the settings model, with every problem reported
at once, one line each, naming its config key."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml
from pydantic import ValidationError

from .settings import NAMESPACE, SECRET_PLACEHOLDER, Problems, Settings

SECRET_KEYS = ("tls_key", "hacluster_password", "ssh_private_key")


class SettingsError(Exception):
    """All problems of a stack, one line each, naming the config key."""

    def __init__(self, problems: list[str], source: str = "stack"):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the gir-lb settings:\n{lines}")


def _key_path(loc: tuple[Any, ...]) -> str:
    out = NAMESPACE + ":"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("" if i == 0 else ".") + str(part)
    return out.rstrip(":")


def _join(base: str, sub: str) -> str:
    if not sub:
        return base
    if base.endswith(":"):
        return base + sub
    return base + ("" if sub.startswith("[") else ".") + sub


def _format_errors(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        # Unions report one error per branch; the function-after wrapper adds a location part.
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        base = _key_path(loc) if loc else NAMESPACE + ":"
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, Problems):
            problems += [f"{_join(base, sub)}: {msg}" for sub, msg in cause.items]
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{base.rstrip(':') or NAMESPACE}: {msg}")
    return problems


def parse_settings(config: dict[str, Any], source: str = "stack") -> Settings:
    """Validate a stack's gir-lb config (keys without the namespace). Raises SettingsError."""
    try:
        return Settings.model_validate(config)
    except ValidationError as exc:
        raise SettingsError(_format_errors(exc), source) from None


def config_from_stack_file(doc: dict[str, Any]) -> dict[str, Any]:
    """The gir-lb keys of a Pulumi.<stack>.yaml document; encrypted values become placeholders."""

    def reveal(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"secure"}:
                return SECRET_PLACEHOLDER
            return {k: reveal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [reveal(v) for v in value]
        return value

    config = (doc or {}).get("config") or {}
    prefix = NAMESPACE + ":"
    return {k.removeprefix(prefix): reveal(v) for k, v in config.items() if k.startswith(prefix)}


def load_stack(path: str) -> Settings:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    return parse_settings(config_from_stack_file(doc), source=path)


def config_from_engine(get_text: Callable[[str], str | None], secret_is_set: Callable[[str], bool]) -> dict[str, Any]:
    """The gir-lb keys as the Pulumi engine passes them: objects and lists as JSON text, scalars as
    text (pydantic converts "true" -> True). Secret keys are read as presence only: their values
    reach the hosts as Pulumi secrets, never through the settings model."""
    config: dict[str, Any] = {}
    for key in Settings.model_fields:
        if key in SECRET_KEYS:
            if secret_is_set(key):
                config[key] = SECRET_PLACEHOLDER
            continue
        text = get_text(key)
        if text is not None:
            config[key] = _json_or_text(text)
    return config


def _json_or_text(text: str) -> object:
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # left as text: the settings error then names the key
    return text
