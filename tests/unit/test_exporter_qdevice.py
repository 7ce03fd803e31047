"""gir-lb-exporter's quorum device metric (`--quorum-device`): the parser on what the real
`corosync-qdevice-tool -s` prints, and one `--once` scrape each against a stand-in tool that prints
it: connected or not, corosync-qdevice not running (no vote: not connected), and the failures that
say nothing about the arbiter (a collect error)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blueprint import exporter

# Captured from corosync-qdevice 3.0.3 (Debian 12) with a local corosync-qnetd (TLS off) and the
# stack's heuristics (mode sync): connected; qnetd stopped (Connect failed); qnetd's address not
# answering, within the connect timeout (Connecting); connected, with -sv.
HEAD = (
    "Qdevice information\n"
    "-------------------\n"
    "Model:\t\t\tNet\n"
    "Node ID:\t\t1\n"
    "Configured node list:\n"
    "    0\tNode ID = 1\n"
    "    1\tNode ID = 2\n"
    "Membership node list:\t1\n"
    "\n"
    "Qdevice-net information\n"
    "----------------------\n"
    "Cluster name:\t\tgir-lb-lab\n"
)
NET = "Algorithm:\t\tFifty-Fifty split\nTie-breaker:\t\tNode with lowest node ID\n"
CONNECTED = HEAD + "QNetd host:\t\t127.0.0.1:5403\n" + NET + "State:\t\t\tConnected\nHeuristics result:\tPass\n"
CONNECT_FAILED = HEAD + "QNetd host:\t\t127.0.0.1:5403\n" + NET + "State:\t\t\tConnect failed\nHeuristics result:\tPass\n"
CONNECTING = HEAD + "QNetd host:\t\t10.9.9.2:5403\n" + NET + "State:\t\t\tConnecting\nHeuristics result:\tPass\n"
CONNECTED_VERBOSE = """\
Qdevice information
-------------------
Model:\t\t\tNet
Node ID:\t\t1
HB interval:\t\t2000ms
Sync HB interval:\t30000ms
Configured node list:
    0\tNode ID = 1
    1\tNode ID = 2
Heuristics:\t\tEnabled only on sync
Ring ID:\t\t1.5
Membership node list:\t1
Quorate:\t\tYes
Quorum node list:
    0\tNode ID = 1, State = member
Expected votes:\t\t2
Last poll call:\t\t2026-12-07T15:00:52 (cast vote)

Qdevice-net information
----------------------
Cluster name:\t\tgir-lb-lab
QNetd host:\t\t127.0.0.1:5403
Connect timeout:\t1600ms
HB interval:\t\t1600ms
VQ vote timer interval:\t1000ms
TLS:\t\t\tUnsupported
Algorithm:\t\tFifty-Fifty split
Tie-breaker:\t\tNode with lowest node ID
KAP Tie-breaker:\tEnabled
Poll timer running:\tYes (cast vote)
State:\t\t\tConnected
Heuristics result:\tPass (regular: Undefined, membership: Pass, connect: Pass)
TLS active:\t\tNo
Connected since:\t2026-12-07T15:00:49
Echo reply received:\t2026-12-07T15:00:52
"""
# What the tool prints on stderr (exit 3) when it cannot reach corosync-qdevice's socket, with
# LC_ALL=C: no socket (qdevice stopped), a socket left by a dead qdevice, and a user that may not
# enter /run/corosync-qdevice (systemd makes it 0770 root:root).
NOT_RUNNING = "corosync-qdevice-tool: Can't connect to QDevice socket (is QDevice running?): No such file or directory\n"
STALE_SOCKET = "corosync-qdevice-tool: Can't connect to QDevice socket (is QDevice running?): Connection refused\n"
NO_PERMISSION = "corosync-qdevice-tool: Can't connect to QDevice socket (is QDevice running?): Permission denied\n"
QDEVICE_ERROR = "Error: Can't get QDevice status\n"  # exit 4: qdevice answered with an error


@pytest.mark.parametrize(
    "status, connected",
    [(CONNECTED, True), (CONNECTED_VERBOSE, True), (CONNECT_FAILED, False), (CONNECTING, False)],
    ids=["connected", "connected-verbose", "connect-failed", "connecting"],
)
def test_the_state_line_tells_connected(status, connected):
    assert exporter.quorum_device_connected(status) is connected


def test_disconnected_is_not_connected():
    """qdevice's fourth state (dropping the connection), as its status code writes it."""
    assert exporter.quorum_device_connected(CONNECTED.replace("\tConnected\n", "\tDisconnected\n")) is False


