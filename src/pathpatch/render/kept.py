"""The edges a diagram of a hypothesis draws: those on at least one of its paths, as
:func:`pathpatch.lang.kept.kept_edges` finds them (the walk is the path language's; this module
only takes a model or a graph).
"""

from __future__ import annotations

from ..graph import Edge
from ..lang import kept as lang_kept
from ..lang.hypothesis import GraphSource, Hypothesis, graph_of
from ..lang.kept import edges_on_paths

__all__ = ["kept_edges", "edges_on_paths", "graph_of"]


def kept_edges(
    hypothesis: Hypothesis,
    model_or_graph: GraphSource,
    n_pos: int | None = None,
    positions: dict[str, int] | None = None,
) -> tuple[Edge, ...]:
    """The edges on at least one path of ``hypothesis`` on a model's graph, in the graph's edge
    order (:func:`pathpatch.lang.kept.kept_edges`; ``n_pos`` and ``positions`` as there)."""
    if not isinstance(hypothesis, Hypothesis):
        raise TypeError(f"kept_edges takes a Hypothesis, got {type(hypothesis).__name__}")
    return lang_kept.kept_edges(hypothesis, graph_of(model_or_graph), n_pos, positions)
