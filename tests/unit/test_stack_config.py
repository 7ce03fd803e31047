"""Reading stacks: a stack file (render, lab) and the engine's config (the program) go through one
set of key rules and the model; hostile or careless input ends in a SettingsError naming the key
or the file position, never a traceback, never a hang."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pulumi.runtime.config import set_all_config

from blueprint.stack_config import FIELDS, MAX_BYTES, SettingsError, load_stack, settings_from_engine
from components.stack_config import settings_from_pulumi
from tests.conftest import REPO, STACK_NAMES

DEV = (REPO / "stacks" / "Pulumi.dev.yaml").read_text()


def file_problems(tmp_path: Path, data: str | bytes) -> list[str]:
    f = tmp_path / "Pulumi.x.yaml"
    f.write_bytes(data.encode() if isinstance(data, str) else data)
    with pytest.raises(SettingsError) as info:
        load_stack(str(f))
    assert str(info.value).startswith(f"{f}: ")
    return info.value.problems


@pytest.mark.parametrize(
    "data, problem",
    [
        (DEV.replace("vip: 10.20.1.50", "vip: [10.20.1.50"), "line 11, column 17: YAML syntax: "),
        ("- a\n- b\n", "line 1: the stack file must be a mapping with a config: key, not a list"),
        ("config: [1]\n", "config: must be a mapping of config keys (gir-lb:…), not a list"),
        (DEV + "  1: x\n", "config: key 1 at line 63 is not a string"),
        (DEV.replace("    vip:", "    [a]: b\n    vip:"), "gir-lb:network: key […] at line 10 is not a string"),
        (DEV.encode().replace(b"dev: two", b"dev: tw\xff"), "byte offset 9 (line 1): not UTF-8 (byte 0xff)"),
        (DEV + "  gir-lb:protect: !!python/object/apply:os.system ['true']\n",
         "line 63, column 19: YAML tags (tag:yaml.org,2002:python/object/apply:os.system) are not supported"),
        ("config:\n  gir-lb:tenants: " + "[" * 40 + "]" * 40 + "\n", "line 2, column 49: nested deeper than 32 levels"),
        ("config:\n  gir-lb:tenants:\n" + "".join("  " * i + "  - \n" for i in range(1, 40)),
         "line 33, column 65: nested deeper than 32 levels"),
        ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b]\n",
         "line 1, column 4: anchors and aliases (&, *) are not supported in stack files"),
        (DEV.replace("    - id: t2", "    - id: t2\n      id: t3"),
         "gir-lb:tenants[1].id: duplicate key at line 46 (first at line 45)"),
        (DEV + "  gir-lb:environment: prod\n", "gir-lb:environment: duplicate key at line 63 (first at line 4)"),
        (DEV.replace("dev: two", "dev: t\x00wo"), "line 1, column 9: unacceptable character #x0000"),
        (DEV.replace("max_agents: 200", "max_agents: " + "9" * 5000), "gir-lb:httpd.max_agents: a number of 5000 characters"),
        (DEV.replace("max_agents: 200", "max_agents: 0b_"),
         "gir-lb:httpd.max_agents: '0b_' at line 21, column 17 is not a number"),
        (DEV.replace("    region: eu-west-1\n", "    <<: {region: eu-west-1}\n", 1), "gir-lb:network: merge keys (<<) at line 7"),
        (DEV + "---\nconfig: {}\n", "line 63, column 1: a stack file holds one YAML document"),
        ("#" * (MAX_BYTES + 1), "the stack file is larger than 1 MiB"),
    ],
    ids=["syntax", "not-a-mapping", "config-not-a-mapping", "int-key", "list-key", "utf8", "python-tag", "deep-flow",
         "deep-block", "alias-bomb", "duplicate-nested", "duplicate-top", "nul", "huge-number", "bad-number", "merge-key",
         "two-documents", "too-big"],
)
def test_a_file_that_cannot_be_read_is_one_clear_line(tmp_path, data, problem):
    found = file_problems(tmp_path, data)
    assert len(found) == 1 and found[0].startswith(problem), found


def test_a_missing_file_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="cannot read the stack file: No such file or directory"):
        load_stack(str(tmp_path / "nope.yaml"))


def test_a_timestamp_stays_text_as_the_pulumi_cli_reads_it(tmp_path):
    found = file_problems(tmp_path, DEV.replace("gir-lb:environment: dev", "gir-lb:environment: 2024-02-30"))
    assert found == [
        "gir-lb:environment: '2024-02-30' is not an environment name: a lowercase letter, then up to 31 lowercase"
        " letters, digits or '-'"
    ]


# --- one path: the same cases through a stack file and through the engine's config ---------------

SECRET = "HUNTER2-SECRET-VALUE"
# name: (edit of the dev stack's config {full key: value}, secret keys, the expected problems)
KEY_CASES = {
    "unknown key": (
        lambda c: c.update({"gir-lb:netwrok": {}}), (), ["gir-lb:netwrok: unknown key; did you mean gir-lb:network?"]
    ),
    "unknown key, no near name": (lambda c: c.update({"gir-lb:colour": "blue"}), (), ["gir-lb:colour: unknown key"]),
    "dotted key": (
        lambda c: c.update({"gir-lb:network.vip": "10.20.1.51"}), (),
        ["gir-lb:network.vip: a nested key: set it with `pulumi config set --path 'network.vip' …`, "
         "or write it nested under gir-lb:network in the stack file"],
    ),
    "dotted index key": (
        lambda c: c.update({"gir-lb:tenants[0].id": "t9"}), (),
        ["gir-lb:tenants[0].id: a nested key: set it with `pulumi config set --path 'tenants[0].id' …`, "
         "or write it nested under gir-lb:tenants in the stack file"],
    ),
    "namespace typo": (
        lambda c: c.update({"girlb:environment": "dev"}), (),
        ["girlb:environment: namespace 'girlb' is not 'gir-lb'; did you mean gir-lb:environment?"],
    ),
    "plaintext tls_key": (  # and no tls_cert: the model's line about that would repeat the key
        lambda c: c.update({"gir-lb:tls_key": SECRET}), (),
        ["gir-lb:tls_key: must be set with `pulumi config set --secret` (a plaintext value is refused)"],
    ),
    "plaintext hacluster_password": (
        lambda c: c.update({"gir-lb:hacluster_password": SECRET}), (),
        ["gir-lb:hacluster_password: must be set with `pulumi config set --secret` (a plaintext value is refused)"],
    ),
    "plaintext ssh_private_key": (
        lambda c: c.update({"gir-lb:ssh_private_key": SECRET}), (),
        ["gir-lb:ssh_private_key: must be set with `pulumi config set --secret` (a plaintext value is refused)"],
    ),
    "secret network": (
        lambda c: None, ("gir-lb:network",),
        ["gir-lb:network: is a secret, but only tls_key, hacluster_password, ssh_private_key are: set it without --secret"],
    ),
    "secret and unknown": (
        lambda c: c.update({"gir-lb:extra": "x"}), ("gir-lb:environment",),
        ["gir-lb:environment: is a secret, but only tls_key, hacluster_password, ssh_private_key are: set it without --secret",
         "gir-lb:extra: unknown key"],
    ),
}


def dev_config() -> dict:
    return yaml.safe_load(DEV)["config"]


def through_file(tmp_path: Path, config: dict, secret_keys) -> list[str]:
    doc = {"config": {k: {"secure": "v1:AAAABBBB"} if k in secret_keys else v for k, v in config.items()}}
    return file_problems(tmp_path, yaml.safe_dump(doc, sort_keys=False))


def engine_form(config: dict) -> dict[str, str]:
    """As the engine passes config to a program: text (null: empty), objects and lists as JSON."""
    return {k: v if isinstance(v, str) else "" if v is None else json.dumps(v) for k, v in config.items()}


def through_engine(config: dict, secret_keys) -> list[str]:
    set_all_config(engine_form(config), list(secret_keys))
    try:
        with pytest.raises(SettingsError) as info:
            settings_from_pulumi()
    finally:
        set_all_config({}, [])
    return info.value.problems


@pytest.mark.parametrize("case", KEY_CASES)
def test_both_readers_refuse_the_same_keys_with_the_same_lines(tmp_path, case):
    edit, secret_keys, expected = KEY_CASES[case]
    config = dev_config()
    edit(config)
    from_file, from_engine = through_file(tmp_path, config, secret_keys), through_engine(config, secret_keys)
    assert from_file == from_engine
    assert from_file == expected
    assert SECRET not in "\n".join(from_file)


@pytest.mark.parametrize("name", STACK_NAMES)
def test_both_readers_give_the_same_settings_for_every_stack(name):
    path = REPO / "stacks" / f"Pulumi.{name}.yaml"
    config = yaml.safe_load(path.read_text())["config"]
    assert settings_from_engine(engine_form(config), (), source=name) == load_stack(str(path))


def test_secrets_are_seen_as_present_on_both_paths(tmp_path):
    config = dev_config() | {"gir-lb:hacluster_password": SECRET}
    f = tmp_path / "Pulumi.s.yaml"
    f.write_text(yaml.safe_dump({"config": config | {"gir-lb:hacluster_password": {"secure": "v1:AAAA"}}}))
    from_engine = settings_from_engine(engine_form(config), {"gir-lb:hacluster_password"})
    assert load_stack(str(f)) == from_engine
    assert from_engine.hacluster_password is not None and from_engine.hacluster_password.get_secret_value() == "<secret>"


def test_engine_json_nested_too_deep_is_refused_like_in_a_file():
    config = engine_form(dev_config()) | {"gir-lb:tenants": "[" * 31 + "]" * 31}
    with pytest.raises(SettingsError) as info:
        settings_from_engine(config, ())
    assert info.value.problems == ["gir-lb:tenants: nested deeper than 32 levels"]
    config["gir-lb:tenants"] = "[" * 100_000 + "]" * 100_000  # beyond json's own recursion limit: left as text
    with pytest.raises(SettingsError, match=r"gir-lb:tenants: Input should be a valid list"):
        settings_from_engine(config, ())


# --- properties: anything in, a Settings or a SettingsError out, quickly -------------------------

YAMLISH = st.sampled_from(
    ["config:", "gir-lb:", "network", "tenants", "vip", "secure", ":", " ", "  ", "\n", "- ", "[", "]", "{", "}", ",",
     "&a ", "*a", "!!python/object:os.system ", "!x ", "<<: ", "? ", "'", '"', "#", "---\n", "~", "yes", "0x_", "1e9", "\t"]
)
BYTES = st.one_of(
    st.binary(max_size=400),
    st.lists(YAMLISH, max_size=60).map(lambda parts: "".join(parts).encode()),
    st.tuples(st.integers(0, len(DEV)), st.integers(0, 40), st.binary(max_size=20)).map(
        lambda t: DEV.encode()[: t[0]] + t[2] + DEV.encode()[t[0] + t[1]:]  # the dev stack with a few bytes changed
    ),
)


@hsettings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=BYTES)
def test_any_bytes_give_settings_or_a_settings_error(tmp_path, data):
    f = tmp_path / "Pulumi.any.yaml"
    f.write_bytes(data)
    try:
        load_stack(str(f))
    except SettingsError as e:
        assert e.problems and all("\n" not in p for p in e.problems)


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
TREES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4), max_leaves=30)
KEYS = st.one_of(
    st.sampled_from([f"gir-lb:{k}" for k in FIELDS] + ["aws:region", "gir-lb:network.vip"]), TEXT.map("gir-lb:".__add__)
)
CONFIGS = st.one_of(
    st.dictionaries(KEYS, TREES, max_size=6),
    st.tuples(KEYS, TREES).map(lambda kv: dev_config() | {kv[0]: kv[1]}),  # the dev stack with one key replaced
)


class NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):  # hypothesis may share one object; a stack file may not
        return True


@hsettings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=CONFIGS, secret=st.sets(KEYS, max_size=2))
def test_any_tree_through_either_reader_gives_settings_or_a_settings_error(tmp_path, config, secret):
    f = tmp_path / "Pulumi.any.yaml"
    doc = {"config": {k: {"secure": "v1:AAAA"} if k in secret else v for k, v in config.items()}}
    f.write_text(yaml.dump(doc, Dumper=NoAliases, sort_keys=False))
    outcomes = []
    for read in (lambda: load_stack(str(f)), lambda: settings_from_engine(engine_form(config), secret)):
        try:
            outcomes.append(read())
        except SettingsError as e:
            assert all("\n" not in p for p in e.problems)
            outcomes.append(e.problems)
    assert outcomes[0] == outcomes[1]  # one path: the same settings, or the same problems
