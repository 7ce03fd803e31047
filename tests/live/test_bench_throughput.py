"""Not a measurement (that is `python -m bench throughput`): the throughput scenario runs on a tiny
setting (one round of 1 s, keep-alive only) and writes a row per target, its picture and summary.
Before it measures, it refuses a load balancer that does not route and stick as Apache does."""

from __future__ import annotations

import csv

from bench.throughput import measure


def test_the_throughput_benchmark_writes_rows_for_every_target_its_picture_and_summary(tmp_path):
    summary = measure(rounds=1, seconds=1, connections=4, tenants=2, variants=["keepalive"], knobs=[], out=tmp_path)
    with open(tmp_path / "rounds.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["target"] for r in rows) == ["apache", "direct", "haproxy"]
    assert all(int(r["requests"]) > 0 and r["variant"] == "keepalive" and r["round"] == "1" for r in rows)
    assert "| keepalive | apache |" in summary and "| keepalive | haproxy |" in summary
    assert (tmp_path / "summary.md").read_text() == summary + "\n"
    assert (tmp_path / "throughput.png").read_bytes()[:4] == b"\x89PNG"
