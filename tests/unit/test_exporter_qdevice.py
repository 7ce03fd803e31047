"""gir-lb-exporter's quorum device metric (`--quorum-device`): the parser on what the real
`corosync-quorumtool -s` prints (run as hacluster, the exporter's user: corosync-qdevice-tool's
socket is root's alone), and one `--once` scrape each against a stand-in tool that prints it: the
arbiter's vote counting here or not, and the failures that say nothing about the arbiter (a
collect error)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blueprint import exporter
from tests.conftest import metric_values

# Captured in the lab (corosync 3.1.7, corosync-qdevice 3.0.3, Debian 12) on lab-a with
# `runuser -u hacluster -- corosync-quorumtool -s`: the arbiter voting, and 12 s after its power cut.
HEAD = """\
Quorum information
------------------
Date:             Mon Dec  7 15:15:40 2026
Quorum provider:  corosync_votequorum
Nodes:            2
Node ID:          1
Ring ID:          1.9
Quorate:          Yes

Votequorum information
----------------------
Expected votes:   3
Highest expected: 3
Total votes:      {total}
Quorum:           2{quorum_pad}
Flags:            Quorate Qdevice{flags_pad}

Membership information
----------------------
    Nodeid      Votes    Qdevice Name
"""
VOTING = HEAD.format(total=3, quorum_pad="  ", flags_pad=" ") + (
    "         1          1    A,V,NMW lab-a (local)\n"
    "         2          1    A,V,NMW lab-b\n"
    "         0          1            Qdevice\n"
)
ARBITER_DOWN = HEAD.format(total=2, quorum_pad="  ", flags_pad=" ") + (
    "         1          1   A,NV,NMW lab-a (local)\n"
    "         2          1   A,NV,NMW lab-b\n"
    "         0          0            Qdevice (votes 1)\n"
)
# A two-node cluster without a device (two_node): no Qdevice column at all.
NO_DEVICE = (
    "Membership information\n----------------------\n    Nodeid      Votes Name\n"
    "         1          1 lab-a (local)\n         2          1 lab-b\n"
)


@pytest.mark.parametrize("status, voting", [(VOTING, True), (ARBITER_DOWN, False)], ids=["arbiter-voting", "arbiter-down"])
def test_the_local_nodes_qdevice_flags_tell_the_vote(status, voting):
    assert exporter.quorum_device_voting(status) is voting


def test_only_the_local_line_counts():
    """The other node's flags say nothing about this node's link."""
    mixed = VOTING.replace("A,V,NMW lab-a (local)", "A,NV,NMW lab-a (local)")
    assert exporter.quorum_device_voting(mixed) is False


@pytest.mark.parametrize("text", ["", NO_DEVICE, VOTING.split("Membership")[0]], ids=["empty", "no-device", "no-membership"])
def test_output_without_qdevice_flags_is_an_error(text):
    with pytest.raises(ValueError):
        exporter.quorum_device_voting(text)


# ---- one scrape (--once) against a stand-in corosync-quorumtool ----------------------------------


def scrape(tmp_path: Path, tool: tuple[int, str, str] | None, *extra: str) -> dict[str, float]:
    """The exporter run with `extra` options and a PATH holding only the stand-in tool (exit code,
    stdout, stderr), or nothing (tool None): no crm_mon either, httpd's status page refused."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if tool is not None:
        code, out, err = tool
        (tmp_path / "out").write_text(out)
        (tmp_path / "err").write_text(err)
        stand_in = bin_dir / "corosync-quorumtool"
        stand_in.write_text(
            "#!/bin/sh\n"
            '[ "$*" = -s ] || { echo "stand-in: called as $*" >&2; exit 9; }\n'
            f"/bin/cat {tmp_path / 'out'}\n/bin/cat {tmp_path / 'err'} >&2\nexit {code}\n"
        )
        stand_in.chmod(0o755)
    args = ["--listen", ":0", "--status-url", "http://127.0.0.1:9/server-status?auto"]
    args += ["--balancers", "rcs=rcs", "--vip-resource", "virtual_ip", *extra]
    done = subprocess.run(
        [sys.executable, exporter.__file__, "--once", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(bin_dir)},
    )
    assert done.returncode == 0, done.stderr
    return metric_values(done.stdout)


VOTING_SERIES = "gir_lb_quorum_device_voting"
QDEVICE_ERROR_SERIES = 'gir_lb_collect_error{source="qdevice"}'


@pytest.mark.parametrize(
    "tool, voting",
    [
        ((0, VOTING, ""), 1),
        ((0, ARBITER_DOWN, ""), 0),
        ((2, ARBITER_DOWN.replace("Quorate:          Yes", "Quorate:          No"), ""), 0),
    ],
    ids=["voting", "arbiter-down", "arbiter-down-not-quorate"],
)
def test_the_scrape_reports_the_arbiters_vote(tmp_path, tool, voting):
    found = scrape(tmp_path, tool, "--quorum-device")
    assert found[VOTING_SERIES] == voting and found[QDEVICE_ERROR_SERIES] == 0
    assert found['gir_lb_collect_error{source="crm_mon"}'] == 1  # the other sources go on as before


@pytest.mark.parametrize(
    "tool",
    [(1, "", "Cannot initialize CMAP service\n"), (0, NO_DEVICE, ""), None],
    ids=["corosync-not-running", "no-device", "no-tool"],
)
def test_a_tool_that_cannot_tell_is_a_collect_error_without_a_vote_value(tmp_path, tool):
    """Not knowing is not "no vote": no voting series (GirLbArbiterUnreachable stays silent) and
    collect_error 1 (GirLbCollectError says the exporter is blind there)."""
    found = scrape(tmp_path, tool, "--quorum-device")
    assert VOTING_SERIES not in found and found[QDEVICE_ERROR_SERIES] == 1


def test_without_the_flag_the_tool_is_not_asked(tmp_path):
    found = scrape(tmp_path, (0, VOTING, ""))
    assert not [s for s in found if "qdevice" in s or s.startswith(VOTING_SERIES)]
