"""Namespace "boxes": a set of fresh namespaces held by a PID-1 process. Killing that PID ends
every process of the box (the kernel kills a PID namespace with its init), and its network
namespace, veths and mounts vanish with it. Nothing is ever killed by name."""

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

    @property
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def start(self, init: list[str], namespaces: tuple[str, ...] = ("--mount", "--uts", "--ipc", "--net")) -> int:
        """Starts `init` as PID 1 of new namespaces; init prints "ready" once set up."""
        log = open(self.state / f"{self.name}.boot.log", "w")
        proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount-proc", *namespaces, "--propagation", "private", "--", *init],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=CLEAN_ENV,
            start_new_session=True,
        )
        line = proc.stdout.readline().strip()
        if line != "ready":
            proc.kill()
            raise LabError(f"box {self.name} did not boot: {(self.state / f'{self.name}.boot.log').read_text()[-2000:]}")
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
