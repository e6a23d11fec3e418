"""The edges a hypothesis keeps: those that lie on at least one of its paths.

A diagram of a hypothesis draws these edges. Listing the paths and collecting their edges is
exponential (a GPT-2-small graph holds about 10²⁶ paths), so the edges are found on the product of
the graph and the hypothesis' automaton (DESIGN §2), the walk that ``Hypothesis.count`` does:

1. **down from ``out``**: for every port, the automaton states (and, for a hypothesis that names
   positions, the sender positions) reached by reading some path suffix from ``out`` down to it —
   one pass over the nodes in reverse topological order, states unioned per node;
2. **up from the inputs**: whether a copy ``(node, t, state)`` can still be completed into an
   accepted path (memoised per copy, and per port group and state);
3. an edge ``u -> p`` is kept when some state reached at ``p`` has ``u`` as a live sender.

The cost is that of counting: (nodes × states reached) steps of the automaton and one test per
edge and state reached, never one per path. Edge-set hypotheses skip the automaton: the kept
edges of ``subgraph(K)`` (or of "every edge but these few") are the edges of ``K`` that join an
input to ``out`` through ``K``, found by two reachability passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..graph import Edge, Graph, Node, Port
from ..lang.edges import SubgraphAutomaton
from ..lang.hypothesis import Hypothesis, Subgraph

__all__ = ["kept_edges", "edges_on_paths", "graph_of"]


def graph_of(model_or_graph: Any) -> Graph:
    """The :class:`Graph` of a model (or the graph itself)."""
    graph = getattr(model_or_graph, "graph", model_or_graph)
    if not isinstance(graph, Graph):
        raise TypeError(f"expected a ResidualModel or Graph, got {type(model_or_graph).__name__}")
    return graph


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


def _letter(x: Node | Port, t: int | None) -> Any:
    return x if t is None else (x, t)


def kept_edges(
    hypothesis: Hypothesis, model_or_graph: Any, n_pos: int | None = None, positions: dict[str, int] | None = None
) -> tuple[Edge, ...]:
    """The edges on at least one path of ``hypothesis``, in the graph's edge order.

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
    return _walk(graph, dfa, range(ctx.n_pos) if ctx is not None else (None,))


def _walk(graph: Graph, dfa: Any, starts: Iterable[int | None]) -> tuple[Edge, ...]:
    """Steps 1-3 of the module docs on any automaton."""
    out = Node("out")
    # 1. states after reading each port's letter, with the sender positions that can feed it
    at_port: dict[Port, set[tuple[int | None, Any]]] = {}
    for node in reversed(graph.nodes):
        if node.is_input:
            continue
        if node == out:
            here = {(t, dfa.start) for t in starts}
        else:
            here = set().union(*(at_port.get(p, ()) for p in graph.receivers[node]))
        for channel in node.channels:
            port = Port(node, channel)
            found = at_port.setdefault(port, set())
            for t, state in here:
                q = dfa.step(state, _letter(port, t))
                if not dfa.dead(q):
                    found.update((u, q) for u in (Graph.sender_positions(port, t) if t is not None else (None,)))

    # 2. which senders of a port group complete an accepted path from state q at position u
    live: dict[tuple[Node, int | None, Any], bool] = {}
    rows: dict[tuple[int, int | None, Any], frozenset[Node]] = {}

    def alive(node: Node, t: int | None, state: Any) -> bool:
        if dfa.dead(state):
            return False
        if dfa.full(state):
            return True  # every node has a path down to embed, and every continuation is accepted
        key = (node, t, state)
        if key not in live:
            live[key] = any(
                bool(senders(port, u, q))
                for port in (Port(node, c) for c in node.channels)
                for q in (dfa.step(state, _letter(port, t)),)
                for u in (Graph.sender_positions(port, t) if t is not None else (None,))
            )
        return live[key]

    def senders(port: Port, u: int | None, q: Any) -> frozenset[Node]:
        key = (graph.sender_group(port), u, q)
        if key not in rows:
            rows[key] = frozenset(
                w
                for w in graph.senders(port)
                if (dfa.accepts(dfa.step(q, _letter(w, u))) if w.is_input else alive(w, u, q))
            )
        return rows[key]

    # 3. an edge is kept when a state reached at its port has its sender alive
    kept: set[Edge] = set()
    for port, found in at_port.items():
        for u, q in found:
            kept.update(Edge(w, port) for w in senders(port, u, q))
    return tuple(e for e in graph.edges if e in kept)
