"""Node cuts: position-resolved path sets that are one patched forward pass (docs/design.md §3-§4).

Every path crosses each stage boundary exactly once: read backwards from ``out``, stages strictly
decrease, so for a stage ``c`` below ``out`` there is one first node at stage ``<= c``, the
path's *crossing node* at ``c`` (with its position). A **node cut** ``NodeCut(c, R)`` is the set
of paths whose crossing node at ``c`` is one of the (node, position) pairs ``R``:

- ``through(v@t)`` (and any union of such elements of one stage, e.g. ``through("a1.*@t")``) is
  ``NodeCut(stage(v), {v} x {t})``: a path goes through ``v@t`` exactly when ``v@t`` is its first
  node at or below ``v``'s stage;
- ``residual_at(l, t)`` is ``NodeCut(c, every sender at or below c, at t)``, ``c`` the last
  stage of block ``l``;
- a complement ``~NodeCut(c, R)`` is the same cut with the runs swapped (``negated``).

A position-free edge-set hypothesis that drops only edges into one node (a sender scan's row) is
likewise a forward pass from that node on: :class:`ReceiverCut`, :func:`receiver_cut`. So is its
position-resolved form, an **edge cut** ``EdgeCut(r, E)``: the paths that use one of the
positional edges ``E`` (``u@s -> r.c@t``, :class:`PosEdge`) into one receiver ``r`` (a path passes
``r`` at most once, so it uses at most one edge into it), or with ``negated`` every other path.
``through_edge("u", "r.c@t")``, ``paths("u@s -> r.c@t")`` and their unions, complements and
``| & -`` into one receiver are edge cuts: :func:`edge_cut` asks.

A node cut is exactly a forward pass in which the values below ``c`` that readers above ``c``
see are replaced: ``R``'s by the clean run's (the ablated run's when negated), the others by the
ablated run's (clean); only nodes above ``c``, at positions ``>= min(R)``, change. The engine
runs such hypotheses as patched forwards (:mod:`pathpatch.engine.cuts`) instead of walking them.

Automata say whether they are a node or an edge cut through an ``as_cut(graph)`` method (pattern
automata, products, complements and the residual cut of :mod:`.cut`); :func:`node_cut` and
:func:`edge_cut` ask, and :func:`combine_cuts` is the set algebra of two cuts of one kind. The answer depends only
on the compiled automaton, never on which helper built the hypothesis, so a hand-written
``paths("... -> a1.3@17 -> ...")`` and ``through("a1.3@17")`` are the same cut.

:func:`count_cut` counts a node or edge cut's paths from per-node path counts, without a walk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from ..graph import Edge, Graph, Node, Port
from .edges import SubgraphAutomaton

__all__ = [
    "NodeCut",
    "ReceiverCut",
    "PosEdge",
    "EdgeCut",
    "Cut",
    "any_cut",
    "node_cut",
    "edge_cut",
    "combine_cuts",
    "receiver_cut",
    "count_cut",
    "cut_of_nodes",
    "cut_of_edges",
]

M = TypeVar("M")  # a member of a cut: a (node, position) pair or a positional edge


@dataclass(frozen=True)
class NodeCut:
    """The paths whose crossing node at stage ``stage`` is one of ``cut`` ((node, position)
    pairs); with ``negated``, every other path."""

    stage: int
    cut: frozenset[tuple[Node, int]]
    negated: bool = False

    def __invert__(self) -> NodeCut:
        return NodeCut(self.stage, self.cut, not self.negated)

    @property
    def earliest(self) -> int | None:
        """The first position whose values change (None: no position does)."""
        return min((t for _, t in self.cut), default=None)


@dataclass(frozen=True)
class ReceiverCut:
    """Position-free: every path except those using one of ``dropped``, edges into the ports of
    one ``receiver`` (with ``negated``, the paths using one of them). A sender scan's hypothesis.

    It is one patched forward: the receiver reads the dropped senders' values from the off run
    (the ablated run; the clean run when negated), everything else reads the on run, and only the
    receiver and the nodes after it change."""

    receiver: Node
    dropped: frozenset[Edge]
    negated: bool = False


@dataclass(frozen=True, order=True)
class PosEdge:
    """An edge at positions: ``edge.sender`` at ``sender_at`` into ``edge.receiver`` at
    ``receiver_at`` (``sender_at <= receiver_at`` into k or v, equal into any other port)."""

    edge: Edge
    sender_at: int
    receiver_at: int


@dataclass(frozen=True)
class EdgeCut:
    """Position-resolved: the paths that use one of ``edges`` (positional edges into the ports of
    one ``receiver``); with ``negated``, every other path.

    It is one patched forward: the receiver at each position of ``edges`` reads their senders from
    the on run (the clean run; the ablated run when negated) and every other input from the off
    run, which is the base of everything else; only the receiver there and the nodes after it, at
    positions from the first such position on, change."""

    receiver: Node
    edges: frozenset[PosEdge]
    negated: bool = False

    def __invert__(self) -> EdgeCut:
        return EdgeCut(self.receiver, self.edges, not self.negated)

    @property
    def earliest(self) -> int | None:
        """The first position whose values change (None: no position does)."""
        return min((e.receiver_at for e in self.edges), default=None)


Cut = NodeCut | EdgeCut | ReceiverCut  # what a plan records instead of walking a hypothesis


def receiver_cut(dfa: object) -> ReceiverCut | None:
    """The receiver cut an edge-set automaton given by dropped edges is, if they all enter one node."""
    if not isinstance(dfa, SubgraphAutomaton) or dfa.dropped is None or not dfa.dropped:
        return None
    receivers = {e.receiver.node for e in dfa.dropped}
    if len(receivers) != 1:
        return None
    return ReceiverCut(receivers.pop(), dfa.dropped, dfa.negated)


def any_cut(dfa: object, graph: Graph) -> NodeCut | EdgeCut | None:
    """The node or edge cut an automaton accepts, if it says it is one (``as_cut``), else None."""
    as_cut = getattr(dfa, "as_cut", None)
    found = None if as_cut is None else as_cut(graph)
    return found if isinstance(found, (NodeCut, EdgeCut)) else None


def node_cut(dfa: object, graph: Graph) -> NodeCut | None:
    """The node cut an automaton accepts, if it says it is one (``as_cut``), else None."""
    found = any_cut(dfa, graph)
    return found if isinstance(found, NodeCut) else None


def edge_cut(dfa: object, graph: Graph) -> EdgeCut | None:
    """The edge cut an automaton accepts, if it says it is one (``as_cut``), else None."""
    found = any_cut(dfa, graph)
    return found if isinstance(found, EdgeCut) else None


def combine_cuts(op: str, a: NodeCut | EdgeCut | None, b: NodeCut | EdgeCut | None) -> NodeCut | EdgeCut | None:
    """``a op b`` (``|``, ``&`` or ``-``) as one cut, if both are cuts of one kind at one place
    (one stage, one receiver), else None. Each path has at most one crossing node at a stage (one
    edge into a receiver), so the cuts combine as sets of them: a negated cut's set is the
    complement of its own."""
    if isinstance(a, NodeCut) and isinstance(b, NodeCut) and a.stage == b.stage:
        members, negated = _combine(op, a.cut, a.negated, b.cut, b.negated)
        return NodeCut(a.stage, members, negated)
    if isinstance(a, EdgeCut) and isinstance(b, EdgeCut) and a.receiver == b.receiver:
        edges, negated = _combine(op, a.edges, a.negated, b.edges, b.negated)
        return EdgeCut(a.receiver, edges, negated)
    return None


def _combine(op: str, x: frozenset[M], x_neg: bool, y: frozenset[M], y_neg: bool) -> tuple[frozenset[M], bool]:
    if op == "-":  # a - b = a & ~b
        y_neg, op = not y_neg, "&"
    if x_neg == y_neg:
        union = (op == "|") != x_neg  # ~A | ~B = ~(A & B), ~A & ~B = ~(A | B)
        return (x | y if union else x & y), x_neg
    keep, drop = (x, y) if y_neg else (y, x)  # A & ~B = A - B; A | ~B = ~(B - A)
    if op == "|":
        return drop - keep, True
    return keep - drop, False


def cut_of_edges(
    graph: Graph, senders: Iterable[Node], at: frozenset[int], ports: Iterable[Port], receiver_at: Iterable[int]
) -> EdgeCut | None:
    """``EdgeCut(r, E)`` for the edges from ``senders`` at positions ``at`` into ``ports`` (of one
    node ``r``) at positions ``receiver_at``, if the ports are of one node and some edge joins
    them, else None."""
    chosen = tuple(ports)
    if len({p.node for p in chosen}) != 1:
        return None
    nodes = frozenset(senders)
    edges = frozenset(
        PosEdge(Edge(u, p), s, t)
        for p in chosen
        for u in graph.senders(p)
        if u in nodes
        for t in receiver_at
        for s in graph.sender_positions(p, t)
        if s in at
    )
    return EdgeCut(chosen[0].node, edges) if edges else None


def cut_of_nodes(graph: Graph, nodes: Iterable[Node], positions: Iterable[int]) -> NodeCut | None:
    """``NodeCut(c, nodes x positions)`` if every node (not ``out``) sits at one stage ``c``, else None."""
    chosen = frozenset(nodes)
    stages = {graph.stage_of(n) for n in chosen}
    if len(stages) != 1 or any(n.kind == "out" for n in chosen):
        return None
    return NodeCut(stages.pop(), frozenset((n, t) for n in chosen for t in positions))


@lru_cache(maxsize=64)
def _counts(graph: Graph, n_pos: int) -> _PathCounts:
    return _PathCounts(graph, n_pos)


def count_cut(cut: NodeCut | EdgeCut, graph: Graph, n_pos: int) -> int:
    """How many position-resolved paths over ``n_pos`` positions the cut holds (an edge's: the
    paths up to its sender there times the suffixes from its receiver there)."""
    counts = _counts(graph, n_pos)
    if isinstance(cut, EdgeCut):
        inside = sum(
            counts.below[e.edge.sender][e.sender_at] * counts.suffix[cut.receiver][e.receiver_at] for e in cut.edges
        )
    else:
        inside = sum(counts.below[u][t] * counts.above(u, cut.stage)[t] for u, t in cut.cut)
    return counts.total - inside if cut.negated else inside


class _PathCounts:
    """Per node and position: the paths from an input up to it (``below``) and the path suffixes
    from it to ``out`` whose next node sits above a stage (``above``), by sums over sender and
    receiver groups (O(ports x positions) big-integer additions, once per graph and length)."""

    def __init__(self, graph: Graph, n_pos: int) -> None:
        self.graph, self.n_pos = graph, n_pos
        self.stages = sorted({graph.stage_of(n) for n in graph.nodes})
        group_sums: dict[int, list[int]] = {}
        self.below: dict[Node, list[int]] = {}
        for node in graph.nodes:
            if node.is_input:
                self.below[node] = [1] * n_pos
                continue
            total = [0] * n_pos
            for c in node.channels:
                port = Port(node, c)
                g = graph.sender_group(port)
                if g not in group_sums:
                    group_sums[g] = _add_all((self.below[u] for u in graph.senders(port)), n_pos)
                total = _add(total, _prefix(group_sums[g]) if c in ("k", "v") else group_sums[g])
            self.below[node] = total
        self.total = sum(self.below[Node("out")])
        # suffixes from each node to out, top down; a port's value at the sender's position
        ids: dict[tuple[Port, ...], int] = {}
        self.receiver_group = {n: ids.setdefault(graph.receivers[n], len(ids)) for n in graph.nodes}
        self.members = {g: ports for ports, g in ids.items()}
        self.at_port: dict[Port, list[int]] = {}
        self.per_stage: dict[tuple[int, int], list[int]] = {}
        self._above: dict[tuple[int, int], list[int]] = {}
        self.suffix: dict[Node, list[int]] = {Node("out"): [1] * n_pos}
        for node in reversed(graph.nodes[:-1]):
            self.suffix[node] = self.above(node, graph.stage_of(node))
            for c in node.channels:
                s = self.suffix[node]
                self.at_port[Port(node, c)] = _suffix_sum(s) if c in ("k", "v") else s

    def above(self, node: Node, stage: int) -> list[int]:
        """Per position of ``node``: the suffixes to ``out`` whose next node is above ``stage``."""
        g = self.receiver_group[node]
        key = (g, stage)
        hit = self._above.get(key)
        if hit is None:
            higher = [s for s in self.stages if s > stage]
            if not higher:
                hit = [0] * self.n_pos
            else:
                hit = _add(self._stage_sum(g, higher[0]), self.above(node, higher[0]))
            self._above[key] = hit
        return hit

    def _stage_sum(self, group: int, stage: int) -> list[int]:
        key = (group, stage)
        if key not in self.per_stage:
            ports = [p for p in self.members[group] if self.graph.stage_of(p.node) == stage]
            self.per_stage[key] = _add_all((self._port(p) for p in ports), self.n_pos)
        return self.per_stage[key]

    def _port(self, port: Port) -> list[int]:
        return self.suffix[port.node] if port.node.kind == "out" else self.at_port[port]


def _add(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b)]


def _add_all(vectors: Iterable[list[int]], n: int) -> list[int]:
    total = [0] * n
    for v in vectors:
        total = _add(total, v)
    return total


def _prefix(v: list[int]) -> list[int]:
    """``out[t] = v[0] + ... + v[t]`` (a k or v port at t reads senders at 0..t)."""
    out, running = [], 0
    for x in v:
        running += x
        out.append(running)
    return out


def _suffix_sum(v: list[int]) -> list[int]:
    """``out[t] = v[t] + ... + v[-1]`` (a sender at t feeds k and v ports at t..end)."""
    return _prefix(v[::-1])[::-1]
