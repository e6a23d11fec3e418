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
likewise a forward pass from that node on: :class:`ReceiverCut`, :func:`receiver_cut`.

A node cut is exactly a forward pass in which the values below ``c`` that readers above ``c``
see are replaced: ``R``'s by the clean run's (the ablated run's when negated), the others by the
ablated run's (clean); only nodes above ``c``, at positions ``>= min(R)``, change. The engine
runs such hypotheses as patched forwards (:mod:`pathpatch.engine.cuts`) instead of walking them.

Automata say whether they are a node cut through an ``as_cut(graph)`` method (pattern automata,
complements and the residual cut of :mod:`.cut`); :func:`node_cut` asks. The answer depends only
on the compiled automaton, never on which helper built the hypothesis, so a hand-written
``paths("... -> a1.3@17 -> ...")`` and ``through("a1.3@17")`` are the same cut.

:func:`count_cut` counts a cut's paths from per-node path counts, without a walk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ..graph import Edge, Graph, Node, Port
from .edges import SubgraphAutomaton

__all__ = ["NodeCut", "ReceiverCut", "node_cut", "receiver_cut", "count_cut", "cut_of_nodes"]


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


def receiver_cut(dfa: object) -> ReceiverCut | None:
    """The receiver cut an edge-set automaton given by dropped edges is, if they all enter one node."""
    if not isinstance(dfa, SubgraphAutomaton) or dfa.dropped is None or not dfa.dropped:
        return None
    receivers = {e.receiver.node for e in dfa.dropped}
    if len(receivers) != 1:
        return None
    return ReceiverCut(receivers.pop(), dfa.dropped, dfa.negated)


def node_cut(dfa: object, graph: Graph) -> NodeCut | None:
    """The node cut an automaton accepts, if it says it is one (``as_cut``), else None."""
    as_cut = getattr(dfa, "as_cut", None)
    if as_cut is None:
        return None
    found = as_cut(graph)
    return found if isinstance(found, NodeCut) else None


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


def count_cut(cut: NodeCut, graph: Graph, n_pos: int) -> int:
    """How many position-resolved paths over ``n_pos`` positions the cut holds."""
    counts = _counts(graph, n_pos)
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
