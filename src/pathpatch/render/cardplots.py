"""The figures of a robustness card (:mod:`.cardfile`), each drawn from the parsed card dict.

- :func:`plot_claims`: a panel per claim, the cells down the side, the value and its interval in
  each cell (red where the claim fails), the bound as a line;
- :func:`plot_hypotheses`: a panel per (score step, hypothesis), a metric with its interval in
  each cell;
- :func:`plot_inclusion`: a discovery step's edges by how many cells kept them, sorted, the core
  threshold as a line;
- :func:`plot_jaccard`: the cells x cells Jaccard overlap of a discovery step's edge sets;
- :func:`draw_core`: the robust core as a circuit, each edge's opacity and width set by its
  inclusion frequency (SVG and PNG, :func:`~.drawing.draw`); an empty core is said in the figure;
- :func:`plot_curves`: the cells' faithfulness curves, with CPR (area) and CMD in the legend;
- :func:`write_card_figures`: all of these that the card has data for, into a folder.

Cells are listed in the card's order (the base first); a cell without a number (a failed cell) is
an empty row. Each function saves its figure and returns its path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from .backend import pyplot, save_figure
from .cardfile import CLAIMS_PNG, HYPOTHESES_PNG, cell_labels, check_card, step_figure
from .drawing import Drawing, draw
from .runfiles import graph_from

__all__ = [
    "plot_claims",
    "plot_hypotheses",
    "plot_inclusion",
    "plot_jaccard",
    "draw_core",
    "plot_curves",
    "write_card_figures",
]

_OK, _FAIL, _GREY = "#4c72b0", "#c44e52", "#888888"
_PER_ROW = 4


@dataclass(frozen=True)
class _Panel:
    """One panel over the cells: its title, cell id -> (value, lower, upper, fails), and the lines
    to draw across it (a bound, or the 0 and 1 of a ratio)."""

    title: str
    points: dict[str, tuple[float, float, float, bool]]
    lines: tuple[tuple[float, str], ...]
    labels: dict[str, str]


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _point(p: Mapping[str, Any], fails: bool) -> tuple[str, tuple[float, float, float, bool]] | None:
    value = _num(p["value"])
    if value is None:
        return None
    low, high = _num(p["lower"]), _num(p["upper"])
    return p["cell"], (value, value if low is None else low, value if high is None else high, fails)


def _labels(card: Mapping[str, Any], points: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Cell id -> the label a claim or hypothesis gives it (else the card's), marked when unfinished."""
    known = cell_labels(card)
    return {p["cell"]: str(p.get("label") or known.get(p["cell"], p["cell"])) for p in points}


