"""Bar charts: one horizontal bar per hypothesis or scan row, the first on top.

- :func:`plot_report`: a report's metric per hypothesis, with its bootstrap interval;
- :func:`plot_scan_top`: the rows of a scan that matter most, with their intervals;
- :func:`plot_gains`: signed gains (green above zero, red below), e.g. what each refinement of a
  hypothesis adds to it.

Each saves one PNG (:func:`~.backend.save_figure`) and returns its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .. import validate
from ..report import Report
from ..scans import ScanTable
from .backend import pyplot, save_figure

__all__ = ["plot_report", "plot_scan_top", "plot_gains"]


def plot_report(
    report: Report, path: str | Path, metric: str = "proportion_explained", title: str | None = None
) -> Path:
    """Horizontal bars of ``metric`` per hypothesis with error bars for its interval; saved as PNG."""
    plt = pyplot()
    rows = [(s.name, s.metrics[metric]) for s in report if metric in s.metrics]
    if not rows:
        raise KeyError(f"no hypothesis in the report has metric {metric!r}")
    names = [n for n, _ in rows]
    values = [e.value for _, e in rows]
    err = [[max(0.0, e.value - e.low) for _, e in rows], [max(0.0, e.high - e.value) for _, e in rows]]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    y = list(range(len(rows)))[::-1]
    ax.barh(y, values, xerr=err, color="#4c72b0", ecolor="#222222", capsize=3)
    ax.set_yticks(y, names)
    ax.axvline(0, color="#888888", lw=0.8)
    if metric in ("proportion_explained", "loss_recovered"):
        ax.axvline(1, color="#888888", lw=0.8, ls="--")
    level = int(round(100 * rows[0][1].level))
    ax.set_xlabel(f"{metric.replace('_', ' ')} ({level}% bootstrap interval)")
    ax.set_title(title or metric.replace("_", " "))
    return save_figure(fig, path)


def plot_scan_top(table: ScanTable, path: str | Path, k: int = 20, title: str | None = None) -> Path:
    """Horizontal bars of the ``k`` rows that matter most (:meth:`ScanTable.most_important`), with
    their intervals, the most important on top; saved as PNG.

    Each bar starts where nothing is scanned away: at 0 when restoring, and when ablating at the
    value of the clean run (1 for proportion explained and loss recovered, else 0), so its length
    is the row's effect and an ablate scan's values near 1 stay readable.
    """
    validate.check_int(k, "k", 1)
    rows = table.most_important(k)
    base = 1.0 if table.mode == "ablate" and table.metric in ("proportion_explained", "loss_recovered") else 0.0
    fig, ax = pyplot().subplots(figsize=(8, 0.32 * len(rows) + 1.5))
    y = list(range(len(rows)))[::-1]
    err = [[max(0.0, e.value - e.low) for _, e in rows], [max(0.0, e.high - e.value) for _, e in rows]]
    ax.barh(y, [e.value - base for _, e in rows], left=base, xerr=err, color="#4c72b0", ecolor="#222222", capsize=2)
    ax.set_yticks(y, [n for n, _ in rows], fontsize=7 if max(len(n) for n, _ in rows) > 30 else 9)
    ax.axvline(base, color="#888888", lw=0.8)
    level = int(round(100 * rows[0][1].level))
    ax.set_xlabel(
        f"{table.metric.replace('_', ' ')} ({level}% bootstrap interval)"
        + (f"; bars start at {base:g}, the clean run" if base else "")
    )
    ax.set_title(title or f"{table.mode} scan: the {len(rows)} of {len(table.rows)} rows that matter most")
    return save_figure(fig, path)


def plot_gains(
    gains: Mapping[str, float],
    path: str | Path,
    xlabel: str = "gain",
    title: str = "gains",
    intervals: Mapping[str, tuple[float, float]] | None = None,
    key: str | None = None,
) -> Path:
    """One bar per ``{name: gain}``, green above zero and red below, the first on top; saved as PNG.

    ``intervals``: ``{name: (low, high)}`` drawn as error bars; ``key``: a line under the plot that
    explains the names' abbreviations.
    """
    if not isinstance(gains, Mapping):
        raise TypeError(f"plot_gains takes {{name: gain}} then the path, got {type(gains).__name__}")
    names, values = list(gains), list(gains.values())
    fig, ax = pyplot().subplots(figsize=(8, 0.35 * len(values) + 1.6 + (0.3 if key else 0)))
    y = list(range(len(values)))[::-1]
    err = None
    if intervals:
        lows = [max(0.0, v - intervals[n][0]) if n in intervals else 0.0 for n, v in zip(names, values)]
        highs = [max(0.0, intervals[n][1] - v) if n in intervals else 0.0 for n, v in zip(names, values)]
        err = [lows, highs]
    ax.barh(y, values, xerr=err, color=["#55a868" if g > 0 else "#c44e52" for g in values], ecolor="#222222", capsize=2)
    ax.set_yticks(y, names)
    ax.axvline(0, color="#888888", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if key:
        fig.text(0.01, 0.005, key, fontsize=7, color="#444444", ha="left", va="bottom", wrap=True)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, path)
