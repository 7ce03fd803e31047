"""The Pulumi side of reading a stack: the engine's config values into the settings model (the
reading and error rules themselves are blueprint.stack_config's), and the secrets as Outputs."""

from __future__ import annotations

import pulumi
from pulumi.runtime import config as runtime_config

from blueprint.settings import NAMESPACE, Settings, check_tls_pair
from blueprint.stack_config import SettingsError, settings_from_engine


def settings_from_pulumi() -> Settings:
    """All config keys the engine passed (unknown ones too, so they are refused), and which are secrets.
    The language host passes them in the environment; the tests' mocks set them in the runtime."""
    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret = set(runtime_config.get_config_secret_keys_env()) | {k for k in config if runtime_config.is_config_secret(k)}
    return settings_from_engine(config, secret, source=f"stack {pulumi.get_stack()}")


def secrets_from_pulumi(s: Settings) -> dict[str, pulumi.Output | str | None]:
    """The secret values as Pulumi secrets (Outputs); the SSH key is required to bootstrap."""
    cfg = pulumi.Config(NAMESPACE)
    problems = check_tls_pair(cfg.get("tls_cert"), cfg.get("tls_key"))  # only here is the key's value seen
    if s.ssh_private_key is None:
        problems.append(f"{NAMESPACE}:ssh_private_key: required to bootstrap the nodes over SSH (pulumi config set --secret)")
    if problems:
        raise SettingsError(problems, source=f"stack {pulumi.get_stack()}")
    return {
        "ssh_private_key": cfg.require_secret("ssh_private_key"),
        "hacluster_password": cfg.get_secret("hacluster_password"),
        "tls_key": cfg.get_secret("tls_key"),
        "tls_cert": cfg.get("tls_cert"),
    }
