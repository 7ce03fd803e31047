"""The lab's Prometheus (Debian's `prometheus`): in the client box, it scrapes both nodes' exporters
through the lab switch with the stack's rendered scrape config and alert rules (the files an
operator loads into theirs: docs/monitoring.md). Only the scrape and evaluation intervals are the
lab's own, short so that tests see an alert within seconds of its `for`."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
from pathlib import Path

import yaml

from blueprint.render import render_bundle
from blueprint.settings import Settings

from .boxes import Box, LabError, wait_for

INTERVAL_S = 2  # scrape and rule evaluation
ADDRESS = "127.0.0.1:9090"  # inside the client box only


class Watch:
    def __init__(self, state: Path, client: Box, settings: Settings):
        self.folder, self.client, self.settings = state / "prometheus", client, settings

    def start(self) -> None:
        """Prometheus in the client box (it dies with the box); returns once it answers."""
        monitoring = render_bundle(self.settings).monitoring
        if not monitoring:
            return  # the profile's nodes run no exporter
        self.folder.mkdir(parents=True, exist_ok=True)
        rules = self.folder / "gir-lb-alerts.yml"
        rules.write_text(monitoring["gir-lb-alerts.yml"])
        scrape = yaml.safe_load(monitoring["prometheus-scrape.yml"])
        config = {
            "global": {"scrape_interval": f"{INTERVAL_S}s", "evaluation_interval": f"{INTERVAL_S}s", "scrape_timeout": "1s"},
            "rule_files": [str(rules)],
            **scrape,
        }
        (self.folder / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        command = [
            "/usr/bin/prometheus",
            f"--config.file={self.folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address={ADDRESS}",
        ]
        with open(self.folder / "prometheus.log", "w") as log:
            subprocess.Popen(
                [*self.client.enter("-m", "-u", "-i", "-n", "-p"), *command],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        wait_for("the lab's Prometheus to answer", lambda: self.get("/-/ready", raw=True) is not None, 30, 0.3)

    def get(self, path: str, raw: bool = False):
        done = self.client.run("curl", "-sf", "-m", "5", f"http://{ADDRESS}{path}", net_only=True, timeout=10)
        if done.returncode != 0:
            return None
        return done.stdout if raw else json.loads(done.stdout)["data"]

    def alerts(self, state: str = "firing") -> list[dict[str, str]]:
        """The labels of each alert in that state now (firing or pending)."""
        found = self.get("/api/v1/alerts")
        if found is None:
            raise LabError("the lab's Prometheus does not answer (scripts/lab.sh status needs a lab up)")
        return [a["labels"] for a in found["alerts"] if a["state"] == state]

    def query(self, expr: str) -> list[dict]:
        return (self.get(f"/api/v1/query?query={urllib.parse.quote(expr)}") or {"result": []})["result"]

    def query_range(self, expr: str, start: float, end: float, step: float = INTERVAL_S) -> list[dict]:
        query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        return (self.get(f"/api/v1/query_range?{query}") or {"result": []})["result"]

    def fired_since(self, since: float) -> list[dict[str, str]]:
        """The labels of every alert that fired since `since` (from Prometheus' ALERTS series)."""
        rows = self.query_range('ALERTS{alertstate="firing"}', since, time.time())
        return [{k: v for k, v in r["metric"].items() if k not in ("__name__", "alertstate")} for r in rows]

    def wait_targets_up(self, timeout: float = 90) -> None:
        def all_up() -> bool:
            found = self.get("/api/v1/targets")
            targets = found["activeTargets"] if found else []
            return bool(targets) and all(t["health"] == "up" for t in targets)

        wait_for("every exporter scraped", all_up, timeout, 1.0)

    def wait_quiet(self, timeout: float = 60) -> None:
        """Until no alert is pending or firing: a lab just brought up fires GirLbServiceWithoutMember
        for every tenant service until httpd runs (the plan starts it last), and it takes a scrape
        and an evaluation to resolve."""
        wait_for("no alert pending or firing", lambda: not self.alerts("firing") and not self.alerts("pending"), timeout, 1.0)
