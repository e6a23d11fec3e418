"""Faithfulness as MIB's circuit track measures it (Mueller et al. 2025): f, CPR and CMD.

For a circuit C, with m the task's metric averaged over examples (the logit difference by default;
a task's own, e.g. greater-than's probability difference), M the full model and ∅ the empty circuit
(every edge ablated, here: patched from x_new):

    f(C) = (m(C) − m(∅)) / (m(M) − m(∅)).

Circuits are the top ``int(p · n_edges)`` edges of a ranking at MIB's ten sizes p = 0.1, 0.2, 0.5,
1, 2, 5, 10, 20, 50 and 100% of the edges (:data:`MIB_FRACTIONS`). **CPR** is the area under f and
**CMD** the area of |1 − f|, both by the trapezoid rule over the nominal fractions p themselves
(linear, from 0.001 to 1, no point at 0), as MIB's ``evaluate_area_under_curve`` integrates them in
its current version (``MIB_circuit_track/evaluation.py``; an earlier one integrated over the
weighted edge counts on a log scale). MIB prunes each circuit of edges that no input-to-logits path
through it uses before counting it; those edges change nothing, and the counts left are recorded
(``edge_counts``, MIB's ``weighted_edge_counts``) without entering the areas.

Rankings: MIB ranks by signed score (``run_evaluation.py`` without ``--absolute``) or by |score|
(with it), and its leaderboard table (``print_results.py``) takes CPR from the signed ranking and
CMD from the absolute one when both exist: :func:`mib_scores` does that, from one batched pass.
Every edge-scoring method enters as :class:`~.eap.EdgeScores` (EAP and EAP-IG as :func:`~.eap.eap`
returns them; ACDC's through :func:`acdc_scores`); the path search enters through its nested path
sets (:func:`mib_path_curve`): at each size the longest prefix of its patterns, most important first,
whose paths use at most ``int(p · n_edges)`` edges.

Sizes are fractions of the model graph's edges. A pathpatch graph with a ``pos`` node has, besides
MIB's edges, one edge from ``pos`` into each reader (MIB's ``input`` holds both embeddings, see
:mod:`.mib_format`); under resampling those edges change nothing and EAP scores them 0.

Each curve is one call of the engine (every circuit a hypothesis, the clean and ablated runs shared),
with the signed δ = m(reference) − m(patched), so that f = 1 − AUE / ATE exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from ..data import Dataset, Pairs
from ..errors import InputError
from ..graph import Edge
from ..lang.hypothesis import Hypothesis, no_paths, paths, subgraph
from ..lang.kept import edges_on_paths, kept_edges
from ..metrics import Delta, targets_only
from ..model.residual import ResidualModel, check_model
from ..options import Ablation, Options
from ..scoring import check_inputs, example_values
from ..tasks.base import LogitDiff, TaskMetric, TaskPairs
from .acdc import AcdcResult
from .circuit import Circuit
from .eap import EdgeScores

__all__ = ["MIB_FRACTIONS", "MibCurve", "MibScores", "mib_curve", "mib_scores", "mib_path_curve", "acdc_scores"]

MIB_FRACTIONS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
_FORMAT = "pathpatch.mib_curve/1"

Metric = Callable[[Tensor, Dataset], Tensor]


@dataclass(frozen=True)
class MibCurve:
    """MIB's faithfulness f at each circuit size, and its areas.

    Attributes:
        fractions: the nominal sizes p (MIB's x axis).
        ks: edges asked for at each size, ``int(p · n_edges)`` (for path sets: the edges of the
            prefix taken).
        edge_counts: edges left once those no input-to-logits path uses are pruned.
        faithfulness: f at each size.
        n_edges: edges of the model's graph.
        cpr: area under f; cmd: area of |1 − f| (trapezoid rule over ``fractions``).
        m_model, m_empty: the mean metric of the full model and of the empty circuit.
        info: metric, ablation, ranking (signed or absolute), examples, where the ranking came from.
    """

    fractions: tuple[float, ...]
    ks: tuple[int, ...]
    edge_counts: tuple[int, ...]
    faithfulness: tuple[float, ...]
    n_edges: int
    cpr: float
    cmd: float
    m_model: float
    m_empty: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "fractions": list(self.fractions),
            "ks": list(self.ks),
            "edge_counts": list(self.edge_counts),
            "faithfulness": list(self.faithfulness),
            "n_edges": self.n_edges,
            "cpr": self.cpr,
            "cmd": self.cmd,
            "m_model": self.m_model,
            "m_empty": self.m_empty,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MibCurve:
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise InputError(f"not a saved MIB curve (expected a JSON object with format {_FORMAT!r})")
        return cls(
            tuple(float(x) for x in d["fractions"]),
            tuple(int(k) for k in d["ks"]),
            tuple(int(k) for k in d["edge_counts"]),
            tuple(float(f) for f in d["faithfulness"]),
            int(d["n_edges"]),
            float(d["cpr"]),
            float(d["cmd"]),
            float(d["m_model"]),
            float(d["m_empty"]),
            dict(d.get("info") or {}),
        )

    def __str__(self) -> str:
        sizes = f"{len(self.fractions)} sizes of {self.n_edges} edges"
        return f"MIB faithfulness over {sizes}: CPR {self.cpr:.3f}, CMD {self.cmd:.3f}"


@dataclass(frozen=True)
class MibScores:
    """MIB's leaderboard pair: CPR of the signed ranking, CMD of the |score| ranking."""

    cpr: float
    cmd: float
    signed: MibCurve
    absolute: MibCurve


def areas(fractions: Sequence[float], f: Sequence[float]) -> tuple[float, float]:
    """(CPR, CMD): the trapezoid areas of f and of |1 − f| over ``fractions``."""
    x, y = np.asarray(fractions, dtype=np.float64), np.asarray(f, dtype=np.float64)
    width = np.diff(x)
    return float(np.sum(width * (y[1:] + y[:-1]) / 2)), float(
        np.sum(width * (np.abs(1 - y[1:]) + np.abs(1 - y[:-1])) / 2)
    )


def _metric(metric: str | TaskMetric | Metric | None, pairs: Pairs) -> tuple[Metric, str]:
    if metric is None:
        metric = pairs.metric if isinstance(pairs, TaskPairs) else "logit_diff"
    if metric == "logit_diff":
        metric = LogitDiff()
    if isinstance(metric, TaskMetric):
        return metric.value, metric.name
    if isinstance(metric, str) or not callable(metric):
        raise InputError(
            f"metric must be 'logit_diff', a TaskMetric or a callable (logits, data) -> [batch], got {metric!r}"
        )
    return metric, str(getattr(metric, "__name__", "metric"))


def _signed_delta(m: Metric, marked: bool) -> Delta:
    def delta(ref_logits: Tensor, patched_logits: Tensor, data: Dataset) -> Tensor:
        return m(ref_logits, data) - m(patched_logits, data)

    delta.__name__ = f"mib_{getattr(m, '__name__', 'metric')}"
    return targets_only(delta) if marked else delta


def _curve(
    model: ResidualModel,
    pairs: Pairs,
    circuits: dict[str, list[tuple[float, int, Hypothesis, int]]],
    metric: str | TaskMetric | Metric | None,
    ablation: Ablation,
    batch_size: int,
    max_memory: int | str | None,
    info: dict[str, Any],
) -> dict[str, MibCurve]:
    """One engine call for every circuit of every ranking: ``circuits[ranking]`` holds, per size,
    (fraction, k, hypothesis, edge count)."""
    m, name = _metric(metric, pairs)
    marked = metric is None or metric == "logit_diff" or isinstance(metric, TaskMetric)
    options = Options(_signed_delta(m, marked), ablation, batch_size, False, max_memory)
    hyps = {f"{r} {i}": c[2] for r, rows in circuits.items() for i, c in enumerate(rows)}
    values = example_values(model, check_inputs(model, hyps, pairs, options, "mib_curve"), pairs, options)
    first = next(iter(hyps))
    gap = float(np.mean(values[first]["delta_empty"]))  # m(M) − m(∅)
    if gap == 0:
        raise InputError(
            f"the metric {name} is the same for the full model and the empty circuit, so f is undefined; "
            "pair x_ref with x_new that change the answer (a task's counterfactual)"
        )
    logits, data = _clean_logits(model, pairs, batch_size)
    m_model = float(m(logits, data).double().mean())
    out = {}
    n = len(model.graph.edges)
    for ranking, rows in circuits.items():
        f = [1.0 - float(np.mean(values[f"{ranking} {i}"]["delta_h"])) / gap for i in range(len(rows))]
        fractions = tuple(r[0] for r in rows)
        cpr, cmd = areas(fractions, f)
        meta = {**info, "metric": name, "ablation": ablation, "ranking": ranking, "examples": len(pairs)}
        out[ranking] = MibCurve(
            fractions,
            tuple(r[1] for r in rows),
            tuple(r[3] for r in rows),
            tuple(f),
            n,
            cpr,
            cmd,
            m_model,
            m_model - gap,
            meta,
        )
    return out


def _clean_logits(model: ResidualModel, pairs: Pairs, batch_size: int) -> tuple[Tensor, Dataset]:
    """The model's logits on x_ref (for m(M) itself; f needs only the differences)."""
    import torch

    with torch.no_grad():
        chunks = [model(batch.ref.tokens).float().cpu() for _, batch in pairs.batches(batch_size)]
    return torch.cat(chunks), pairs.ref


def _ranked(scores: EdgeScores, absolute: bool) -> tuple[Edge, ...]:
    if absolute:
        return scores.ranked()
    return tuple(scores.edges[i] for i in np.argsort(-scores.scores, kind="stable"))


def _edge_rows(
    model: ResidualModel, scores: EdgeScores, absolute: bool, fractions: Sequence[float]
) -> list[tuple[float, int, Hypothesis, int]]:
    graph_edges = set(model.graph.edges)
    if set(scores.edges) != graph_edges or len(scores.edges) != len(graph_edges):
        raise InputError(
            f"the scores rank {len(scores.edges)} edges that are not the {len(graph_edges)} edges of this "
            f"model ({model.graph.describe()}); score this model's edges (eap(model, ...))"
        )
    ranked, n = _ranked(scores, absolute), len(scores.edges)
    rows = []
    for p in fractions:
        k = int(p * n)
        rows.append((float(p), k, subgraph(ranked[:k]), len(edges_on_paths(model.graph, ranked[:k]))))
    return rows


def _fractions(fractions: Sequence[float] | None) -> tuple[float, ...]:
    out = tuple(float(p) for p in (MIB_FRACTIONS if fractions is None else fractions))
    if len(out) < 2 or any(not 0 <= p <= 1 for p in out) or list(out) != sorted(set(out)):
        raise InputError(f"fractions must be at least two increasing edge fractions in [0, 1], got {fractions!r}")
    return out


def mib_curve(
    model: ResidualModel,
    pairs: Pairs,
    scores: EdgeScores,
    metric: str | TaskMetric | Metric | None = None,
    absolute: bool = True,
    ablation: Ablation = "resample",
    batch_size: int = 32,
    max_memory: int | str | None = None,
    fractions: Sequence[float] | None = None,
) -> MibCurve:
    """MIB's faithfulness curve of the ranking ``scores`` (by |score| if ``absolute``, else by signed
    score) at ``fractions`` (default :data:`MIB_FRACTIONS`); ``metric`` defaults to the pairs'
    task metric, else the logit difference (module docs)."""
    check_model(model, "mib_curve")
    if not isinstance(scores, EdgeScores):
        raise TypeError(f"scores must be EdgeScores (from eap, or acdc_scores), got {type(scores).__name__}")
    ranking = "absolute" if absolute else "signed"
    rows = _edge_rows(model, scores, absolute, _fractions(fractions))
    info = {"source": scores.found_by.get("algorithm", "scores")}
    return _curve(model, pairs, {ranking: rows}, metric, ablation, batch_size, max_memory, info)[ranking]


def mib_scores(
    model: ResidualModel,
    pairs: Pairs,
    scores: EdgeScores,
    metric: str | TaskMetric | Metric | None = None,
    ablation: Ablation = "resample",
    batch_size: int = 32,
    max_memory: int | str | None = None,
) -> MibScores:
    """MIB's CPR (signed ranking) and CMD (|score| ranking) of ``scores``, in one batched pass."""
    check_model(model, "mib_scores")
    if not isinstance(scores, EdgeScores):
        raise TypeError(f"scores must be EdgeScores (from eap, or acdc_scores), got {type(scores).__name__}")
    rows = {r: _edge_rows(model, scores, r == "absolute", MIB_FRACTIONS) for r in ("signed", "absolute")}
    info = {"source": scores.found_by.get("algorithm", "scores")}
    curves = _curve(model, pairs, rows, metric, ablation, batch_size, max_memory, info)
    return MibScores(curves["signed"].cpr, curves["absolute"].cmd, curves["signed"], curves["absolute"])


def mib_path_curve(
    model: ResidualModel,
    pairs: Pairs,
    circuit: Circuit | Sequence[str],
    metric: str | TaskMetric | Metric | None = None,
    ablation: Ablation = "resample",
    batch_size: int = 32,
    max_memory: int | str | None = None,
    fractions: Sequence[float] | None = None,
) -> MibCurve:
    """MIB's faithfulness curve of the path search's nested path sets: at each size the longest
    prefix of ``circuit.patterns`` (most important first) whose paths use at most ``int(p · n_edges)``
    edges, scored as that path set (not as the subgraph of its edges)."""
    check_model(model, "mib_path_curve")
    patterns = list(circuit.patterns or ()) if isinstance(circuit, Circuit) else list(circuit)
    if isinstance(circuit, Circuit) and circuit.patterns is None:
        raise InputError("mib_path_curve takes a path-level circuit (discover_paths); rank edges with mib_curve")
    if not patterns:
        raise InputError("a curve over nested path sets needs at least one pattern")
    sizes = [0] + [len(kept_edges(paths(patterns[:k]), model)) for k in range(1, len(patterns) + 1)]
    n = len(model.graph.edges)
    rows = []
    for p in _fractions(fractions):
        budget = int(p * n)
        k = max(i for i, s in enumerate(sizes) if s <= budget)
        hyp = paths(patterns[:k]) if k else no_paths()
        rows.append((p, sizes[k], hyp, sizes[k]))
    info = {"source": "paths", "patterns": len(patterns)}
    return _curve(model, pairs, {"paths": rows}, metric, ablation, batch_size, max_memory, info)["paths"]


def acdc_scores(result: AcdcResult, model: ResidualModel) -> EdgeScores:
    """ACDC's ranking as edge scores: each edge's effect when it was tested, m(H \\ {e}) − m(H)
    (0 for edges removed untested), in the model's edge order."""
    if not isinstance(result, AcdcResult):
        raise TypeError(f"acdc_scores takes the AcdcResult of acdc_search, got {type(result).__name__}")
    edges = model.graph.edges
    values = np.array([result.scores.get(e, 0.0) for e in edges], dtype=np.float64)
    return EdgeScores(edges, values, {**result.circuit.found_by, "algorithm": "acdc"})
