"""No secret on a command line: every step of the plan that reads a secret (the hacluster password,
the TLS key) runs its rendered script, for every OS profile, under `strace -f -e execve` in a
private mount, network and PID namespace, with stand-ins for the commands that would change the
machine (pcs, chpasswd, systemctl, apache2ctl, …: they only exit 0). Every argv and environment
of every program the step runs is read back; none may hold the secret. Each step must also reach
the command that takes the secret on stdin, so a step that stopped early proves nothing. Stacks
with a quorum device (an aws one, and the lab-aws one) add the arbiter's steps and the nodes'
enrolment with it (arbiter-prepare, quorum-device: the hacluster password)."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest

from blueprint.plan import build_plan, encode_stdin
from blueprint.profiles import PROFILES
from blueprint.render import render_bundle
from blueprint.stack_config import parse_settings
from lab.live import RHEL6_HTTPD_CONF
from tests import real_programs
from tests.conftest import base_config, stack_config

PASSWORD = "pw-8d1f0c5e marker"  # with a space: `read -r` must keep it whole
# Programs that would change this machine or need a cluster: each is a stand-in that exits 0.
STAND_INS = (
    "pcs", "ccs", "cman_tool", "chpasswd", "passwd", "systemctl", "service", "chkconfig", "crm_resource",
    "crm_mon", "crm_attribute", "cibadmin", "corosync-cmapctl", "corosync-cfgtool", "apache2ctl",
    "apache2", "httpd", "httpd.worker", "a2enmod", "sysctl", "fence_aws", "aws", "curl",
    "corosync-qdevice-tool", "dnf", "apt-get",
)  # fmt: skip
# The stand-ins that take a secret on stdin read it, as the real programs do; corosync-qdevice-tool
# says the device reached its arbiter (quorum-device waits for that).
READS_STDIN = {
    "chpasswd": "cat >/dev/null\n",
    "pcs": 'if [ "$1 $2" = "host auth" ]; then cat >/dev/null; fi\n',
    "corosync-qdevice-tool": "echo 'State:                  Connected'\n",
}
# What each secret-reading step must run (and hand the secret to on stdin) before it is done.
CONSUMERS = {
    "prepare": "chpasswd", "cluster-setup": "pcs host auth", "cluster-join": "pcs host auth", "httpd-push": "base64 -d",
    "arbiter-prepare": "chpasswd", "quorum-device": "pcs host auth",
}  # fmt: skip


def aws_with_a_device() -> dict:
    cfg = base_config("rhel9", httpd={"tls": {"enabled": True}})
    cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", "create": True}
    return cfg


def lab_aws_with_a_device() -> dict:
    cfg = stack_config("lab-aws")
    cfg["cluster"]["fencing"] = {"mode": "fence_aws"}  # no priority-fencing-delay beside a device
    cfg["cluster"]["quorum_device"] = {"address": "198.18.0.30", "create": True}
    return cfg


# Every profile; and with a quorum device whose arbiter gir-lb makes (an aws rhel9 stack, the lab-aws stack).
VARIANTS = {
    **{p: lambda p=p: base_config(p, httpd={"tls": {"enabled": True}}) for p in PROFILES},
    "rhel9-with-arbiter": aws_with_a_device,
    "lab-aws-with-arbiter": lab_aws_with_a_device,
}


def secret_steps(variant: str):
    s = parse_settings({**VARIANTS[variant](), "hacluster_password": PASSWORD})
    bundle = render_bundle(s)
    return [st for st in build_plan(s, bundle) if st.stdin is not None]


CASES = [(v, st.name) for v in VARIANTS for st in secret_steps(v)]


def sandboxed(tmp_path: Path, script: str, name: str, args: list[str], stdin: str) -> tuple[subprocess.CompletedProcess, str]:
    """Runs the step's script as its executors do (`bash -c SCRIPT NAME ARGS…`, stdin) in the
    sandbox; returns the result and strace's record of every execve."""
    for d in ("etc", "usr-sbin", "usr-bin"):
        (tmp_path / f"{d}.upper").mkdir(parents=True)
        (tmp_path / f"{d}.work").mkdir()
    for d in ("usr-sbin", "usr-bin"):
        for cmd in STAND_INS:
            stub = tmp_path / f"{d}.upper" / cmd
            stub.write_text("#!/bin/bash\n" + READS_STDIN.get(cmd, "") + "exit 0\n")
            stub.chmod(0o755)
    # RHEL's stock main config, whose Listen lines the push comments out
    (tmp_path / "etc.upper" / "httpd" / "conf").mkdir(parents=True)
    (tmp_path / "etc.upper" / "httpd" / "conf" / "httpd.conf").write_text(RHEL6_HTTPD_CONF.read_text())
    (tmp_path / "step.sh").write_text(script)
    log = tmp_path / "execve.log"
    overlays = " ".join(
        f"mount -t overlay overlay -o lowerdir={lower},upperdir={tmp_path}/{d}.upper,workdir={tmp_path}/{d}.work {lower};"
        for d, lower in (("etc", "/etc"), ("usr-sbin", "/usr/sbin"), ("usr-bin", "/usr/bin"))
    )
    inner = (
        f"{overlays} mount -t tmpfs none /run; mount -t tmpfs none /var/tmp; ip link set lo up;"
        # pcsd's port, which node-prepare waits for
        " python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\",2224)); s.listen(); time.sleep(60)'"
        " </dev/null >/dev/null 2>&1 & listener=$!; sleep 0.3;"
        f' strace -f -qq -v -s 100000 -e trace=execve -o {log} bash -c "$(cat {tmp_path}/step.sh)" "$0" "$@" && rc=0 || rc=$?;'
        " kill $listener; exit $rc"
    )
    cmd = ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--propagation", "private",
           "bash", "-c", inner, name, *args]  # fmt: skip
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    return done, log.read_text() if log.exists() else ""


