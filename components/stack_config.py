"""Reads a stack's gir-lb config from the Pulumi engine into the settings model.

Secret keys are read as presence only: their values reach the hosts as Pulumi secrets (stdin of
a command), never through the settings model."""

from __future__ import annotations

import json

import pulumi

from blueprint.settings import NAMESPACE, SECRET_PLACEHOLDER, Settings, SettingsError, parse_settings

SECRET_KEYS = ("tls_key", "hacluster_password", "ssh_private_key")


def _json_or_text(text: str) -> object:
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass  # left as text: the settings error then names the key
    return text


def settings_from_pulumi() -> Settings:
    cfg = pulumi.Config(NAMESPACE)
    raw: dict[str, object] = {}
    for key in Settings.model_fields:
        if key in SECRET_KEYS:
            if cfg.get_secret(key) is not None:  # an Output when set; value not read here
                raw[key] = SECRET_PLACEHOLDER
            continue
        text = cfg.get(key)
        if text is not None:
            # Objects and lists arrive as JSON; scalars as text, which pydantic converts ("true" -> True).
            raw[key] = _json_or_text(text)
    return parse_settings(raw, source=f"stack {pulumi.get_stack()}")


def secrets_from_pulumi(s: Settings) -> dict[str, pulumi.Output | str | None]:
    """The secret values as Pulumi secrets (Outputs); the SSH key is required to bootstrap."""
    cfg = pulumi.Config(NAMESPACE)
    if s.ssh_private_key is None:
        raise SettingsError(
            [f"{NAMESPACE}:ssh_private_key: required to bootstrap the nodes over SSH (pulumi config set --secret)"],
            source=f"stack {pulumi.get_stack()}",
        )
    return {
        "ssh_private_key": cfg.require_secret("ssh_private_key"),
        "hacluster_password": cfg.get_secret("hacluster_password"),
        "tls_key": cfg.get_secret("tls_key"),
        "tls_cert": cfg.get("tls_cert"),
    }