def _panels(card: Mapping[str, Any], panels: Sequence[_Panel], path: str | Path, title: str, xlabel: str) -> Path:
    """One panel per entry, each over the cells it has a value in (in the card's order, labelled
    as the entry labels them: ``a = b`` for two sweep points that ran its step alike)."""
    order = {c: i for i, c in enumerate(cell_labels(card))}
    cols = min(_PER_ROW, len(panels))
    rows = math.ceil(len(panels) / cols)
    ids = [sorted(p.points, key=lambda c: order.get(c, len(order))) for p in panels]
    tall = max((len(i) for i in ids), default=1)
    width = max((len(p.labels.get(c, c)) for p, i in zip(panels, ids) for c in i), default=10)
    fig, axes = pyplot().subplots(
        rows,
        cols,
        figsize=(cols * (3.1 + 0.065 * min(width, 60)), (0.9 + 0.24 * tall) * rows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    for k, ax in enumerate(axes.flat):
        if k >= len(panels):
            ax.set_visible(False)
            continue
        panel, cells = panels[k], ids[k]
        y = {c: len(cells) - 1 - i for i, c in enumerate(cells)}
        for fails in (False, True):
            pts = [(c, p) for c, p in panel.points.items() if p[3] == fails]
            if pts:
                ax.errorbar(
                    [p[0] for _, p in pts],
                    [y[c] for c, _ in pts],
                    xerr=[[max(0.0, p[0] - p[1]) for _, p in pts], [max(0.0, p[2] - p[0]) for _, p in pts]],
                    fmt="o",
                    ms=4,
                    capsize=2,
                    color=_FAIL if fails else _OK,
                    label="fails" if fails else None,
                )
        for x, style in panel.lines:
            ax.axvline(x, color=_FAIL if style == "bound" else _GREY, lw=1.0 if style == "bound" else 0.8, ls="--")
        for c in cells:
            if panel.points[c][3]:
                ax.axhspan(y[c] - 0.45, y[c] + 0.45, color=_FAIL, alpha=0.08, lw=0)
        ax.set_title(panel.title, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylim(-0.7, max(len(cells), 1) - 0.3)
        ax.set_yticks(range(len(cells))[::-1], [panel.labels.get(c, c) for c in cells])
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="x", color="#eeeeee", lw=0.6)
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_claims(card: Mapping[str, Any], path: str | Path) -> Path:
    """A panel per claim: its value and interval in every cell, the bound as a red dashed line, the
    cells where it fails in red on a shaded row; titled with how many cells it holds in."""
    card = check_card(card)
    claims = card.get("claims") or []
    if not claims:
        raise InputError("the robustness card has no claims to plot; a study's claims are declared in its file")
    panels = []
    for claim in claims:
        pts = [_point(p, not p.get("holds", True)) for p in claim["per_cell"]]
        sign = ">=" if claim["direction"] == "at_least" else "<="
        panels.append(
            _Panel(
                f"{claim['name']}\n{claim['metric'].replace('_', ' ')} {sign} {claim['bound']:g}: "
                f"holds in {claim['holds_in']} of {claim['judged_in']}",
                dict(p for p in pts if p is not None),
                ((float(claim["bound"]), "bound"),),
                _labels(card, claim["per_cell"]),
            )
        )
    return _panels(card, panels, path, f"{card.get('study', 'study')}: claims across cells", "value (interval)")


def plot_hypotheses(card: Mapping[str, Any], path: str | Path, metric: str = "proportion_explained") -> Path:
    """A panel per (score step, hypothesis) that has ``metric``: its value and interval in every cell."""
    card = check_card(card)
    entries = [h for h in card.get("hypotheses") or [] if metric in h["metrics"]]
    if not entries:
        known = sorted({m for h in card.get("hypotheses") or [] for m in h["metrics"]})
        raise InputError(
            f"no hypothesis of the robustness card has metric {metric!r}; "
            + (f"it has {known}" if known else "the card scores no hypotheses")
        )
    ratio = metric in ("proportion_explained", "loss_recovered")
    panels = [
        _Panel(
            f"{h['hypothesis']} (step {h['step']})",
            dict(p for p in (_point(q, False) for q in h["metrics"][metric]) if p is not None),
            ((0.0, "ref"), (1.0, "ref")) if ratio else (),
            _labels(card, h["metrics"][metric]),
        )
        for h in entries
    ]
    name = metric.replace("_", " ")
    return _panels(card, panels, path, f"{card.get('study', 'study')}: {name} across cells", f"{name} (interval)")


def _discovery(card: Mapping[str, Any], step: str) -> dict[str, Any]:
    found = [d for d in card.get("discoveries") or [] if d["step"] == step]
    if not found:
        steps = [d["step"] for d in card.get("discoveries") or []]
        raise InputError(f"the robustness card has no discovery step {step!r}; its discovery steps are {steps}")
    return dict(found[0])


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="#555555")
    ax.set_axis_off()


def plot_inclusion(card: Mapping[str, Any], step: str, path: str | Path, top: int = 40) -> Path:
    """Bars of the fraction of cells that kept each edge (the ``top`` most included, most on top;
    the core's edges dark), with the core threshold as a dashed line."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise InputError(f"top must be a positive int, got {top!r}")
    disc = _discovery(check_card(card), step)
    ranked = sorted(disc["inclusion"].items(), key=lambda kv: -float(kv[1]))
    shown = ranked[:top]
    fig, ax = pyplot().subplots(figsize=(8, 0.22 * max(len(shown), 4) + 1.6))
    n = len(disc["cells"])
    if not shown:
        _empty(ax, f"no cell of step {step} kept any edge")
    else:
        core = set(disc["core"])
        y = list(range(len(shown)))[::-1]
        ax.barh(y, [float(v) for _, v in shown], color=[_OK if e in core else "#a9bcd9" for e, _ in shown])
        ax.set_yticks(y, [e for e, _ in shown], fontsize=7)
        ax.axvline(float(disc["core_threshold"]), color=_FAIL, lw=1.0, ls="--", label="core threshold")
        ax.set_xlim(0, 1.02)
        ax.set_xlabel(f"fraction of the {n} cells that kept the edge")
        ax.legend(loc="lower right", fontsize=8)
    more = f", the top {len(shown)} of {len(ranked)}" if len(ranked) > len(shown) else ""
    ax.set_title(f"{step}: inclusion of each edge across cells{more}", fontsize=10)
    return save_figure(fig, path)


def plot_jaccard(card: Mapping[str, Any], step: str, path: str | Path) -> Path:
    """Heatmap of the Jaccard overlap between the cells' edge sets (values printed for up to 20 cells)."""
    disc = _discovery(check_card(card), step)
    labels = [str(s) for s in disc["labels"]]
    n = len(labels)
    fig, ax = pyplot().subplots(
        figsize=(2.4 + 0.42 * max(n, 3) + 0.05 * max(map(len, labels), default=0), 1.6 + 0.4 * max(n, 3))
    )
    if n == 0:
        _empty(ax, f"step {step} ran in no cell")
    else:
        grid = [[math.nan if v is None else float(v) for v in row] for row in disc["jaccard"]]
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        if n <= 20:
            for i in range(n):
                for j in range(n):
                    if not math.isnan(grid[i][j]):
                        color = "k" if grid[i][j] > 0.6 else "w"
                        ax.text(j, i, f"{grid[i][j]:.2f}", ha="center", va="center", fontsize=7, color=color)
        ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(n), labels, fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.04, label="Jaccard overlap")
    mean = disc["mean_jaccard"]
    ax.set_title(f"{step}: overlap of the cells' edges" + ("" if mean is None else f" (mean {mean:.3f})"), fontsize=10)
    return save_figure(fig, path)


