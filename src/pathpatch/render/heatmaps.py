"""Heatmaps over the layers of a model, values printed in the cells.

- :func:`plot_head_scan`: layer × head, one scan's head rows (node or sender scans);
- :func:`plot_trace`: layer × position, one map per kind of a causal trace, side by side;
- :func:`plot_head_scores`: layer × head maps of scores in [0, 1] side by side (e.g. each head's
  previous-token and induction scores).

Each saves one PNG (:func:`~.backend.save_figure`) and returns its path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..graph import GraphSource, Node, graph_of
from ..scans import ScanTable, decimals
from ..tracing import TraceTable
from .backend import pyplot, save_figure

__all__ = ["plot_head_scan", "plot_trace", "plot_head_scores"]


def plot_head_scan(model: GraphSource, table: ScanTable, path: str | Path, title: str | None = None) -> Path:
    """Layer × head heatmap of a scan's head rows (node or sender scans; values printed in cells).

    Like every figure of a model: the model first, then what is drawn, then the file."""
    if isinstance(model, ScanTable):
        raise TypeError("plot_head_scan takes (model, table, path), like draw(model, thing, path): the model first")
    cfg = graph_of(model).config
    grid = np.full((cfg.n_layers, cfg.n_heads), np.nan)
    for subject, (_, estimate) in zip(table.subjects, table.rows):
        if isinstance(subject, Node) and subject.kind == "head":
            grid[subject.layer, subject.head] = estimate.value
    if np.isnan(grid).all():
        raise InputError("the scan has no head rows to plot")
    digits = min(5, decimals(table.rows))  # the table's precision (at most 5 decimals: cells are narrow)
    fig, ax = pyplot().subplots(figsize=(1.0 + 0.55 * cfg.n_heads, 1.2 + 0.45 * cfg.n_layers))
    im = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")  # layer 0 at the bottom, as in diagrams
    for (layer, head), value in np.ndenumerate(grid):
        if not np.isnan(value):
            ax.text(head, layer, f"{value:.{digits}f}", ha="center", va="center", color="w", fontsize=7)
    ax.set_xticks(range(cfg.n_heads))
    ax.set_yticks(range(cfg.n_layers))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title or f"{table.mode} each head: {table.metric.replace('_', ' ')}")
    fig.colorbar(im, ax=ax, fraction=0.04)
    return save_figure(fig, path)


def plot_trace(
    table: TraceTable, path: str | Path, labels: Sequence[str] | None = None, title: str | None = None
) -> Path:
    """One layer × position heatmap per kind, side by side (values in the cells)."""
    kinds = table.kinds()
    labels = [str(p) for p in table.positions] if labels is None else list(labels)
    if len(labels) != len(table.positions):
        raise InputError(f"labels has {len(labels)} entries for {len(table.positions)} positions")
    grids = [table.grid(k) for k in kinds]
    lo = min(float(np.nanmin(g)) for g in grids)
    hi = max(float(np.nanmax(g)) for g in grids)
    n_layers = grids[0].shape[0]
    fig, axes = pyplot().subplots(
        1,
        len(kinds),
        figsize=(1.6 + 1.9 * len(kinds) + 0.5 * len(labels) * len(kinds), 1.4 + 0.32 * n_layers),
        squeeze=False,
        layout="constrained",
    )
    for ax, kind, grid in zip(axes[0], kinds, grids):
        im = ax.imshow(grid, cmap="magma", aspect="auto", vmin=lo, vmax=hi, origin="lower")
        if grid.size <= 400:
            for (layer, col), value in np.ndenumerate(grid):
                if not np.isnan(value):
                    ax.text(
                        col,
                        layer,
                        f"{value:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="k" if value > (lo + hi) / 2 else "w",
                    )
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(n_layers), [str(layer) for layer in range(n_layers)])
        ax.set_xlabel("position")
        ax.set_ylabel("layer")
        ax.set_title(f"restore {kind}" if table.mode == "restore" else f"ablate {kind}")
    fig.colorbar(im, ax=axes[0].tolist(), fraction=0.03)
    fig.suptitle(title or f"causal trace: {table.metric.replace('_', ' ')}")
    return save_figure(fig, path)


def plot_head_scores(maps: Mapping[str, Sequence[Sequence[float]]], path: str | Path, title: str) -> Path:
    """One layer × head map per ``{title: scores[layer][head]}``, side by side, on one colour scale
    from 0 to 1 (values printed in the cells), under ``title``."""
    if not maps:
        raise InputError("plot_head_scores needs at least one map {title: scores[layer][head]}")
    layers = len(next(iter(maps.values())))
    fig, axes = pyplot().subplots(1, len(maps), figsize=(11, 2.2 + 0.5 * layers), squeeze=False)
    for ax, (name, scores) in zip(axes[0], maps.items()):
        data = np.array(scores)
        im = ax.imshow(data, vmin=0, vmax=1, cmap="viridis", aspect="auto", origin="lower")  # layer 0 at the bottom
        for (layer, head), value in zip(
            [(i, j) for i in range(data.shape[0]) for j in range(data.shape[1])], data.flatten().tolist()
        ):
            ax.text(
                head, layer, f"{value:.2f}", ha="center", va="center", color="w" if value < 0.6 else "k", fontsize=8
            )
        ax.set_xticks(range(data.shape[1]))
        ax.set_yticks(range(data.shape[0]), [f"layer {i}" for i in range(data.shape[0])])
        ax.set_xlabel("head")
        ax.set_title(name)
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.suptitle(title)
    return save_figure(fig, path)
