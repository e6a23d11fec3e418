"""Planning: which tree copies are MIXED, found without building the tree (DESIGN §3, step 2).

The value of a tree copy of node ``v`` depends only on ``v`` and the automaton state reached by
reading the path suffix from ``v`` to ``out``; better, only on the states reached after each of
``v``'s ports. So the walk is memoised on ``(v, states after v's ports)``, and it stops where the
automaton is decided for every letter the graph still has below (``dead_at`` / ``full_at``).
Each copy is then hash-consed by what it reads: REF (its whole subtree is x_ref), NEW (all x_new),
BOTH (an input equal in both runs, or a copy of only such inputs), or MIXED, identified by
``(v, rows)``. A row (the children one port reads, one per sender) is interned once across all
hypotheses, so a copy is compared by a few row ids. Only MIXED copies are computed, once each,
however many hypotheses and suffixes share them.

Subgraph hypotheses (edge sets) need no walk at all: each node has at most one copy that matters
(the one reached along kept edges), planned in one pass over the nodes (:func:`_plan_subgraph`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..graph import Edge, Graph, Node, Port
from ..lang.automata import Automaton, SubgraphAutomaton

__all__ = ["Ref", "MixedCopy", "Plan", "make_plan", "REF", "NEW", "BOTH"]

REF, NEW, BOTH = "R", "N", "B"
Ref = tuple  # (REF | NEW | BOTH, Node) or ("M", index into Plan.copies)


def _label(kinds: set[str] | frozenset[str]) -> str:
    kinds = set(kinds) - {BOTH}
    if not kinds:
        return BOTH
    return kinds.pop() if len(kinds) == 1 and "M" not in kinds else "M"


@dataclass(frozen=True)
class MixedCopy:
    """A MIXED copy of ``node``: per channel of the node, one child per sender (same order).

    ``labels`` (filled by the planner) caches :meth:`channel_label` per channel."""

    node: Node
    children: tuple[tuple[Ref, ...], ...]
    labels: tuple[str, ...] = field(default=(), compare=False)

    def channel_label(self, i: int) -> str:
        """REF / NEW if channel ``i`` reads only cached values of that run (BOTH counts for both)."""
        if self.labels:
            return self.labels[i]
        return _label({child[0] for child in self.children[i]})


@dataclass
class Plan:
    """The MIXED copies (topologically ordered) and the root copy of each hypothesis."""

    graph: Graph
    copies: list[MixedCopy] = field(default_factory=list)
    roots: list[Ref] = field(default_factory=list)
    walked: int = 0  # number of (node, state) pairs visited

    def copies_per_node(self) -> dict[Node, int]:
        counts: dict[Node, int] = {}
        for c in self.copies:
            counts[c.node] = counts.get(c.node, 0) + 1
        return counts


class _Builder:
    """Interns rows (by content) and MIXED copies (by node and row ids) across hypotheses."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.row_ids: dict[tuple[Ref, ...], int] = {}
        self.rows: list[tuple[tuple[Ref, ...], str]] = []  # the interned row and its label
        self.copy_ids: dict[tuple[Node, tuple[int, ...]], int] = {}

    def row(self, children: tuple[Ref, ...]) -> int:
        index = self.row_ids.get(children)
        if index is None:
            index = self.row_ids[children] = len(self.rows)
            self.rows.append((children, _label({c[0] for c in children})))
        return index

    def copy(self, node: Node, rows: tuple[int, ...]) -> Ref:
        labels = tuple(self.rows[r][1] for r in rows)
        kinds = set(labels)
        if kinds <= {REF, BOTH}:
            return (REF, node) if REF in kinds else (BOTH, node)
        if kinds <= {NEW, BOTH}:
            return (NEW, node)
        key = (node, rows)
        index = self.copy_ids.get(key)
        if index is None:
            index = self.copy_ids[key] = len(self.plan.copies)
            self.plan.copies.append(MixedCopy(node, tuple(self.rows[r][0] for r in rows), labels))
        return ("M", index)


