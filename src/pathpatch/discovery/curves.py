"""Faithfulness curves of a ranking of edges (the idea of MIB's CPR and CMD, Mueller et al. 2025).

Keep the ``k`` edges with the highest ``|score|`` and score the subgraph exactly with the engine:
the proportion explained ``1 − AUE_k / ATE`` (AUE_k the mean δ between the clean run and the
subgraph's run, ATE the mean δ of the empty subgraph; docs/design.md §1), against k. Every k is one
hypothesis of a single batched :func:`~pathpatch.scoring.per_example` call, so the curve costs one
pass over the data (subgraphs share the cached runs; each costs at most one forward pass).

Areas are taken over the fraction of edges kept, ``x = k / n_edges`` in [0, 1], by the trapezoid
rule through the evaluated ks (0 and n_edges always among them):

- ``area`` (CPR, higher is better): ∫ proportion dx. A ranking that explains everything with its
  first edges has area near 1; proportion 0 at k = 0 and 1 at k = n_edges by construction.
- ``cmd`` (lower is better): ∫ |1 − proportion| dx, how far the circuits stay from the full model.

MIB measures the same areas with a logit-difference faithfulness at a fixed ladder of edge
fractions; here δ is any of the engine's (``kl`` by default) and the ks are yours or a default grid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data import Pairs
from ..errors import ArgumentError, InputError
from ..lang.hypothesis import subgraph
from ..metrics import Delta
from ..model.residual import ResidualModel, check_model
from ..options import Ablation, Options
from ..scoring import check_inputs, example_values
from .eap import EdgeScores

__all__ = ["FaithfulnessCurve", "faithfulness", "prefix_faithfulness", "default_ks"]

_FORMAT = "pathpatch.faithfulness/1"


@dataclass(frozen=True)
class FaithfulnessCurve:
    """Proportion explained by the top-k edges, per k.

    Attributes:
        ks: edge counts, increasing, from 0 to ``n_edges``.
        proportion: proportion explained of the top-``k`` subgraph, per k.
        n_edges: the number of edges ranked.
        area: CPR, the area under proportion against ``k / n_edges`` (see the module's notes).
        cmd: the area of ``|1 − proportion|``.
        ate: the mean δ of the empty subgraph (the denominator).
        info: delta, ablation, examples, where the ranking came from.
    """

    ks: tuple[int, ...]
    proportion: tuple[float, ...]
    n_edges: int
    area: float
    cmd: float
    ate: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def fractions(self) -> np.ndarray:
        """``ks / n_edges``, the curve's x axis."""
        return np.asarray(self.ks, dtype=np.float64) / self.n_edges

    def smallest_reaching(self, target: float) -> int:
        """The smallest evaluated k whose proportion explained is at least ``target`` (all edges,
        ``n_edges``, reach 1 by construction; if rounding keeps them just below, ``n_edges``)."""
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 <= target <= 1:
            raise ArgumentError(f"target must be a proportion between 0 and 1, got {target!r}")
        return next((k for k, p in zip(self.ks, self.proportion) if p >= target), self.n_edges)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "ks": list(self.ks),
            "proportion": list(self.proportion),
            "n_edges": self.n_edges,
            "area": self.area,
            "cmd": self.cmd,
            "ate": self.ate,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaithfulnessCurve:
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise InputError(f"not a saved faithfulness curve (expected a JSON object with format {_FORMAT!r})")
        return cls(
            tuple(int(k) for k in d["ks"]),
            tuple(float(p) for p in d["proportion"]),
            int(d["n_edges"]),
            float(d["area"]),
            float(d["cmd"]),
            float(d["ate"]),
            dict(d.get("info") or {}),
        )

    def __str__(self) -> str:
        return (
            f"faithfulness over {len(self.ks)} ks of {self.n_edges} edges: area (CPR) {self.area:.3f}, "
            f"CMD {self.cmd:.3f}"
        )


def default_ks(n_edges: int) -> tuple[int, ...]:
    """Every k up to 64 edges; beyond, 0, a geometric ladder from 1 (dense where curves rise fast)
    and 20 evenly spaced steps, up to ``n_edges``."""
    if n_edges <= 64:
        return tuple(range(n_edges + 1))
    grid = np.r_[0, np.geomspace(1, n_edges, 32), np.linspace(0, n_edges, 21)]
    return tuple(int(k) for k in np.unique(np.round(grid)))


def _ks(ks: Iterable[int] | None, n: int) -> tuple[int, ...]:
    if ks is None:
        return default_ks(n)
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Iterable):
        raise TypeError(f"ks must be a list of edge counts, got {type(ks).__name__}")
    out = {0, n}
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
            raise ArgumentError(f"ks must hold edge counts between 0 and {n} (the scored edges), got {k!r}")
        out.add(int(k))
    return tuple(sorted(out))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def faithfulness(
    model: ResidualModel,
    pairs: Pairs,
    scores: EdgeScores,
    ks: Iterable[int] | None = None,
    delta: str | Delta | None = None,
    ablation: Ablation | None = None,
    batch_size: int = 32,
    max_memory: int | str | None = None,
    progress: bool = True,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> FaithfulnessCurve:
    """The proportion explained by the top-k edges of ``scores`` for every k in ``ks`` (default
    :func:`default_ks`; 0 and all edges always added), scored exactly in one batched pass.

    ``delta``, ``ablation`` (default: those ``scores`` were made with, else ``"kl"`` and
    ``"resample"``), ``batch_size``, ``max_memory``, ``device``, ``dtype``: as for :func:`pathpatch.score`.
    """
    check_model(model, "faithfulness")
    if not isinstance(scores, EdgeScores):
        raise TypeError(f"scores must be EdgeScores (from eap), got {type(scores).__name__}")
    graph_edges = set(model.graph.edges)
    if set(scores.edges) != graph_edges or len(scores.edges) != len(graph_edges):
        raise InputError(
            f"the scores rank {len(scores.edges)} edges that are not the {len(graph_edges)} edges of this "
            f"model ({model.graph.describe()}); score this model's edges (eap(model, ...))"
        )
    made = scores.found_by
    delta = delta if delta is not None else made["delta"] if made.get("delta") in ("kl", "loss", "logit_diff") else "kl"
    ablation = ablation if ablation is not None else made.get("ablation", "resample")
    options = Options(delta, ablation, batch_size, progress, max_memory, device, dtype)
    n = len(scores.edges)
    grid = _ks(ks, n)
    ranked = scores.ranked()
    hyps = {f"top {k}": subgraph(ranked[:k]) for k in grid}
    values = example_values(model, check_inputs(model, hyps, pairs, options, "per_example"), pairs, options)
    ate = float(np.mean(values[f"top {grid[0]}"]["delta_empty"]))
    if not ate > 0:
        raise InputError(
            f"the total effect (mean delta of the empty circuit) is {ate:g}: the ablation does not change "
            "the output, so no proportion can be explained; pair x_ref with x_new that differ, or use "
            "another delta"
        )
    proportion = np.array([1.0 - float(np.mean(values[f"top {k}"]["delta_h"])) / ate for k in grid])
    x = np.asarray(grid, dtype=np.float64) / n
    info = {
        "delta": options.delta_name,
        "ablation": options.ablation,
        "examples": len(pairs),
        "ranking": scores.found_by.get("algorithm", "scores"),
    }
    return FaithfulnessCurve(
        grid,
        tuple(float(p) for p in proportion),
        n,
        _trapezoid(proportion, x),
        _trapezoid(np.abs(1.0 - proportion), x),
        ate,
        info,
    )


def prefix_faithfulness(model: ResidualModel, pairs: Pairs, patterns: list[str], options: Options) -> FaithfulnessCurve:
    """The faithfulness curve of a path-level circuit: the proportion explained by its first k
    ``patterns`` (most important first, as :func:`~pathpatch.discovery.paths.discover_paths`
    orders them) for every k, against ``k / len(patterns)``; one batched pass, as above."""
    from ..lang.hypothesis import no_paths, paths

    if not patterns:
        raise InputError("a faithfulness curve over patterns needs at least one pattern")
    n = len(patterns)
    hyps = {f"top {k}": paths(patterns[:k]) if k else no_paths() for k in range(n + 1)}
    values = example_values(model, check_inputs(model, hyps, pairs, options, "per_example"), pairs, options)
    ate = float(np.mean(values["top 0"]["delta_empty"]))
    if not ate > 0:
        raise InputError(f"the total effect is {ate:g}: the ablation does not change the output")
    proportion = np.array([1.0 - float(np.mean(values[f"top {k}"]["delta_h"])) / ate for k in range(n + 1)])
    x = np.arange(n + 1, dtype=np.float64) / n
    info = {"delta": options.delta_name, "ablation": options.ablation, "examples": len(pairs), "ranking": "patterns"}
    return FaithfulnessCurve(
        tuple(range(n + 1)),
        tuple(float(p) for p in proportion),
        n,
        _trapezoid(proportion, x),
        _trapezoid(np.abs(1.0 - proportion), x),
        ate,
        info,
    )
