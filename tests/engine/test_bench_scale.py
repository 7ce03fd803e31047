"""Not a measurement (that is `python -m bench scale --engine`): the scale scenario previews the lab
stack with the real Pulumi CLI on a tiny setting and writes its rows and summary."""

from __future__ import annotations

from bench.scale import measure


def test_the_scale_benchmark_previews_the_lab_stack_with_the_real_engine(tmp_path):
    summary = measure([2], 1, tmp_path, engine=True)
    rows = (tmp_path / "timings.csv").read_text().splitlines()
    assert any(row.startswith("2,,real-preview-lab-stack,1,") for row in rows)
    assert "| 2 |" in summary and "real preview" in summary
