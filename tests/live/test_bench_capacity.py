"""Not a measurement (that is `python -m bench capacity`): the capacity scenario runs on a tiny
setting against the real apache2 and writes its rows, picture and summary."""

from __future__ import annotations

import csv

from bench.capacity import KNOBS, measure


def test_the_capacity_benchmark_writes_its_rows_picture_and_summary(tmp_path):
    summary = measure([0, 50], 20, hold_s=60, shorts=3, out=tmp_path, variants=(KNOBS[0], KNOBS[1]))
    with open(tmp_path / "capacity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = [("as rendered", "0"), ("as rendered", "50"), *((k.name, "20") for k in KNOBS[:2])]
    assert [(r["variant"], r["count"]) for r in rows] == expected
    _, fifty, *knobs = rows
    assert fifty["held"] == fifty["held_after"] == "50" and fifty["connect_failed"] == "0"
    assert int(fifty["pss_held_kib"]) > int(fifty["pss_idle_kib"]) > 0
    assert float(fifty["pss_per_held_kib"]) > 0 and int(fifty["threads"]) >= 50 + int(fifty["processes"])  # a thread per poll
    assert [k["held"] for k in knobs] == ["20", "20"] and knobs[1]["threads_per_child"] == str(KNOBS[1].threads_per_child)
    with open(tmp_path / "latencies.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 3 * len(rows)
    assert (tmp_path / "capacity.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 50 of 50 |" in summary and "## Sizing" in summary and (tmp_path / "summary.md").read_text() == summary
