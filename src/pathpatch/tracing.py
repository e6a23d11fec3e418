"""Causal tracing over (layer, position), Meng et al. 2022 style, as path hypotheses.

For every layer ``l`` and position ``t`` it restores, in the ablated run, one of:

- ``resid``: the residual stream after block ``l`` at ``t`` (:func:`~pathpatch.lang.cut.residual_at`);
- ``attn``: every head of layer ``l`` at ``t`` (``through("a{l}.*@t")``);
- ``mlp``: the MLP of layer ``l`` at ``t`` (``through("m{l}@t")``),

and scores how much of the clean behaviour comes back (``mode="ablate"`` removes it from the
clean run instead). All cells are scored together in shared batched passes. The result is a tidy
table (one row per kind, layer and position); :func:`pathpatch.render.plot_trace` draws a heatmap
per kind.

>>> table = causal_trace(model, pairs, delta="loss")   # doctest: +SKIP
>>> pathpatch.render.plot_trace(table, "trace.png", labels=["<bos>", "1", "2", "3"])   # doctest: +SKIP
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .data import Pairs
from .errors import InputError
from .estimates import Estimate
from .graph import Graph, Node
from .lang.cut import residual_at
from .lang.hypothesis import Hypothesis, through
from .metrics import Delta
from .model.residual import ResidualModel
from .report import Report
from .scans import Mode
from .scoring import score

__all__ = ["TraceRow", "TraceTable", "causal_trace", "trace_hypothesis", "trace_cost", "KINDS"]

KINDS = ("resid", "attn", "mlp")
LARGE = 200  # forward passes: a trace estimated above this says so before it starts


@dataclass(frozen=True)
class TraceRow:
    kind: str
    layer: int
    position: int | str
    estimate: Estimate

    @property
    def name(self) -> str:
        return f"{self.kind}{self.layer}@{self.position}"


@dataclass(frozen=True)
class TraceTable:
    """Rows ``(kind, layer, position, estimate)`` of one metric, and the report they came from."""

    mode: str
    metric: str
    positions: tuple[int | str, ...]
    rows: tuple[TraceRow, ...]
    report: Report

    def grid(self, kind: str) -> np.ndarray:
        """``[layer, position]`` values of one kind (NaN where not traced)."""
        layers = max(r.layer for r in self.rows) + 1
        out = np.full((layers, len(self.positions)), np.nan)
        for r in self.rows:
            if r.kind == kind:
                out[r.layer, self.positions.index(r.position)] = r.estimate.value
        return out

    def kinds(self) -> list[str]:
        return [k for k in KINDS if any(r.kind == k for r in self.rows)]

    def best(self, kind: str) -> TraceRow:
        return max((r for r in self.rows if r.kind == kind), key=lambda r: r.estimate.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "metric": self.metric,
            "positions": list(self.positions),
            "rows": [
                {"kind": r.kind, "layer": r.layer, "position": r.position, **r.estimate.to_dict()} for r in self.rows
            ],
        }

    def __str__(self) -> str:
        lines = [
            f"causal trace ({self.mode}), {self.metric.replace('_', ' ')}, {self.report.meta.get('examples')} examples"
        ]
        for kind in self.kinds():
            grid = self.grid(kind)
            lines.append(f"{kind:<6}" + "".join(f"{str(p):>9}" for p in self.positions))
            for layer, values in enumerate(grid):
                lines.append(f"{layer:>6}" + "".join("        -" if np.isnan(v) else f"{v:>9.3f}" for v in values))
        return "\n".join(lines)


def trace_hypothesis(kind: str, layer: int, position: int | str) -> Hypothesis:
    """The path hypothesis of one causal-tracing cell."""
    if kind == "resid":
        return residual_at(layer, position)
    if kind == "attn":
        return through(f"a{layer}.*@{position}")
    if kind == "mlp":
        return through(f"m{layer}@{position}")
    raise InputError(f"unknown trace kind {kind!r}; choose from {', '.join(KINDS)}")


def trace_cost(graph: Graph, cells: Sequence[tuple[str, int, int | str]], n_pos: int) -> float:
    """The work of ``cells`` in forward passes of the model on the same examples: each cell is a
    patched forward over the nodes after its cut and the positions from its own on (a named
    position counts as the first)."""
    nodes = [n for n in graph.nodes if not n.is_input]
    total = 0.0
    for kind, layer, t in cells:
        node = Node("head", layer, 0) if kind == "attn" or not graph.config.has_mlp else Node("mlp", layer)
        above = sum(1 for n in nodes if graph.stage_of(n) > graph.stage_of(node))
        first = (t % n_pos) if isinstance(t, int) else 0
        total += above / len(nodes) * (n_pos - first) / n_pos
    return total


def causal_trace(
    model: ResidualModel,
    pairs: Pairs,
    kinds: Sequence[str] = KINDS,
    layers: Sequence[int] | None = None,
    positions: Sequence[int | str] | None = None,
    mode: Mode = "restore",
    metric: str = "proportion_explained",
    delta: str | Delta = "kl",
    **kw: Any,
) -> TraceTable:
    """Restore (or ablate) each (kind, layer, position) cell; every cell in one batched scoring.

    ``positions`` defaults to every position; names like ``"END"`` are the dataset's. ``kw`` goes
    to :func:`~pathpatch.scoring.score` (``batch_size``, ``ablation``, ``n_boot``, ``progress``,
    ``max_memory``, ...). Every cell is a node cut, run as a patched forward over the part of
    the network it changes (:mod:`pathpatch.engine.cuts`); a trace whose cost
    (:func:`trace_cost`) exceeds :data:`LARGE` forward passes says so on stderr before it starts,
    and the scoring bar shows the time left.
    """
    cfg = model.config
    layers = list(range(cfg.n_layers)) if layers is None else list(layers)
    positions = list(range(pairs.ref.n_pos)) if positions is None else list(positions)
    kinds = [k for k in kinds if k != "mlp" or cfg.has_mlp]
    if not kinds or not layers or not positions:
        raise InputError("causal_trace needs at least one kind, layer and position")
    if mode not in ("restore", "ablate"):
        raise InputError(f"mode must be 'restore' or 'ablate', got {mode!r}")
    cells = [(k, layer, p) for k in kinds for layer in layers for p in positions]
    named = {f"{k}{layer}@{p}": trace_hypothesis(k, layer, p) for k, layer, p in cells}
    cost = trace_cost(model.graph, cells, pairs.ref.n_pos)
    if kw.get("progress", True) and cost > LARGE:  # the scoring bar then shows the time left
        tqdm.write(
            f"causal trace: {len(cells)} cells on {len(pairs)} examples of {pairs.ref.n_pos} tokens, about "
            f"{cost:,.0f} forward passes of work",
            file=sys.stderr,
        )
    if mode == "ablate":
        named = {n: ~h for n, h in named.items()}
    report = score(model, named, pairs, delta=delta, **kw)
    if metric not in report.scores[0].metrics:
        raise InputError(f"unknown metric {metric!r}; choose one of {sorted(report.scores[0].metrics)}")
    rows = tuple(TraceRow(k, layer, p, s.metrics[metric]) for (k, layer, p), s in zip(cells, report))
    return TraceTable(mode, metric, tuple(positions), rows, report)
