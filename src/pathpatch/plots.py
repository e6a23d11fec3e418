"""Figures: a bar chart of a report's metric with its intervals, per hypothesis.

matplotlib is imported lazily, with the non-interactive Agg backend, so importing pathpatch never
opens a display.
"""

from __future__ import annotations

from pathlib import Path

from .report import Report

__all__ = ["plot_report", "pyplot", "save_figure"]


def pyplot():  # type: ignore[no-untyped-def]
    """matplotlib.pyplot with the non-interactive Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> Path:  # type: ignore[no-untyped-def]
    """Lay out, save as PNG (creating folders) and close ``fig``."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    fig.clf()
    pyplot().close(fig)
    return path


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
