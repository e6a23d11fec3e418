"""Where each box of a circuit diagram goes: a layered layout of the graph, inputs at the bottom.

Rows from the bottom: the inputs (``embed``, ``pos``), then one row per layer with its heads side
by side and its MLP to the right, half a row higher (it reads that layer's heads), and ``out`` at
the top. Boxes of nodes no drawn edge touches are *faded*. With ``collapse`` (the default for
models of more than 32 heads), the unused heads of a layer become one small faded ``…`` box
labelled with their number, and a run of two or more layers with nothing used becomes one faded
band; so a 12 × 12 model with a handful of used heads stays a handful of boxes wide.

Coordinates are in row units: a head box is :data:`HEAD_W` wide, rows are 1 apart. A head is
entered at its bottom edge through three ports, ``q``, ``k``, ``v`` from left to right
(:meth:`Layout.port_xy`); an MLP or ``out`` through the middle of its bottom edge.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection
from dataclasses import dataclass, field

from ..graph import Graph, Node, Port

__all__ = ["Box", "Layout", "layout", "HEAD_W", "BOX_H", "PORT_DX", "ROUTE_RISE"]

HEAD_W, BOX_H, DOTS_W, GAP = 0.8, 0.34, 0.55, 0.2
PORT_DX = {"q": -0.27, "k": 0.0, "v": 0.27}


@dataclass(frozen=True)
class Box:
    """One drawn box: a node (``node`` set), a layer's collapsed unused heads, or a band of layers."""

    label: str
    x: float  # centre
    y: float  # centre
    w: float
    kind: str  # "input" | "head" | "mlp" | "out" | "dots" | "band"
    node: Node | None = None
    faded: bool = False
    hidden: int = 0  # nodes folded into a dots box or band

    @property
    def top(self) -> float:
        return self.y + BOX_H / 2

    @property
    def bottom(self) -> float:
        return self.y - BOX_H / 2


@dataclass(frozen=True)
class Layout:
    """Boxes and the drawing's extent (``width`` × ``height`` in row units)."""

    boxes: tuple[Box, ...]
    width: float
    height: float
    _index: dict[Node, Box] = field(init=False, repr=False, compare=False)  # each node's own box

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {b.node: b for b in self.boxes if b.node is not None})

    def box(self, node: Node) -> Box:
        try:
            return self._index[node]
        except KeyError:
            raise KeyError(f"{node.name} has no box of its own in this layout (it is collapsed)") from None

    def sender_xy(self, node: Node) -> tuple[float, float]:
        b = self.box(node)
        return b.x, b.top

    def port_xy(self, port: Port) -> tuple[float, float]:
        b = self.box(port.node)
        return b.x + (PORT_DX[port.channel] if port.channel else 0.0), b.bottom

    def route(self, sender: Node, port: Port) -> list[tuple[float, float]]:
        """The points an edge is drawn through: straight from the sender's top to the port when that
        line crosses no other box, else out just above the sender's row to a channel beside the
        boxes (left or right, the nearer), up it, and in just below the receiver's row, so that no
        edge runs behind a box."""
        start, end = self.sender_xy(sender), self.port_xy(port)
        own = {self.box(sender), self.box(port.node)}
        if not any(_crosses(start, end, b) for b in self.boxes if b not in own):
            return [start, end]
        left, right = -0.35, self.width + 0.2
        mid = (start[0] + end[0]) / 2
        side = left if abs(mid - left) <= abs(right - mid) else right
        lane = 0.05 * (zlib.crc32(sender.name.encode()) % 4)  # a few lanes: channel edges do not all coincide
        x = side - lane if side == left else side + lane
        return [start, (x, start[1] + ROUTE_RISE), (x, end[1] - ROUTE_RISE), end]


ROUTE_RISE = 0.08  # how far above its row a routed edge leaves, and below its row it arrives


def _crosses(a: tuple[float, float], b: tuple[float, float], box: Box) -> bool:
    """Whether the segment a-b passes through the inside of ``box`` (Liang-Barsky clipping)."""
    x0, y0 = a
    dx, dy = b[0] - x0, b[1] - y0
    lo, hi = 0.0, 1.0
    eps = 1e-9
    for p, q in (
        (-dx, x0 - (box.x - box.w / 2)),
        (dx, (box.x + box.w / 2) - x0),
        (-dy, y0 - box.bottom),
        (dy, box.top - y0),
    ):
        if abs(p) < eps:
            if q <= eps:
                return False
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo >= hi - eps:
            return False
    return True