def draw_core(card: Mapping[str, Any], step: str, path: str | Path) -> Drawing:
    """The robust core of a discovery step drawn on the card's graph, each edge's width and opacity
    set by its inclusion frequency; ``<stem>.svg`` and ``<stem>.png``. An empty core draws the bare
    graph and says so in the title."""
    card = check_card(card)
    disc = _discovery(card, step)
    graph = graph_from(card.get("graph"))
    if graph is None:
        raise InputError(
            "the robustness card records no graph ('graph' is null), so its core cannot be drawn; "
            "the study writes it from the model (pathpatch.render.runfiles.architecture)"
        )
    n, share = len(disc["cells"]), float(disc["core_threshold"])
    core = {e: float(disc["inclusion"][e]) for e in disc["core"]}
    kept = f"kept in >= {share:.0%} of the {n} cells"
    if core:
        title = f"{step}: robust core, {len(core)} edges {kept}\n(width and opacity: inclusion frequency)"
    else:
        title = f"{step}: the robust core is empty:\nno edge was {kept}"
    return draw(graph, core, path, title=title, max_edges=max(1, len(core)))


def plot_curves(card: Mapping[str, Any], step: str, path: str | Path) -> Path:
    """Proportion explained against the fraction of edges kept, one line per cell, each with its CPR
    (area under the curve) and CMD (area between the curve and 1) in the legend."""
    disc = _discovery(check_card(card), step)
    curves = disc.get("curves") or []
    if not curves:
        raise InputError(f"discovery step {step!r} of the robustness card has no faithfulness curves")
    fig, ax = pyplot().subplots(figsize=(7, 4.6))
    for curve in curves:
        many = len(curve["fractions"]) > 80
        ax.plot(
            curve["fractions"],
            curve["proportion"],
            marker=None if many else ".",
            lw=1.4,
            label=f"{curve['label']} (CPR {curve['area']:.3f}, CMD {curve['cmd']:.3f})",
        )
    ax.axhline(1, color=_GREY, lw=0.8, ls="--")
    ax.axhline(0, color=_GREY, lw=0.8)
    ax.set_xlim(0, 1)
    total = disc.get("n_graph_edges")
    ax.set_xlabel("fraction of edges kept" + ("" if total is None else f" (of {total})"))
    ax.set_ylabel("proportion explained")
    ax.set_title(f"{step}: faithfulness curves of the cells", fontsize=10)
    ax.legend(loc="lower right", fontsize=7)
    return save_figure(fig, path)


def write_card_figures(card: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Every figure the card has data for, into ``folder`` (:data:`.cardfile.CLAIMS_PNG`,
    :data:`.cardfile.HYPOTHESES_PNG`, and per discovery step :func:`.cardfile.step_figure` names
    for ``inclusion``, ``jaccard``, ``core`` (with its SVG) and ``curves``); their paths."""
    card = check_card(card)
    out = Path(folder)
    written: list[Path] = []
    if card.get("claims"):
        written.append(plot_claims(card, out / CLAIMS_PNG))
    metrics = [m for h in card.get("hypotheses") or [] for m in h["metrics"]]
    if metrics:
        metric = "proportion_explained" if "proportion_explained" in metrics else metrics[0]
        written.append(plot_hypotheses(card, out / HYPOTHESES_PNG, metric))
    for disc in card.get("discoveries") or []:
        step = disc["step"]
        written.append(plot_inclusion(card, step, out / step_figure(step, "inclusion")))
        written.append(plot_jaccard(card, step, out / step_figure(step, "jaccard")))
        if card.get("graph") is not None:
            drawing = draw_core(card, step, out / step_figure(step, "core"))
            written += [drawing.png, drawing.svg]
        if disc.get("curves"):
            written.append(plot_curves(card, step, out / step_figure(step, "curves")))
    return written