def make_plan(graph: Graph, automata: Sequence[Automaton], both: frozenset[Node] = frozenset()) -> Plan:
    """Find every MIXED copy needed by ``automata`` (one per hypothesis) on ``graph``.

    ``both``: input nodes whose value is the same in the clean and the ablated run.
    """
    plan = Plan(graph)
    builder = _Builder(plan)
    for dfa in automata:
        if isinstance(dfa, SubgraphAutomaton):
            plan.roots.append(_plan_subgraph(graph, dfa.edges, both, builder))
        else:
            plan.roots.append(_walk(graph, dfa, both, builder))
    # Children are interned before parents, so plan.copies is already topologically ordered.
    return plan


def _walk(graph: Graph, dfa: Automaton, both: frozenset[Node], builder: _Builder) -> Ref:
    """The root copy of one hypothesis, by a memoised walk of the graph × automaton product."""
    plan = builder.plan
    memo: dict[tuple[Node, Any], Ref] = {}
    by_steps: dict[tuple[Node, tuple[Any, ...]], Ref] = {}
    rows: dict[tuple[int, Any], int] = {}  # ports with the same senders share rows

    def row(port: Port, q: Any) -> int:
        # every dead (full) state gives the same all-NEW (all-REF) row: one key for all of them
        below = graph.stage_of(port.node) - 1
        fixed = NEW if dfa.dead_at(q, below) else REF if dfa.full_at(q, below) else None
        key = (graph.sender_group(port), fixed or q)
        hit = rows.get(key)
        if hit is None:
            hit = rows[key] = builder.row(tuple(
                (BOTH, u) if u in both
                else (fixed, u) if fixed
                else (REF if dfa.accepts(dfa.step(q, u)) else NEW, u) if u.is_input
                else copy(u, q)
                for u in graph.senders(port)
            ))
        return hit

    def copy(node: Node, state: Any) -> Ref:
        key = (node, state)
        hit = memo.get(key)
        if hit is not None:
            return hit
        plan.walked += 1
        stage = graph.stage_of(node)
        if dfa.dead_at(state, stage):
            result: Ref = (NEW, node)
        elif dfa.full_at(state, stage):
            result = (REF, node)
        else:
            ports = [Port(node, c) for c in node.channels]
            steps = tuple(dfa.step(state, p) for p in ports)
            result = by_steps.get((node, steps))  # type: ignore[assignment]
            if result is None:
                result = by_steps[(node, steps)] = builder.copy(node, tuple(row(p, q) for p, q in zip(ports, steps)))
        memo[key] = result
        return result

    return copy(Node("out"), dfa.start)


def _plan_subgraph(graph: Graph, edges: frozenset[Edge], both: frozenset[Node], builder: _Builder) -> Ref:
    """The root copy of the subgraph hypothesis ``edges``, in one pass over the nodes.

    Every path of the hypothesis reaches a node along kept edges only, so each node has one copy
    that matters: its input at a port is, per sender, that sender's copy if the edge is kept, else
    the sender's ablated value. Nodes no kept edge leads from to ``out`` need no copy.
    """
    flags = iter([e in edges for e in graph.edges])  # graph.edges: port by port, senders in order
    kept: dict[Port, list[bool]] = {p: [next(flags) for _ in graph.senders(p)] for p in graph.ports}
    ports_of = {n: [Port(n, c) for c in n.channels] for n in graph.nodes}
    alive = {Node("out")}
    for node in reversed(graph.nodes):
        if node in alive:
            for p in ports_of[node]:
                alive.update(u for u, k in zip(graph.senders(p), kept[p]) if k)
    copy: dict[Node, Ref] = {}
    for node in graph.nodes:
        if node.is_input:
            copy[node] = (BOTH if node in both else REF, node)
        elif node in alive:
            copy[node] = builder.copy(node, tuple(
                builder.row(tuple(copy[u] if k else (BOTH if u in both else NEW, u)
                                  for u, k in zip(graph.senders(p), kept[p])))
                for p in ports_of[node]))
    return copy[Node("out")]
