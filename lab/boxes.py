"""Namespace "boxes": a set of fresh namespaces held by a PID-1 process. Killing that PID ends
every process of the box (the kernel kills a PID namespace with its init), and its network
namespace, veths and mounts vanish with it. Nothing is ever killed by name.

The one namespace primitive of the project: the lab's nodes and boxes, and the live tests'
Apache node, are all boxes (start, run or enter, processes, kill)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root", "TERM": "dumb"}


class LabError(RuntimeError):
    pass


def wait_for(what: str, check, timeout: float, interval: float = 0.2):
    """Polls check() until it returns a truthy value; bounded by timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Box:
    """One box; its init PID is kept in <state>/<name>.pid so other commands can find it."""

    def __init__(self, state: Path, name: str):
        self.state, self.name = state, name
        self.pid_file = state / f"{name}.pid"
        self.unshare: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if is_namespace_init(pid) else None

    def start(self, init: list[str], namespaces: tuple[str, ...] = ("--mount", "--uts", "--ipc", "--net")) -> int:
        """Starts `init` as PID 1 of new namespaces; init prints "ready" once set up. Without
        "--mount" the box sees the host's /proc and mounts (the SSH gateway needs both)."""
        log_path = self.state / f"{self.name}.boot.log"
        with open(log_path, "w") as log:
            mount_proc = ["--mount-proc"] if "--mount" in namespaces else []
            propagation = ["--propagation", "private"] if "--mount" in namespaces else []
            proc = subprocess.Popen(
                ["unshare", "--pid", "--fork", *mount_proc, *namespaces, *propagation, "--", *init],
                stdin=subprocess.DEVNULL,  # a box outlives whoever started it: it holds none of its pipes
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env=CLEAN_ENV,
                start_new_session=True,
            )
        assert proc.stdout is not None  # stdout=PIPE
        line = proc.stdout.readline().strip()
        proc.stdout.close()
        if line != "ready":
            proc.kill()
            proc.wait()
            raise LabError(f"box {self.name} did not boot: {log_path.read_text()[-2000:]}")
        self.unshare = proc  # ends with the box; kill() reaps it when this object started the box
        child = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0]
        self.pid_file.write_text(child)
        return int(child)

    def kill(self) -> None:
        pid = self.pid
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_for(f"box {self.name} to end", lambda: not Path(f"/proc/{pid}").exists(), 10, 0.05)
        if self.unshare:
            self.unshare.wait(timeout=10)
        self.pid_file.unlink(missing_ok=True)

    def enter(self, *ns: str) -> list[str]:
        return ["nsenter", "-t", str(self.pid), *ns, "--"]

    def run(
        self, *cmd: str, stdin: str | None = None, timeout: float = 120, net_only: bool = False, check: bool = False
    ) -> subprocess.CompletedProcess:
        if self.pid is None:
            raise LabError(f"box {self.name} is not running")
        ns = ("-n",) if net_only else ("-m", "-u", "-i", "-n", "-p")
        done = subprocess.run(
            ["env", "-i", *(f"{k}={v}" for k, v in CLEAN_ENV.items()), *self.enter(*ns), *cmd],
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise LabError(f"{self.name}: {' '.join(cmd)[:80]} failed ({done.returncode}): {done.stderr[-2000:]}")
        return done

    def processes(self) -> list[tuple[int, str]]:
        """(host PID, command name) of every process in the box's PID namespace."""
        if self.pid is None:
            return []
        ns = os.stat(f"/proc/{self.pid}/ns/pid").st_ino
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.stat(entry / "ns" / "pid").st_ino == ns:
                        found.append((int(entry.name), (entry / "comm").read_text().strip()))
                except (FileNotFoundError, ProcessLookupError, PermissionError):
                    pass
        return found


def is_namespace_init(pid: int) -> bool:
    """True if `pid` is PID 1 of a PID namespace below ours: a stale pid file whose PID was reused
    by some other process must never lead to killing that process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    nspids = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
    return len(nspids) > 1 and nspids[-1] == "1"


def reaper_command(setup: str = "") -> list[str]:
    """PID 1 of a box: runs a shell setup, says "ready", then only reaps orphans."""
    code = (
        "import os, subprocess, sys, time\n"
        f"subprocess.run(['bash', '-euc', {setup!r}], check=True)\n"
        "print('ready', flush=True)\n"
        "sys.stdout.close()\n"
        "while True:\n"
        "    try:\n"
        "        os.wait()\n"
        "    except ChildProcessError:\n"
        "        time.sleep(0.5)\n"
    )
    return [sys.executable if os.path.exists(sys.executable) else "/usr/bin/python3", "-c", code]
