"""What a diagram shows, from the thing it is asked to draw: edges, their weights, a title.

- a :class:`~pathpatch.lang.hypothesis.Hypothesis`: the edges on at least one of its paths
  (:func:`~pathpatch.lang.kept.kept_edges`, no path enumeration);
- a discovery :class:`~pathpatch.discovery.circuit.Circuit`: its edges (those on a path from an
  input to ``out``; dangling ones are counted in the note), titled with its score;
- a dict ``{edge: score}`` (``Edge`` objects or ``"a0.1 -> a1.0.k"`` strings): those edges, width
  by ``|score|``;
- an edge-scan :class:`~pathpatch.scans.ScanTable`: each edge weighted by its effect — its value
  when restoring, ``1 - value`` when ablating with a ratio metric (proportion explained, loss
  recovered), the value otherwise (an ablated edge's AUE);
- a report row as ``report.json`` holds it when the run saved its hypotheses
  (:func:`~.runfiles.write_report_json`): a dict with ``"name"`` and ``"hypothesis"`` (a spec).

Scored subjects keep only the ``max_edges`` edges of largest ``|score|`` (the note says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..graph import Edge, Graph
from ..lang.hypothesis import Hypothesis
from ..lang.kept import edges_on_paths, kept_edges
from ..report import HypothesisScore
from ..scans import ScanTable
from .spec import from_spec

__all__ = ["Subject", "subject_of", "scan_weights"]

_RATIOS = ("proportion_explained", "loss_recovered")


@dataclass(frozen=True)
class Subject:
    """The edges to draw, their weights (or None: all alike), a title and a note under it."""

    edges: tuple[Edge, ...]
    weights: dict[Edge, float] | None = None
    title: str | None = None
    note: str | None = None


def _edge(key: Edge | str) -> Edge:
    if isinstance(key, Edge):
        return key
    if isinstance(key, str):
        return Edge.parse(key)
    raise InputError(f"edge scores are keyed by Edge objects or 'a0.1 -> a1.0.k' strings, got {type(key).__name__}")


def scan_weights(table: ScanTable) -> dict[Edge, float]:
    """Each row's effect (see module docs); rows must be edges (an edge scan)."""
    edges = [s for s in table.subjects if isinstance(s, Edge)]
    if len(edges) < len(table.rows):
        raise InputError(
            "draw takes an edge scan (pp.edge_scan); this table's rows are not edges "
            f"({table.rows[0][0]!r}, ...): plot it with pathpatch.render.plot_scan_top instead"
        )
    flip = table.mode == "ablate" and table.metric in _RATIOS
    return {e: (1.0 - est.value if flip else est.value) for e, (_, est) in zip(edges, table.rows)}


def _top(graph: Graph, weights: dict[Edge, float], max_edges: int, what: str) -> Subject:
    unknown = [e.name for e in weights if e not in graph.edge_set]
    if unknown:
        raise InputError(
            f"{len(unknown)} scored edges are not edges of this model ({graph.describe()}), e.g. "
            f"{unknown[0]!r}; score the model you draw"
        )
    ranked = sorted((e for e in weights if weights[e] != 0), key=lambda e: -abs(weights[e]))
    chosen = set(ranked[:max_edges])
    note = f"top {len(chosen)} of {len(ranked)} {what} by |score|" if len(ranked) > len(chosen) else None
    return Subject(tuple(e for e in graph.edges if e in chosen), {e: weights[e] for e in chosen}, None, note)


def _many(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def _title(name: str, score: HypothesisScore | None) -> str:
    pe = score.metrics.get("proportion_explained") if score is not None else None
    return f"{name}: proportion explained {pe}" if pe is not None else name


def subject_of(
    thing: Any,
    graph: Graph,
    scores: Mapping[Edge | str, float] | None = None,
    max_edges: int = 300,
    n_pos: int | None = None,
    positions: dict[str, int] | None = None,
) -> Subject:
    """The :class:`Subject` of ``thing`` on ``graph`` (see module docs); ``scores`` weigh its edges."""
    weights = None if scores is None else {_edge(k): float(v) for k, v in scores.items()}
    if isinstance(thing, Hypothesis):
        edges = kept_edges(thing, graph, n_pos, positions)
        count = None if thing.positional else thing.count(graph)
        return Subject(
            edges,
            weights,
            str(thing),
            _many(len(edges), "edge")
            + (" (positions dropped)" if count is None else f" on its {_many(count, 'position-free path')}"),
        )
    if isinstance(thing, ScanTable):
        sub = _top(graph, scan_weights(thing), max_edges, "edges")
        return Subject(
            sub.edges, sub.weights, f"{thing.mode} each edge: effect on {thing.metric.replace('_', ' ')}", sub.note
        )
    if isinstance(thing, Mapping) and "hypothesis" in thing and "name" in thing:
        hyp = from_spec(thing["hypothesis"])
        edges = kept_edges(hyp, graph, n_pos, positions)
        score = HypothesisScore.from_dict(dict(thing)) if "metrics" in thing else None
        return Subject(edges, weights, _title(str(thing["name"]), score), _many(len(edges), "edge"))
    if isinstance(thing, Mapping):
        return _top(graph, {_edge(k): float(v) for k, v in thing.items()}, max_edges, "scored edges")
    if hasattr(thing, "edges") and hasattr(thing, "found_by") and hasattr(thing, "hypothesis"):  # a Circuit
        edges = edges_on_paths(graph, thing.edges)
        dangling = len(set(thing.edges)) - len(edges)
        note = _many(len(edges), "edge") + (f" ({dangling} dangling, not drawn)" if dangling else "")
        if weights is None and thing.weights is not None:  # its measured effects
            weights = {e: w for e, w in thing.weights.items() if e in set(edges)}
            note += ", width by measured effect"
        return Subject(edges, weights, _title(str(thing.found_by.get("algorithm", "circuit")), thing.score), note)
    if isinstance(thing, HypothesisScore):
        raise InputError(
            "a HypothesisScore holds numbers, not its hypothesis: draw the hypothesis itself, or a row "
            "of a report.json written with pathpatch.render.write_report_json (it holds the spec)"
        )
    raise TypeError(
        f"draw takes a Hypothesis, a Circuit, a dict of edge scores, an edge-scan ScanTable or a "
        f"report row, got {type(thing).__name__}"
    )