STRING = r'"((?:[^"\\]|\\.)*)"'


def programs_run(execs: str) -> list[list[str]]:
    """The argv of every program strace saw started, but the step's own `bash -c SCRIPT`."""
    found = []
    for line in execs.splitlines():
        call = re.search(r"execve\(" + STRING + r", \[(.*)", line)
        if not call:
            continue
        argv, rest = [], call.group(2)
        while m := re.match(STRING + r"(, )?", rest):
            argv.append(m.group(1))
            rest = rest[m.end() :]
        if argv[:2] != ["bash", "-c"]:
            found.append(argv)
    return found


def forbidden(tls_key: str) -> list[str]:
    """The secrets as a command line could carry them: the password; the key's PEM lines and the
    base64 of the whole key (how the push reads it from stdin), in pieces of 24 characters."""
    key_lines = [line for line in tls_key.splitlines() if line and not line.startswith("-----")]
    sent = base64.b64encode((tls_key.rstrip("\n") + "\n").encode()).decode()
    pieces = [text[i : i + 24] for text in [*key_lines, sent] for i in range(0, len(text) - 23, 24)]
    return [PASSWORD, *pieces]


def test_every_step_that_reads_a_secret_is_a_case():
    """The quorum device's steps are among the cases, on both stacks with an arbiter."""
    for variant in ("rhel9-with-arbiter", "lab-aws-with-arbiter"):
        assert {(variant, "arbiter-prepare"), (variant, "quorum-device")} <= set(CASES)
        assert all("read -r password" in st.script for st in secret_steps(variant) if "quorum" in st.name or "arbiter" in st.name)
    assert {re.sub(r"-\d+$", "", name) for _, name in CASES} == set(CONSUMERS)


@pytest.mark.parametrize("variant, step_name", CASES, ids=[f"{v}-{n}" for v, n in CASES])
def test_no_step_puts_a_secret_on_a_command_line(tmp_path, variant, step_name):
    step = next(st for st in secret_steps(variant) if st.name == step_name)
    crt, key = real_programs.test_certificate(str(tmp_path))
    secret = PASSWORD if step.stdin == "hacluster_password" else (crt, key)
    done, execs = sandboxed(tmp_path / "box", step.script, step.name, step.filled_args(("i-0123456789abcdef0",) * 2),
                            encode_stdin(step, secret))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ran = [" ".join(argv) for argv in programs_run(execs)]
    if step.stdin == "tls" or "read -r password" in step.script:  # (cman's node-prepare has no use for it)
        consumer = CONSUMERS[re.sub(r"-\d+$", "", step.name)]
        assert any(run.startswith(consumer) for run in ran), ran
    leaks = [piece for piece in forbidden(key) if piece in execs]
    assert leaks == [], [line for line in execs.splitlines() if any(p in line for p in leaks)][:3]


def test_the_check_sees_a_secret_put_on_a_command_line(tmp_path):
    """The bug a reviewer tried: the password handed to pcs as `-p "$password"`."""
    step = next(st for st in secret_steps("rhel9") if st.name == "cluster-join-0")
    leaky = step.script.replace("pcs host auth", 'pcs host auth -p "$password"', 1)
    done, execs = sandboxed(tmp_path / "box", leaky, step.name, list(step.args), encode_stdin(step, PASSWORD))
    assert done.returncode == 0, done.stderr
    assert PASSWORD in execs
