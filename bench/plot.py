"""Pictures of benchmark rows (matplotlib, no display needed)."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402

FAILED = "failed"


def failover_timelines(probes_csv: Path, png: Path, title: str) -> None:
    """One panel per failure kind, one line per run: every probe at its time after the failure,
    coloured by the node that answered (or red when it failed): the gap is the downtime, a colour
    change is the VIP moving."""
    runs: dict[str, dict[int, list[tuple[float, str]]]] = defaultdict(lambda: defaultdict(list))
    with open(probes_csv, newline="") as f:
        for row in csv.DictReader(f):
            who = row["via"] if row["status"] == "200" else FAILED
            runs[row["kind"]][int(row["run"])].append((float(row["sent_after_failure_s"]), who))
    nodes = sorted({who for kind in runs.values() for rows in kind.values() for _, who in rows} - {FAILED})
    colours = {FAILED: "#d62728"} | {n: c for n, c in zip(nodes, ("#2ca02c", "#1f77b4", "#9467bd", "#8c564b"), strict=False)}
    height = 1.0 + sum(0.9 + 0.25 * len(by_run) for by_run in runs.values())
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, height), squeeze=False)
    for ax, (kind, by_run) in zip(axes[:, 0], runs.items(), strict=True):
        for run, rows in sorted(by_run.items()):
            for who in colours:
                xs = [t for t, w in rows if w == who]
                if xs:
                    ax.scatter(xs, [run] * len(xs), s=9, marker="|", color=colours[who], label=who if run == 1 else None)
        ax.set_title(f"{kind}", loc="left", fontsize=10)
        ax.set_ylabel("run")
        ax.set_yticks(sorted(by_run))
        ax.axvline(0, color="grey", linewidth=0.8, linestyle="--")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("seconds after the failure was caused (one probe every 100 ms)")
    handles = [plt.Line2D([], [], color=c, marker="|", linestyle="", markersize=10) for c in colours.values()]
    fig.legend(handles, [("failed" if k == FAILED else f"answered via {k}") for k in colours], loc="upper right", fontsize=8)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 0.85, 0.96))
    fig.savefig(png, dpi=110)
    plt.close(fig)


def throughput_by_target(groups: dict[tuple[str, str], list[tuple[float, float]]], png: Path, title: str) -> None:
    """Two panels, req/s and p99 latency: for each (connection variant, target) a bar at the median
    and a dot per round (the spread); one colour per variant."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.5 + 0.35 * len(groups)), sharey=True)
    variants = list(dict.fromkeys(variant for variant, _ in groups))
    colours = dict(zip(variants, ("#1f77b4", "#ff7f0e", "#2ca02c"), strict=False))
    for ax, k, xlabel in ((axes[0], 0, "req/s"), (axes[1], 1, "p99 latency (ms)")):
        for y, ((variant, _), points) in enumerate(groups.items()):
            values = [p[k] for p in points]
            ax.barh(y, statistics.median(values), color=colours[variant], alpha=0.35)
            ax.scatter(values, [y] * len(values), color=colours[variant], s=14)
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(groups)), [f"{target} ({variant})" for variant, target in groups], fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _finish(fig, ax, png: Path, title: str) -> None:
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _runs_and_median(ax, downtimes: dict[int, list[float]], label: str) -> None:
    """Every run's downtime (dots) and the median (line) for each value of one setting."""
    settings = sorted(downtimes)
    for value in settings:
        ax.scatter([value] * len(downtimes[value]), downtimes[value], color="#1f77b4", alpha=0.6, s=18)
    ax.plot(settings, [statistics.median(downtimes[v]) for v in settings], color="#ff7f0e", marker="o", label=label)


def downtime_by_setting(downtimes: dict[int, list[float]], png: Path, title: str, xlabel: str) -> None:
    """Every run's downtime (dots) and the median (line) for each value of one setting."""
    fig, ax = plt.subplots(figsize=(7, 4))
    _runs_and_median(ax, downtimes, "median")
    ax.set_xticks(sorted(downtimes))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("downtime seen by the client (s)")
    ax.set_ylim(bottom=0)
    _finish(fig, ax, png, title)