@pytest.mark.parametrize("text", ["", CONNECTED.split("State:")[0], "OK\n"], ids=["empty", "no-state-line", "other"])
def test_output_without_a_state_line_is_an_error(text):
    with pytest.raises(ValueError):
        exporter.quorum_device_connected(text)


def test_only_a_missing_or_dead_qdevice_counts_as_not_running():
    assert exporter.qdevice_not_running(NOT_RUNNING) and exporter.qdevice_not_running(STALE_SOCKET)
    assert not exporter.qdevice_not_running(NO_PERMISSION)
    assert not exporter.qdevice_not_running(QDEVICE_ERROR)


# ---- one scrape (--once) against a stand-in corosync-qdevice-tool ---------------------------------


def scrape(tmp_path: Path, tool: tuple[int, str, str] | None, *extra: str) -> dict[str, float]:
    """The exporter run with `extra` options and a PATH holding only the stand-in tool (exit code,
    stdout, stderr), or nothing (tool None): no crm_mon either, httpd's status page refused."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if tool is not None:
        code, out, err = tool
        (tmp_path / "out").write_text(out)
        (tmp_path / "err").write_text(err)
        stand_in = bin_dir / "corosync-qdevice-tool"
        stand_in.write_text(
            "#!/bin/sh\n"
            '[ "$*" = -s ] && [ "$LC_ALL" = C ] || { echo "stand-in: called as $* with LC_ALL=$LC_ALL" >&2; exit 9; }\n'
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
    found = {}
    for line in done.stdout.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            found[series] = float(value)
    return found


CONNECTED_SERIES = "gir_lb_quorum_device_connected"
QDEVICE_ERROR_SERIES = 'gir_lb_collect_error{source="qdevice"}'


@pytest.mark.parametrize(
    "tool, connected",
    [
        ((0, CONNECTED, ""), 1),
        ((0, CONNECT_FAILED, ""), 0),
        ((0, CONNECTING, ""), 0),
        ((3, "", NOT_RUNNING), 0),
        ((3, "", STALE_SOCKET), 0),
    ],
    ids=["connected", "connect-failed", "connecting", "qdevice-not-running", "stale-socket"],
)
def test_the_scrape_reports_the_link_to_the_arbiter(tmp_path, tool, connected):
    found = scrape(tmp_path, tool, "--quorum-device")
    assert found[CONNECTED_SERIES] == connected and found[QDEVICE_ERROR_SERIES] == 0
    assert found['gir_lb_collect_error{source="crm_mon"}'] == 1  # the other sources go on as before


@pytest.mark.parametrize(
    "tool",
    [(3, "", NO_PERMISSION), (4, "", QDEVICE_ERROR), (0, "OK\n", ""), None],
    ids=["permission-denied", "qdevice-error", "no-state-line", "no-tool"],
)
def test_a_tool_that_cannot_tell_is_a_collect_error_without_a_link_value(tmp_path, tool):
    """Not knowing is not "not connected": no connected series (GirLbArbiterUnreachable stays
    silent) and collect_error 1 (GirLbCollectError says the exporter is blind there)."""
    found = scrape(tmp_path, tool, "--quorum-device")
    assert CONNECTED_SERIES not in found and found[QDEVICE_ERROR_SERIES] == 1


def test_without_the_flag_the_tool_is_not_asked(tmp_path):
    found = scrape(tmp_path, (0, CONNECTED, ""))
    assert not [s for s in found if "qdevice" in s or s.startswith(CONNECTED_SERIES)]
