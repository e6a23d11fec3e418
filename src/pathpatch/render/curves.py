"""Line plots of how well a circuit or localisation does, one line per method.

- :func:`plot_roc`: ROC curves against known edges, each with its AUC, and the chance line;
- :func:`plot_faithfulness`: proportion explained against the fraction of edges kept, per ranking;
- :func:`plot_mib`: MIB's faithfulness f at its circuit sizes (log scale), with each curve's CPR and CMD;
- :func:`plot_localisations`: proportion explained against the heads and MLPs kept at the last
  position, by a path search step by step and by causal-tracing cells (the number study).

Each saves one PNG (:func:`~.backend.save_figure`) and returns its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..discovery.curves import FaithfulnessCurve
from ..discovery.mib import MibCurve
from ..errors import InputError
from .backend import pyplot, save_figure

__all__ = ["plot_roc", "plot_faithfulness", "plot_mib", "plot_localisations"]


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str | None = None) -> Path:
    """ROC curves ``{name: (fpr, tpr)}`` (from :func:`~pathpatch.discovery.roc.roc_curve` or
    :meth:`EdgeScores.roc_curve`) on one plot, each with its AUC in the legend, and the chance line."""
    if not isinstance(curves, Mapping) or not curves:
        raise InputError("plot_roc needs a non-empty dict {name: (fpr, tpr)}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for name, curve in curves.items():
        fpr, tpr = (np.asarray(c, dtype=np.float64) for c in curve)
        if fpr.shape != tpr.shape or fpr.ndim != 1 or fpr.size < 2:
            raise InputError(f"ROC curve {name!r} must be two 1-D arrays (fpr, tpr) of the same length >= 2")
        ax.plot(fpr, tpr, lw=1.8, label=f"{name} (AUC {_area(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], color="#888888", lw=0.8, ls="--", label="chance (AUC 0.500)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate (share of non-circuit edges kept)")
    ax.set_ylabel("true positive rate (share of circuit edges kept)")
    ax.set_title(title or "edge recovery (ROC)")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def plot_faithfulness(curves: Mapping[str, FaithfulnessCurve], path: str | Path, title: str | None = None) -> Path:
    """Proportion explained against the fraction of edges kept, one line per ranking, with each
    curve's area (CPR) in the legend."""
    if not isinstance(curves, Mapping) or not curves:
        raise InputError("plot_faithfulness needs a non-empty dict {name: FaithfulnessCurve}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, curve in curves.items():
        if not isinstance(curve, FaithfulnessCurve):
            raise InputError(
                f"curve {name!r} must be a FaithfulnessCurve (from faithfulness), got {type(curve).__name__}"
            )
        ax.plot(
            curve.fractions,
            curve.proportion,
            marker="." if len(curve.ks) <= 80 else None,
            lw=1.6,
            label=f"{name} (area {curve.area:.3f})",
        )
    ax.axhline(1, color="#888888", lw=0.8, ls="--")
    ax.axhline(0, color="#888888", lw=0.8)
    ax.set_xlim(0, 1)
    n_edges = {c.n_edges for c in curves.values()}
    ax.set_xlabel("fraction of edges kept (top k by |score|)" + (f", of {n_edges.pop()}" if len(n_edges) == 1 else ""))
    ax.set_ylabel("proportion explained")
    ax.set_title(title or "faithfulness of top-k circuits")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def plot_mib(curves: Mapping[str, MibCurve], path: str | Path, title: str | None = None) -> Path:
    """MIB's faithfulness f against the fraction of edges kept (log scale, MIB's sizes), one line
    per method, with its CPR and CMD in the legend; the lines f = 1 (the whole model) and f = 0
    (the empty circuit) for reference."""
    if not isinstance(curves, Mapping) or not curves:
        raise InputError("plot_mib needs a non-empty dict {name: MibCurve}")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, curve in curves.items():
        if not isinstance(curve, MibCurve):
            raise InputError(f"curve {name!r} must be a MibCurve (mib_curve, mib_scores, mib_path_curve)")
        label = f"{name} (CPR {curve.cpr:.3f}, CMD {curve.cmd:.3f})"
        ax.plot(curve.fractions, curve.faithfulness, marker="o", ms=3, lw=1.6, label=label)
    ax.axhline(1.0, color="#888888", lw=0.8, ls="--")
    ax.axhline(0.0, color="#888888", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("fraction of the model's edges kept")
    ax.set_ylabel("faithfulness f = (m(C) - m(0)) / (m(M) - m(0))")
    ax.set_title(title or "MIB faithfulness")
    ax.legend(loc="best", fontsize=8)
    return save_figure(fig, path)


def plot_localisations(
    search: Sequence[float], tracing_sizes: Sequence[int], tracing: Sequence[float], path: str | Path
) -> Path:
    """Proportion explained (δ = |Δ loss|) after each step of the path search at the last position
    (step ``i`` keeps ``i`` heads and MLPs there), and by causal-tracing localisations of whole
    layers keeping ``tracing_sizes[j]`` of them (``tracing[j]``)."""
    fig, ax = pyplot().subplots(figsize=(7, 4))
    ax.plot(range(len(search)), list(search), "o-", label="path search: nodes at the last position")
    ax.plot(list(tracing_sizes), list(tracing), "s--", label="causal-tracing cells, whole layers")
    ax.set_xlabel("heads and MLPs kept at the last position")
    ax.set_ylabel("proportion explained (δ = |Δ loss|)")
    ax.axhline(1, color="#888888", lw=0.8, ls=":")
    ax.legend()
    ax.set_title("Number continuation: how much each localisation explains")
    return save_figure(fig, path)
