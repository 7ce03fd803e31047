"""Reading a stack's gir-lb config — from a `Pulumi.<stack>.yaml` file (render, lab) or as the
Pulumi engine passes it (the program) — into the settings model, with every problem reported
at once, one line each, naming its config key or, for a file that cannot be read, its position.

Both readers give the same form, full config key -> (value, is secret), and one function,
`settings_from_entries`, applies the rules to it: namespaces, unknown and dotted keys, secrets,
then the model. Reading is bounded: size, nesting depth, no aliases (safe_yaml), so no input
hangs it."""

from __future__ import annotations

import difflib
import json
import re
import typing
from collections.abc import Collection, Mapping
from typing import Any, NoReturn

from pydantic import SecretStr, ValidationError

from .safe_yaml import MAX_DEPTH, YamlProblems, parse_yaml
from .safe_yaml import shown as _show
from .settings import NAMESPACE, SECRET_PLACEHOLDER, Problems, Settings

# The keys whose values the model keeps as SecretStr: only these may be (and must be) secrets.
SECRET_KEYS = tuple(key for key, field in Settings.model_fields.items() if SecretStr in typing.get_args(field.annotation))
FIELDS = tuple(Settings.model_fields)
# A real stack is a few KiB; a 190-tenant lab stack, the most the engine can pass (ENV_STRING_LIMIT), ~130 KiB.
MAX_BYTES = 1 << 20

# The top level of a Pulumi.<stack>.yaml (the CLI's ProjectStack).
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")

Entries = dict[str, tuple[Any, bool]]


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
            out += ("" if i == 0 else ".") + _show(part)
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
    """Validate a stack's gir-lb config (keys without the namespace) with the model alone. Raises
    SettingsError. Stacks go through settings_from_entries, which also applies the key rules."""
    try:
        return Settings.model_validate(config)
    except ValidationError as exc:
        raise SettingsError(_format_errors(exc), source) from None


# --- the one path ---------------------------------------------------------------------------


def settings_from_entries(entries: Mapping[str, tuple[Any, bool]], source: str = "stack") -> Settings:
    """The settings of a stack's config as either reader gives it: full key -> (value, is secret).
    A secret's value never reaches the model (it sees a placeholder): secrets go to the hosts as
    Pulumi secrets only."""
    problems: list[str] = []
    config: dict[str, Any] = {}
    reported: set[str] = set()  # keys with a problem here: the model's lines about them would repeat it
    for full, (value, secret) in entries.items():
        ns, colon, key = full.partition(":")
        path = _show(full)
        if not colon:
            problems.append(f"{path}: a config key needs its namespace: {NAMESPACE}:{_show(full)}")
        elif ns != NAMESPACE:
            if difflib.SequenceMatcher(None, ns.lower(), NAMESPACE).ratio() >= 0.8:
                problems.append(f"{path}: namespace {ns[:80]!r} is not {NAMESPACE!r}; did you mean {NAMESPACE}:{_show(key)}?")
        elif key not in FIELDS:
            head = re.split(r"[.\[]", key, maxsplit=1)[0]
            if head != key and head in FIELDS:
                problems.append(
                    f"{path}: a nested key: set it with `pulumi config set --path {key[:80]!r} …`, "
                    f"or write it nested under {NAMESPACE}:{head} in the stack file"
                )
            else:
                close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.75)
                problems.append(f"{path}: unknown key" + (f"; did you mean {NAMESPACE}:{close[0]}?" if close else ""))
        elif key in SECRET_KEYS and not secret:
            problems.append(f"{path}: must be set with `pulumi config set --secret` (a plaintext value is refused)")
            config[key] = SECRET_PLACEHOLDER  # present, so the checks of the other keys see it
            reported.add(key)
        elif secret and key not in SECRET_KEYS:
            problems.append(f"{path}: is a secret, but only {', '.join(SECRET_KEYS)} are: set it without --secret")
            reported.add(key)
        else:
            config[key] = SECRET_PLACEHOLDER if secret else value
    size = engine_config_bytes(entries)
    if size > ENV_STRING_LIMIT:
        problems.append(
            f"{NAMESPACE}:tenants: the stack's config is {size:,} bytes as the Python language host hands it to the"
            f" program (one environment variable, PULUMI_CONFIG), and Linux refuses an environment string over"
            f" {ENV_STRING_LIMIT:,} bytes, so `pulumi up` could not start: split the tenants over two stacks (pairs)"
        )
    try:
        settings = parse_settings(config, source)
    except SettingsError as exc:
        problems += [p for p in exc.problems if _top_key(p) not in reported]
    if problems:
        raise SettingsError(problems, source)
    return settings


