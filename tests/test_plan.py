"""The step plan is the protocol between the pure core and its executors: each step says its
phase, whether it waits for first boot, which secret it reads on stdin (encoded by one function)
and fills its own arguments from the instance ids."""

from __future__ import annotations

import base64

import pytest

from blueprint.plan import build_plan, encode_stdin
from blueprint.render import render_bundle
from blueprint.stack_config import parse_settings
from conftest import STACK_NAMES, stack_config


def plan_of(name: str):
    s = parse_settings(stack_config(name))
    return build_plan(s, render_bundle(s))


def test_stdin_encoding_is_one_function_for_every_secret():
    assert encode_stdin(None, None) == ""
    assert encode_stdin("hacluster_password", "pw with spaces") == "pw with spaces\n"
    cert, key = "-----BEGIN CERTIFICATE-----\nA\n", "-----BEGIN PRIVATE KEY-----\n'$(x)\n"
    lines = encode_stdin("tls", (cert, key)).split("\n")
    assert len(lines) == 3 and lines[2] == ""
    assert [base64.b64decode(x).decode() for x in lines[:2]] == [cert, key]
    # as `pulumi config set tls_cert < cert.pem` stores it: without the last newline
    lines = encode_stdin("tls", (cert.rstrip("\n"), key + "\n")).split("\n")
    assert [base64.b64decode(x).decode() for x in lines[:2]] == [cert, key]


@pytest.mark.parametrize("name", STACK_NAMES)
def test_every_step_says_its_phase_and_only_prepare_waits_for_first_boot(name):
    steps = plan_of(name)
    order = ["prepare", "cluster", "httpd", "resources"]
    assert [st.phase for st in steps] == sorted((st.phase for st in steps), key=order.index)
    assert {st.name for st in steps if st.waits_for_first_boot} == {st.name for st in steps if st.phase == "prepare"} != set()
    assert [st.name for st in steps if st.phase == "httpd"] == ["httpd-push-1", "httpd-push-0"]


def test_a_step_fills_the_instance_ids_itself_and_refuses_without_them():
    resources = next(st for st in plan_of("prod") if st.phase == "resources")
    command = resources.command(["i-0aaa", "i-0bbb"])
    assert command.endswith(" apply i-0aaa i-0bbb")
    with pytest.raises(ValueError, match="cluster-resources needs the instance id"):
        resources.filled_args()
    lab_resources = next(st for st in plan_of("lab") if st.phase == "resources")
    assert lab_resources.filled_args() == ["apply"]  # fencing off: nothing to fill
