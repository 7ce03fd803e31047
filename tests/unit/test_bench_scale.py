"""Not a measurement (that is `python -m bench scale`): the scale scenario runs on a tiny setting
and writes its rows, picture and summary."""

from __future__ import annotations

from bench.scale import measure


def test_the_scale_benchmark_writes_its_rows_picture_and_summary(tmp_path):
    summary = measure([1, 3], 1, tmp_path)  # 3: more tenants than the dev stack has
    rows = (tmp_path / "timings.csv").read_text().splitlines()
    assert rows[0] == "tenants,resources,what,run,seconds" and len(rows) == 1 + 2 * 2
    assert rows[1].startswith("1,") and rows[-1].startswith("3,") and "program-under-mocks" in rows[-1]
    assert "| 3 |" in summary and (tmp_path / "timings.png").read_bytes()[:4] == b"\x89PNG"