ENV_STRING_LIMIT = 128 * 1024  # MAX_ARG_STRLEN: the longest string execve takes, its NUL included


def engine_config_bytes(entries: Mapping[str, tuple[Any, bool]]) -> int:
    """The length of `PULUMI_CONFIG=<json>`, the environment string in which the Python language host
    passes the whole stack config to the program (objects as compact JSON text inside it, as Go's
    encoder writes them: <, > and & as \\u escapes), with its NUL."""
    compact = {"separators": (",", ":"), "ensure_ascii": False}
    flat = {k: v if isinstance(v, str) else json.dumps(v, **compact) for k, (v, _) in entries.items()}  # type: ignore[arg-type]
    text = json.dumps(flat, **compact)  # type: ignore[arg-type]
    go_escapes = sum(text.count(c) for c in "<>&") * 5
    return len(f"PULUMI_CONFIG={text}".encode()) + go_escapes + 1


def _top_key(problem: str) -> str:
    m = re.match(rf"{NAMESPACE}:([^.\[:]*)", problem)
    return m.group(1) if m else ""


# --- the engine's config ----------------------------------------------------------------------


def entries_from_engine(config: Mapping[str, Any], secret_keys: Collection[str], source: str = "stack") -> Entries:
    """The config as the Pulumi engine passes it: every key with its namespace, objects and lists
    as JSON text, scalars as text (pydantic converts "true" -> True)."""
    entries: Entries = {}
    problems = []
    for key, text in config.items():
        secret = key in secret_keys
        value = _json_or_text(text) if isinstance(text, str) and not secret and key.startswith(NAMESPACE + ":") else text
        if _depth(value) > MAX_DEPTH - 2:  # as in a file, where the document and config: are two levels
            problems.append(f"{_show(key)}: nested deeper than {MAX_DEPTH} levels")
        entries[key] = (value, secret)
    if problems:
        raise SettingsError(problems, source)
    return entries


def settings_from_engine(config: Mapping[str, Any], secret_keys: Collection[str], source: str = "stack") -> Settings:
    return settings_from_entries(entries_from_engine(config, secret_keys, source), source)


def _json_or_text(text: str) -> object:
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            pass  # left as text: the settings error then names the key
    return text


def _depth(value: object) -> int:
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            todo += [(c, d + 1) for c in (v.values() if isinstance(v, dict) else v)]
    return deepest


# --- a stack file ----------------------------------------------------------------------------


def load_stack(path: str) -> Settings:
    return settings_from_entries(read_stack_file(path), source=path)


def read_stack_file(path: str) -> Entries:
    """The config of a Pulumi.<stack>.yaml. A `{secure: …}` value (anywhere in a key's value)
    makes the key a secret. Raises SettingsError for a file that cannot be read as a stack file."""

    def fail(problem: str) -> NoReturn:
        raise SettingsError([problem], source=path)

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as e:
        fail(f"cannot read the stack file: {e.strerror}")
    if len(data) > MAX_BYTES:
        fail(f"the stack file is larger than {MAX_BYTES >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        fail(f"byte offset {e.start} (line {line}): not UTF-8 (byte 0x{data[e.start]:02x})")
    try:
        doc, problems = parse_yaml(text)
    except YamlProblems as e:
        raise SettingsError(e.problems, source=path) from None
    if problems:
        raise SettingsError(problems, source=path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        fail(f"line 1: the stack file must be a mapping with a config: key, not {_kind(doc)}")
    stray = [k for k in doc if k not in STACK_FILE_KEYS]
    if stray:
        raise SettingsError([f"{_show(k)}: not a stack file key; the {NAMESPACE}: keys go under config:" for k in stray], path)
    config = doc.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        fail(f"config: must be a mapping of config keys ({NAMESPACE}:…), not {_kind(config)}")
    return {k: (_as_engine_passes(v), _has_secure(v)) for k, v in config.items()}


def _as_engine_passes(value: object) -> object:
    """A top-level scalar as text, as the engine passes it to a program (null: empty text), so the
    rules and the model see one form whichever reader ran; objects and lists stay as they are."""
    if value is None:
        return ""
    return value if isinstance(value, str | dict | list) else json.dumps(value)


def _kind(value: object) -> str:
    kinds: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _has_secure(value: object) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    return isinstance(value, list) and any(_has_secure(v) for v in value)
