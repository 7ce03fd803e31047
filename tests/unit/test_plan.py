"""The step plan is the protocol between the pure core and its executors: each step says its
phase, whether it waits for first boot, which secret it reads on stdin (encoded by one function)
and fills its own arguments from the instance ids."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest

from blueprint.plan import ARBITER, Step, build_plan, encode_stdin
from blueprint.render import render_bundle
from blueprint.stack_config import parse_settings
from tests.conftest import STACK_NAMES, base_config, stack_config, tenant


def plan_of(name: str):
    s = parse_settings(stack_config(name))
    return build_plan(s, render_bundle(s))


def test_stdin_encoding_is_one_function_for_every_secret():
    step = Step("s", 0, "true", "cluster")
    assert encode_stdin(step) == ""
    assert encode_stdin(replace(step, stdin="hacluster_password"), "pw with spaces") == "pw with spaces\n"
    cert, key = "-----BEGIN CERTIFICATE-----\nA\n", "-----BEGIN PRIVATE KEY-----\n'$(x)\n"
    tls = replace(step, stdin="tls")
    lines = encode_stdin(tls, (cert, key)).split("\n")
    assert len(lines) == 3 and lines[2] == ""
    assert [base64.b64decode(x).decode() for x in lines[:2]] == [cert, key]
    # as `pulumi config set tls_cert < cert.pem` stores it: without the last newline
    lines = encode_stdin(tls, (cert.rstrip("\n"), key + "\n")).split("\n")
    assert [base64.b64decode(x).decode() for x in lines[:2]] == [cert, key]
    # a payload goes first, the secret after it
    assert encode_stdin(replace(tls, payload="QQ==\n"), (cert, key)) == "QQ==\n" + encode_stdin(tls, (cert, key))
    assert encode_stdin(replace(step, payload="QQ==\n")) == "QQ==\n"


def test_the_push_reads_every_httpd_file_from_its_payload_and_its_trigger_covers_it():
    s = parse_settings(stack_config("dev"))
    bundle = render_bundle(s)
    push = next(st for st in build_plan(s, bundle) if st.name == "httpd-push-0")
    decoded = [base64.b64decode(line).decode() for line in push.payload.splitlines()]
    assert sorted(decoded) == sorted(bundle.httpd.values())
    assert not any(text in push.script for text in bundle.httpd.values())  # no content in the argument
    edited = replace(push, payload=push.payload.replace("A", "B", 1))
    assert edited.trigger != push.trigger and edited.script == push.script
    plain = next(st for st in build_plan(s, bundle) if st.name == "cluster-start")
    assert plain.trigger == hashlib.sha256(plain.script.encode()).hexdigest()  # steps without a payload: as before


def test_200_tenants_keep_every_command_far_below_the_argument_limit():
    """A remote command is one argument (`sh -c <command>` on the node), at most 128 KiB
    (MAX_ARG_STRLEN); the httpd files travel on stdin, so the command barely grows with tenants."""
    cfg = stack_config("dev")
    sizes = {}
    for n in (2, 200):
        cfg["tenants"] = [tenant(f"t{i}", 9000 + 50 * i) for i in range(1, n + 1)]
        s = parse_settings(cfg)
        steps = build_plan(s, render_bundle(s))
        sizes[n] = max(len(st.command(["i-0aaa", "i-0bbb"])) for st in steps)
    assert sizes[200] < 16 * 1024 and sizes[200] - sizes[2] < 2 * 1024, sizes


@pytest.mark.parametrize("name", STACK_NAMES)
def test_every_step_says_its_phase_and_only_prepare_waits_for_first_boot(name):
    steps = plan_of(name)
    order = ["prepare", "cluster", "httpd", "resources"]
    assert [st.phase for st in steps] == sorted((st.phase for st in steps), key=order.index)
    prepare = {st.name for st in steps if st.phase == "prepare"} - {"cluster-check"}  # the check only reads
    # and the arbiter's first step (cluster phase: it runs beside the nodes' cluster setup)
    arbiter = {st.name for st in steps if st.node == ARBITER}
    assert arbiter <= {"arbiter-prepare"}
    assert {st.name for st in steps if st.waits_for_first_boot} == prepare | arbiter and prepare != set()
    assert [st.name for st in steps if st.phase == "httpd"] == ["httpd-push-1", "httpd-push-0"]


def test_a_step_fills_the_instance_ids_itself_and_refuses_without_them():
    resources = next(st for st in plan_of("prod") if st.phase == "resources")
    command = resources.command(["i-0aaa", "i-0bbb"])
    assert command.endswith(" apply i-0aaa i-0bbb")
    with pytest.raises(ValueError, match="cluster-resources needs the instance id"):
        resources.filled_args()
    lab_resources = next(st for st in plan_of("lab") if st.phase == "resources")
    assert lab_resources.filled_args() == ["apply"]  # fencing off: nothing to fill


@pytest.mark.parametrize("config", [*STACK_NAMES, "rhel6"])
def test_a_replaced_node_reruns_its_own_steps_and_is_added_back_by_the_other(config):
    s = parse_settings(base_config("rhel6") if config == "rhel6" else stack_config(config))
    plan = {st.name: st for st in build_plan(s, render_bundle(s))}
    for i in (0, 1):
        rerun = sorted(st.name for st in plan.values() if i in st.reruns_on_replace_of)
        rejoin = f"cluster-setup-{i}" if s.profile.cluster_stack == "cman" else f"cluster-join-{i}"
        assert rerun == sorted([f"prepare-{i}", rejoin, f"httpd-push-{i}"] + (["cluster-resources"] if s.fencing else []))
        if s.profile.cluster_stack == "corosync3":
            join = plan[f"cluster-join-{i}"]
            assert join.node == 1 - i and join.args == (s.cluster.nodes[i].name, str(s.cluster.nodes[i].ip))
            assert join.stdin == "hacluster_password" and "cluster-start" in join.after
    # the identity check runs first and everything else waits for it
    assert next(iter(plan)) == "cluster-check" and all("cluster-check" in plan[f"prepare-{i}"].after for i in (0, 1))


# --- the quorum device (cluster.quorum_device) ---------------------------------------------------


def plan_with_device(os_profile: str = "rhel9", **device) -> dict[str, Step]:
    cfg = base_config(os_profile, hacluster_password="pw")
    if device:
        cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", **device}
    s = parse_settings(cfg)
    return {st.name: st for st in build_plan(s, render_bundle(s))}


@pytest.mark.parametrize("name", STACK_NAMES)
def test_every_corosync3_stack_has_the_quorum_device_step_on_the_first_node(name):
    s = parse_settings(stack_config(name))
    plan = {st.name: st for st in build_plan(s, render_bundle(s))}
    if s.profile.cluster_stack == "cman":  # no corosync-qdevice: see test_rhel6_has_no_quorum_device_step
        assert "quorum-device" not in plan
        return
    device = plan["quorum-device"]
    # the password only where there is an arbiter to authenticate to: a rotation re-runs no no-op
    assert device.node == 0 and device.phase == "cluster"
    assert device.stdin == ("hacluster_password" if s.cluster.quorum_device else None)
    assert {"cluster-start", "cluster-join-0", "cluster-join-1"} <= set(device.after)
    assert "quorum-device" in plan["cluster-resources"].after  # the delay is dropped only once the device votes
    made = s.cluster.quorum_device is not None and s.cluster.quorum_device.create
    assert ("arbiter-prepare" in plan) == made
    assert [st.name for st in plan.values() if st.node == ARBITER] == (["arbiter-prepare"] if made else [])


def test_without_a_device_the_step_only_removes_one_left_out():
    plan = plan_with_device()
    assert "arbiter-prepare" not in plan and plan["quorum-device"].reruns_on_replace_of == ()
    assert "arbiter-prepare" not in plan["quorum-device"].after


def test_an_arbiter_gir_lb_makes_is_prepared_after_the_check_and_before_the_nodes_enrol():
    plan = plan_with_device(create=True)
    arbiter = plan["arbiter-prepare"]
    assert (arbiter.node, arbiter.phase, arbiter.stdin) == (ARBITER, "cluster", "hacluster_password")
    assert arbiter.after == ("cluster-check",) and arbiter.waits_for_first_boot
    assert arbiter.reruns_on_replace_of == (ARBITER,)  # a new arbiter instance: set up again
    device = plan["quorum-device"]
    assert "arbiter-prepare" in device.after and device.reruns_on_replace_of == (ARBITER,)  # another CA: enrol again
    assert list(plan).index("arbiter-prepare") < list(plan).index("quorum-device") < list(plan).index("cluster-resources")
    # the nodes' own steps are unchanged by the arbiter
    assert sorted(st.name for st in plan.values() if ARBITER in st.reruns_on_replace_of) == ["arbiter-prepare", "quorum-device"]


def test_an_existing_arbiter_has_no_step_of_its_own():
    plan = plan_with_device(create=False)
    assert "arbiter-prepare" not in plan and all(st.node in (0, 1) for st in plan.values())
    assert plan["quorum-device"].reruns_on_replace_of == () and "arbiter-prepare" not in plan["quorum-device"].after


def test_rhel6_has_no_quorum_device_step():
    plan = plan_with_device("rhel6")
    assert not {"quorum-device", "arbiter-prepare"} & set(plan) and all(st.node in (0, 1) for st in plan.values())


def test_the_arbiter_steps_take_no_instance_id():
    """Bootstrap hands every machine's instance id to every step; the arbiter's (the third) fills nothing."""
    plan = plan_with_device(create=True)
    for name in ("arbiter-prepare", "quorum-device"):
        assert plan[name].filled_args(("i-0aaa", "i-0bbb", "i-0ccc")) == []
    assert plan["cluster-resources"].filled_args(("i-0aaa", "i-0bbb", "i-0ccc")) == ["apply", "i-0aaa", "i-0bbb"]
