"""The edges a hypothesis keeps: those that lie on at least one of its paths.

Listing the paths and collecting their edges is exponential (a GPT-2-small graph holds about 10²⁶
paths), so the edges are found on the product of the graph and the hypothesis' automaton
(docs/design.md §2), by the walk that counts its paths (:func:`~.walks.accepted_edges`, at the cost of counting).
Edge-set hypotheses skip the automaton: the kept edges of ``subgraph(K)`` (or of "every edge but
these few") are the edges of ``K`` that join an input to ``out`` through ``K``
(:func:`edges_on_paths`, two reachability passes).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..graph import Edge, Graph, GraphSource, Node, graph_of
from .edges import SubgraphAutomaton
from .hypothesis import Hypothesis, Subgraph
from .walks import accepted_edges

__all__ = ["kept_edges", "edges_on_paths"]


def edges_on_paths(graph: Graph, edges: Iterable[Edge]) -> tuple[Edge, ...]:
    """The edges of ``edges`` that lie on some input-to-``out`` path made only of ``edges``, in
    the graph's edge order (two reachability passes; dangling edges are dropped)."""
    keep = set(edges) & graph.edge_set
    into: dict[Node, list[Edge]] = {}
    for e in keep:
        into.setdefault(e.receiver.node, []).append(e)
    reached = set(graph.inputs)  # reachable from an input through kept edges
    for node in graph.nodes:
        if any(e.sender in reached for e in into.get(node, ())):
            reached.add(node)
    leads = {Node("out")}  # reach out through kept edges
    for node in reversed(graph.nodes):
        if node in leads:
            leads.update(e.sender for e in into.get(node, ()))
    return tuple(e for e in graph.edges if e in keep and e.sender in reached and e.receiver.node in leads)


def kept_edges(
    hypothesis: Hypothesis,
    model_or_graph: GraphSource,
    n_pos: int | None = None,
    positions: dict[str, int] | None = None,
) -> tuple[Edge, ...]:
    """The edges on at least one path of ``hypothesis`` on a model's graph (or a graph), in the
    graph's edge order.

    A hypothesis that names positions needs ``n_pos`` (and ``positions`` for names like END); its
    edges are those of its position-resolved paths, positions dropped.
    """
    if not isinstance(hypothesis, Hypothesis):
        raise TypeError(f"kept_edges takes a Hypothesis, got {type(hypothesis).__name__}")
    graph = graph_of(model_or_graph)
    ctx = hypothesis.context(n_pos, positions)
    dfa = hypothesis.compile(graph, ctx)
    if isinstance(hypothesis, Subgraph):
        return edges_on_paths(graph, hypothesis.edges)
    if isinstance(dfa, SubgraphAutomaton) and not dfa.negated:
        return edges_on_paths(graph, (e for e, k in zip(graph.edges, dfa.kept(graph)) if k))
    return accepted_edges(dfa, graph, ctx.n_pos if ctx is not None else None)