def layout(graph: Graph, used: Collection[Node], collapse: bool | None = None) -> Layout:
    """The layout of ``graph`` with ``used`` nodes drawn in full (see module docs)."""
    cfg = graph.config
    if collapse is None:
        collapse = cfg.n_layers * cfg.n_heads > 32
    used = set(used)
    rows: list[list[Box]] = []  # per row, the head-area boxes (x filled in later)
    mlps: list[Box | None] = []
    pending: list[int] = []  # consecutive unused layers, to fold into one band

    def layer_used(layer: int) -> bool:
        return any(n.layer == layer and n.kind in ("head", "mlp") for n in used)

    def flush() -> None:
        if len(pending) >= 2:
            hidden = len(pending) * (cfg.n_heads + int(cfg.has_mlp))
            what = f"{len(pending) * cfg.n_heads} heads" + (f", {len(pending)} MLPs" if cfg.has_mlp else "")
            rows.append(
                [Box(f"layers {pending[0]}–{pending[-1]}: {what}, unused", 0, 0, 0, "band", faded=True, hidden=hidden)]
            )
            mlps.append(None)
        else:
            for layer in pending:  # a single unused layer: its heads as one dots box, its MLP faded
                rows.append([_dots(cfg.n_heads)])
                mlps.append(_mlp(layer, used) if cfg.has_mlp else None)
        pending.clear()

    for layer in range(cfg.n_layers):
        if collapse and not layer_used(layer):
            pending.append(layer)
            continue
        flush()
        heads = [_head(layer, h, used) for h in range(cfg.n_heads)]
        if collapse:
            shown = [b for b in heads if not b.faded]
            if len(shown) < len(heads):
                shown.append(_dots(len(heads) - len(shown)))
            heads = shown
        rows.append(heads)
        mlps.append(_mlp(layer, used) if cfg.has_mlp else None)
    flush()
    return _place(graph, rows, mlps, used)


def _head(layer: int, head: int, used: set[Node]) -> Box:
    node = Node("head", layer, head)
    return Box(node.name, 0, 0, HEAD_W, "head", node, node not in used)


def _dots(hidden: int) -> Box:
    return Box(f"…({hidden})", 0, 0, DOTS_W, "dots", faded=True, hidden=hidden)


def _mlp(layer: int, used: set[Node]) -> Box:
    node = Node("mlp", layer)
    return Box(node.name, 0, 0, HEAD_W, "mlp", node, node not in used)


def _row_width(row: list[Box]) -> float:
    return sum(b.w for b in row) + GAP * (len(row) - 1)


def _place(graph: Graph, rows: list[list[Box]], mlps: list[Box | None], used: set[Node]) -> Layout:
    """x and y of every box: head rows centred on a common axis, MLPs in a column to the right."""
    area = max([_row_width(r) for r in rows if r[0].kind != "band"] + [HEAD_W * 2 + GAP])
    mlp_x = area + GAP + HEAD_W / 2 + 0.15
    boxes: list[Box] = []
    inputs = [Box(n.name, 0, 0, HEAD_W, "input", n, n not in used) for n in graph.inputs]
    boxes += _centred(inputs, area / 2, 0.0)
    for i, (row, mlp) in enumerate(zip(rows, mlps), start=1):
        if row[0].kind == "band":
            b = row[0]
            boxes.append(Box(b.label, area / 2, float(i), area, "band", faded=True, hidden=b.hidden))
        else:
            boxes += _centred(row, area / 2, float(i))
        if mlp is not None:
            boxes.append(Box(mlp.label, mlp_x, i + 0.5, mlp.w, "mlp", mlp.node, mlp.faded))
    out = Node("out")
    boxes.append(Box("out", area / 2, float(len(rows) + 1), HEAD_W, "out", out, out not in used))
    width = mlp_x + HEAD_W / 2 if any(m is not None for m in mlps) else area
    return Layout(tuple(boxes), width, float(len(rows) + 1))


def _centred(row: list[Box], centre: float, y: float) -> list[Box]:
    x = centre - _row_width(row) / 2
    placed = []
    for b in row:
        placed.append(Box(b.label, x + b.w / 2, y, b.w, b.kind, b.node, b.faded, b.hidden))
        x += b.w + GAP
    return placed
