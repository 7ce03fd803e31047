"""Requests through the VIP from the client box: single requests, tenant health, and the bounded
prober (lab/probe_client.py) whose rows give the downtime of a failover."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from blueprint.services import SERVICES
from blueprint.settings import Settings

from .boxes import Box, wait_for

PROBE_CLIENT = Path(__file__).resolve().parent / "probe_client.py"


class ProbeRow(NamedTuple):
    at: float  # when the request was sent (epoch seconds)
    status: int  # HTTP status, or 0 for an error or a timeout
    latency: float  # seconds until the answer (or the error)
    via: str = "-"  # the lab node address that proxied a 200, or "-"


@dataclass
class Probe:
    """A bounded HTTP prober running in the client box."""

    process: subprocess.Popen
    out: Path
    stop_file: Path
    timeout: float

    def rows(self) -> list[ProbeRow]:
        """Every finished probe so far, in the order they were sent."""
        found = []
        for line in self.out.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4:
                found.append(ProbeRow(float(parts[0]), int(parts[1]), float(parts[2]), parts[3]))
        return sorted(found)

    def stop(self) -> list[ProbeRow]:
        self.stop_file.touch()
        try:
            self.process.wait(timeout=self.timeout + 15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return self.rows()


def start_probe(client: Box, folder: Path, host: str, path: str, max_seconds: float, interval: float, timeout: float) -> Probe:
    """Runs lab/probe_client.py in the client's network namespace; its files go in `folder`."""
    out, stop = folder / f"probe-{time.time_ns()}.out", folder / f"probe-{time.time_ns()}.stop"
    command = [str(PROBE_CLIENT), host, path, str(out), str(stop), str(max_seconds), str(interval), str(timeout)]
    proc = subprocess.Popen([*client.enter("-n"), "/usr/bin/python3", *command])
    wait_for("the probe to start", lambda: out.exists(), 10, 0.05)
    return Probe(proc, out, stop, timeout)


def downtime(rows: list[ProbeRow], since: float) -> float | None:
    """Seconds from the last good probe before the first failure after `since` to the first good
    probe after it; 0.0 if nothing failed; None if it never recovered."""
    failed = [r.at for r in rows if r.at >= since and r.status != 200]
    if not failed:
        return 0.0
    first_fail = failed[0]
    before = [r.at for r in rows if r.at < first_fail and r.status == 200]
    after = [r.at for r in rows if r.at > first_fail and r.status == 200]
    if not after:
        return None
    return after[0] - (before[-1] if before else first_fail)


def measure_rows(probe: Probe, since: float, limit: float = 60) -> list[ProbeRow]:
    """Stops `probe` once it saw a failure after `since` and then success again (or after `limit`
    s), and returns its rows."""
    deadline = time.time() + limit
    while time.time() < deadline:
        time.sleep(0.5)
        rows = [r for r in probe.rows() if r.at > since]
        if rows and rows[-1].status == 200 and any(r.status != 200 for r in rows) and time.time() - since > 2:
            break
    time.sleep(1.0)
    return probe.stop()


def request(client: Box, host: str, path: str, timeout: float = 2) -> tuple[int, dict | str]:
    """One GET to host:80, from the client box: the status and the body (parsed if JSON)."""
    code = (
        "import http.client, sys\n"
        f"c = http.client.HTTPConnection({host!r}, 80, timeout={timeout})\n"
        f"c.request('GET', {path!r}, headers={{'Connection': 'close'}})\n"
        "r = c.getresponse(); print(r.status); print(r.read().decode(errors='replace'))\n"
    )
    done = client.run("/usr/bin/python3", "-c", code, net_only=True, timeout=timeout + 5)
    if done.returncode != 0:
        return 0, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no answer"
    status, _, body = done.stdout.partition("\n")
    try:
        return int(status), json.loads(body)
    except json.JSONDecodeError:
        return int(status), body


def tenant_health(client: Box, settings: Settings) -> dict[str, dict[str, str]]:
    """Per tenant and service: the member that answered its health path through the VIP, or FAIL."""
    vip = str(settings.network.vip)
    report: dict[str, dict[str, str]] = {}
    for t in settings.tenants:
        report[t.id] = {}
        for svc in SERVICES:
            status, body = request(client, vip, f"/{t.id}/{svc.health_path}")
            member = str(body["member"]) if isinstance(body, dict) else ""
            ok = status == 200 and member.startswith(f"{t.id}-{svc.key}-")
            report[t.id][svc.key] = member if ok else f"FAIL ({status})"
    return report


def wait_serving(client: Box, settings: Settings, timeout: float) -> None:
    def all_ok():
        return all("FAIL" not in v for r in tenant_health(client, settings).values() for v in r.values())

    wait_for("the VIP to serve every tenant", all_ok, timeout, 1)
