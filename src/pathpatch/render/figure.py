"""Drawing a circuit: boxes from :mod:`.layout`, one arrow per edge, on a matplotlib figure.

Edges are told apart by the port they enter: into a head's **q** (blue, solid), **k** (orange,
dashed), **v** (green, dotted), and the direct / residual edges into an MLP or ``out`` (grey,
dash-dot). With weights, an edge's width and opacity grow with ``|weight|`` (relative to the
largest). Every edge and box carries an SVG id, ``{prefix}:e:{sender}-{receiver}`` and
``{prefix}:n:{node}``, so an HTML page can highlight them (:mod:`.page`).

An edge whose straight line would cross another box is routed around the boxes, through a
channel beside them (:meth:`~.layout.Layout.route`), so that no edge runs behind a box.

Above ``max_arrows`` edges, the rest are drawn as thin solid lines in one rasterised collection,
without ids, so that a hypothesis holding thousands of edges still draws in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..graph import Edge, Graph
from .backend import pyplot
from .layout import BOX_H, PORT_DX, Layout

__all__ = ["STYLES", "edge_style", "edge_id", "circuit_figure"]

# (label, colour, line style) per port kind
STYLES: dict[str, tuple[str, str, Any]] = {
    "q": ("into q", "#0072B2", "-"),
    "k": ("into k", "#D55E00", (0, (4, 2))),
    "v": ("into v", "#009E73", (0, (1, 1.5))),
    "direct": ("into MLP / out", "#666666", (0, (5, 2, 1, 2))),
}
_FACE = {
    "input": "#dfe7ef",
    "head": "#ffffff",
    "mlp": "#f3ecdf",
    "out": "#dfe7ef",
    "dots": "#f4f4f4",
    "band": "#f4f4f4",
}


def edge_style(edge: Edge) -> str:
    """``"q"``, ``"k"``, ``"v"`` or ``"direct"`` (into an MLP or ``out``)."""
    return edge.receiver.channel or "direct"


def edge_id(edge: Edge) -> str:
    """An edge as used in SVG ids and HTML attributes: ``a0.2-a1.0.k`` (no spaces, nothing to escape)."""
    return f"{edge.sender.name}-{edge.receiver.name}"


def circuit_figure(
    graph: Graph,
    lay: Layout,
    edges: Sequence[Edge],
    weights: Mapping[Edge, float] | None = None,
    title: str | None = None,
    note: str | None = None,
    prefix: str = "c",
    max_arrows: int = 400,
) -> Any:
    """The figure (caller saves and closes it)."""
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    plt = pyplot()
    unit, top_in, bottom_in = 0.95, 0.75, 0.45  # inches per row unit; title and legend margins
    w_in = max(4.8, (lay.width + 1.0) * unit)
    row_in = max(0.76, min(1.4, 4.5 / lay.height))  # inches per row: taller rows for shallow models
    h_in = (lay.height + 0.75) * row_in + top_in + bottom_in
    fig = plt.figure(figsize=(w_in, h_in))
    ax = fig.add_axes((0.02, bottom_in / h_in, 0.96, 1 - (top_in + bottom_in) / h_in))
    ax.set_xlim(-0.6, lay.width + 0.4)
    ax.set_ylim(-0.4, lay.height + 0.35)
    ax.axis("off")
    top = max((abs(w) for w in (weights or {}).values()), default=0.0) or 1.0

    def strength(e: Edge) -> float:
        return abs(weights.get(e, 0.0)) / top if weights else 1.0

    crowd = min(1.0, (40 / max(1, len(edges))) ** 0.5)  # unweighted: thinner and lighter when crowded
    plain_w, plain_a = max(0.5, 1.3 * crowd), max(0.4, 0.85 * crowd)
    order = sorted(edges, key=strength, reverse=True)
    arrows, rest = order[:max_arrows], order[max_arrows:]
    for e in reversed(arrows):  # strongest drawn last, on top
        s = strength(e)
        _, colour, dash = STYLES[edge_style(e)]
        points = lay.route(e.sender, e.receiver)
        shape: dict[str, Any] = (
            {"posA": points[0], "posB": points[1], "connectionstyle": "arc3,rad=0.06"}
            if len(points) == 2
            else {"path": MplPath(points, [MplPath.MOVETO] + [MplPath.LINETO] * (len(points) - 1))}
        )
        patch = FancyArrowPatch(
            **shape,
            arrowstyle="-|>",
            mutation_scale=7,
            linewidth=(0.5 + 3.0 * s) if weights else plain_w,
            linestyle=dash,
            color=colour,
            alpha=(0.25 + 0.75 * s) if weights else plain_a,
            zorder=2 + s,
            shrinkA=0,
            shrinkB=0,
        )
        patch.set_gid(f"{prefix}:e:{edge_id(e)}")
        ax.add_artist(patch)  # not add_patch: the limits are fixed, and updating them is slow
    if rest:  # solid and rasterised: thousands of dashed vector lines take long to write
        lines = LineCollection(
            [lay.route(e.sender, e.receiver) for e in rest],
            colors=[STYLES[edge_style(e)][1] for e in rest],
            linewidths=0.3,
            alpha=0.2,
            zorder=1.5,
        )
        lines.set_rasterized(True)
        ax.add_collection(lines, autolim=False)
    labels = sum(b.kind == "head" and not b.faded for b in lay.boxes) <= 48  # q/k/v under each head
    for b in lay.boxes:
        faded = b.faded
        box = FancyBboxPatch(
            (b.x - b.w / 2, b.bottom),
            b.w,
            BOX_H,
            boxstyle="round,pad=0,rounding_size=0.06",
            facecolor="#fafafa" if faded else _FACE[b.kind],
            edgecolor="#cfcfcf" if faded else "#333333",
            linewidth=0.6 if faded else 1.0,
            linestyle=(0, (2, 2)) if b.kind in ("dots", "band") else "-",
            zorder=4,
        )
        if b.node is not None:
            box.set_gid(f"{prefix}:n:{b.node.name}")
        ax.add_artist(box)
        ax.text(
            b.x,
            b.y,
            b.label,
            ha="center",
            va="center",
            zorder=5,
            color="#b0b0b0" if faded else "#111111",
            fontsize=6.5 if b.kind in ("dots", "band") else 7.5,
            fontweight="bold" if b.kind in ("input", "out") and not faded else "normal",
        )
        if b.kind == "head" and not faded and labels:
            for c, dx in PORT_DX.items():
                ax.text(b.x + dx, b.bottom - 0.02, c, ha="center", va="top", fontsize=4.5, color=STYLES[c][1], zorder=5)
    handles = [
        Line2D([], [], color=colour, linestyle=dash, linewidth=1.6, label=label)
        for label, colour, dash in STYLES.values()
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        ncol=4,
        bbox_to_anchor=(0.5, 0.0),
        fontsize=7,
        frameon=False,
        title="width ∝ |score|" if weights else None,
        title_fontsize=7,
    )
    if rest:
        note = (note + "; " if note else "") + f"{len(rest):,} edges as thin lines, without arrows"
    if title or note:
        fig.suptitle("\n".join(t for t in (title, note) if t), fontsize=9, y=0.985)
    return fig