def timings_by_size(series: dict[str, list[tuple[int, float]]], png: Path, title: str) -> None:
    """One line per series: seconds against the size."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, points in series.items():
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=label)
    ax.set_xlabel("tenants")
    ax.set_ylabel("seconds (median)")
    ax.set_ylim(bottom=0)
    _finish(fig, ax, png, title)


def counts_by_phase(phases: dict[str, dict[str, int]], keys: list[str], png: Path, title: str) -> None:
    """Grouped bars: for each key, its count in each phase (labelled with the number)."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / max(len(phases), 1)
    for i, (phase, counts) in enumerate(phases.items()):
        xs = [k + i * width for k in range(len(keys))]
        bars = ax.bar(xs, [counts[key] for key in keys], width, label=phase)
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks([k + width * (len(phases) - 1) / 2 for k in range(len(keys))], [k.replace("_", " ") for k in keys])
    ax.set_ylabel("count")
    ax.legend()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def token_tradeoff(
    downtimes: dict[int, list[float]], ridden_out: dict[int, float], changes: dict[int, int], png: Path, title: str
) -> None:
    """Two panels against the token: node-loss downtime (every run and the median) with the longest
    cut of the cluster link the membership rode out, and the membership changes in the soak (bars)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    tokens = sorted(downtimes)
    _runs_and_median(top, downtimes, "node loss, median")
    top.plot(tokens, [ridden_out[t] for t in tokens], color="#2ca02c", marker="s", label="longest link cut ridden out")
    top.axhline(1.0, color="grey", linestyle="--", linewidth=0.8, label="target 1.0 s")
    top.set_ylabel("seconds")
    top.set_ylim(bottom=0)
    top.grid(alpha=0.3)
    top.legend()
    width = (max(tokens) - min(tokens) or 1000) / (4 * len(tokens))
    bars = bottom.bar(tokens, [changes[t] for t in tokens], width=width, color="#d62728")
    bottom.bar_label(bars, fontsize=8)
    bottom.set_ylim(0, max(changes.values()) + 1)
    bottom.yaxis.get_major_locator().set_params(integer=True)
    bottom.set_ylabel("membership changes in the soak")
    bottom.set_xlabel("totem token (ms); knet ping timers scaled with it")
    bottom.set_xticks(tokens)
    bottom.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def capacity_curves(points: list[tuple[int, float, float | None, float | None]], png: Path, title: str) -> None:
    """Two panels against held polls: memory (MiB) and a short request's p50/p99 (ms).
    Each point is (held, MiB, p50 ms, p99 ms); a missing latency is left out."""
    fig, (mem, lat) = plt.subplots(1, 2, figsize=(10, 4))
    held = [p[0] for p in points]
    mem.plot(held, [p[1] for p in points], marker="o", label="apache2 PSS (all processes)")
    mem.set_xlabel("held long-polls")
    mem.set_ylabel("MiB")
    mem.set_ylim(bottom=0)
    mem.grid(alpha=0.3)
    mem.legend()
    for label, i in (("p50", 2), ("p99", 3)):
        shown = [(p[0], p[i]) for p in points if p[i] is not None]
        lat.plot([x for x, _ in shown], [y for _, y in shown], marker="o", label=f"short request {label}")
    lat.set_xlabel("held long-polls")
    lat.set_ylabel("ms")
    lat.set_ylim(bottom=0)
    lat.grid(alpha=0.3)
    lat.legend()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def alert_timeline(timeline_csv: Path, marks: dict[str, float], png: Path, title: str) -> None:
    """Usable members (top) and the alert's state (bottom) against seconds after the failure, with
    the moments the run caused something marked."""
    levels = {"inactive": 0, "pending": 1, "firing": 2}
    with open(timeline_csv, newline="") as f:
        rows = [(float(r["t_after_kill_s"]), float(r["usable_members"]), levels[r["alert_state"]]) for r in csv.DictReader(f)]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.2), sharex=True, height_ratios=(2, 1))
    top.step([t for t, _, _ in rows], [u for _, u, _ in rows], where="post", color="#1f77b4")
    top.set_ylabel("usable members")
    top.set_ylim(-0.2, max(u for _, u, _ in rows) + 0.5)
    bottom.step([t for t, _, _ in rows], [s for _, _, s in rows], where="post", color="#d62728")
    bottom.set_yticks(list(levels.values()), list(levels))
    bottom.set_xlabel("seconds after the members were killed (one point per Prometheus evaluation)")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        for label, at in marks.items():
            ax.axvline(at, color="grey", linewidth=0.8, linestyle="--")
            if ax is top:
                ax.annotate(label, (at, ax.get_ylim()[1]), fontsize=8, rotation=90, va="top", ha="right")
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
