"""Planning: which tree copies are MIXED, found without building the tree (DESIGN §3, step 2).

The value of a tree copy of node ``v`` depends only on ``v`` and the automaton state reached by
reading the path suffix from ``v`` to ``out``; so the walk is memoised on ``(v, state)``. Each
copy is then hash-consed by what it reads: REF (its whole subtree is x_ref), NEW (all x_new),
BOTH (an input equal in both runs, or a copy of only such inputs), or MIXED, identified by
``(v, children)``. Only MIXED copies are computed, once each, however many hypotheses and
suffixes share them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..graph import Graph, Node, Port
from ..lang.automata import Automaton

__all__ = ["Ref", "MixedCopy", "Plan", "make_plan", "REF", "NEW", "BOTH"]

REF, NEW, BOTH = "R", "N", "B"
Ref = tuple  # (REF | NEW | BOTH, Node) or ("M", index into Plan.copies)


@dataclass(frozen=True)
class MixedCopy:
    """A MIXED copy of ``node``: per channel of the node, one child per sender (same order)."""

    node: Node
    children: tuple[tuple[Ref, ...], ...]

    def channel_label(self, i: int) -> str:
        """REF / NEW if channel ``i`` reads only cached values of that run (BOTH counts for both)."""
        kinds = {child[0] for child in self.children[i]} - {BOTH}
        if not kinds:
            return BOTH
        return kinds.pop() if len(kinds) == 1 and "M" not in kinds else "M"


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


def _combine(node: Node, children: tuple[tuple[Ref, ...], ...], interned: dict[Any, int], plan: Plan) -> Ref:
    kinds = {child[0] for channel in children for child in channel}
    if kinds <= {REF, BOTH}:
        return (REF, node) if REF in kinds else (BOTH, node)
    if kinds <= {NEW, BOTH}:
        return (NEW, node)
    key = (node, children)
    index = interned.get(key)
    if index is None:
        index = interned[key] = len(plan.copies)
        plan.copies.append(MixedCopy(node, children))
    return ("M", index)


def make_plan(graph: Graph, automata: Sequence[Automaton], both: frozenset[Node] = frozenset()) -> Plan:
    """Find every MIXED copy needed by ``automata`` (one per hypothesis) on ``graph``.

    ``both``: input nodes whose value is the same in the clean and the ablated run.
    """
    plan = Plan(graph)
    interned: dict[Any, int] = {}
    out = Node("out")

    for dfa in automata:
        memo: dict[tuple[Node, Any], Ref] = {}
        rows: dict[tuple[int, Any], tuple[Ref, ...]] = {}  # ports with the same senders share rows

        def row(port: Port, q: Any) -> tuple[Ref, ...]:
            # every dead (full) state gives the same all-NEW (all-REF) row: one key for all of them
            fixed = NEW if dfa.dead(q) else REF if dfa.full(q) else None
            key = (graph.sender_group(port), fixed or q)
            hit = rows.get(key)
            if hit is None:
                hit = rows[key] = tuple(
                    (BOTH, u) if u in both
                    else (fixed, u) if fixed
                    else (REF if dfa.accepts(dfa.step(q, u)) else NEW, u) if u.is_input
                    else copy(u, q)
                    for u in graph.senders(port)
                )
            return hit

        def copy(node: Node, state: Any) -> Ref:
            key = (node, state)
            hit = memo.get(key)
            if hit is not None:
                return hit
            plan.walked += 1
            if dfa.dead(state):
                result: Ref = (NEW, node)
            elif dfa.full(state):
                result = (REF, node)
            else:
                ports = [Port(node, c) for c in node.channels]
                children = tuple(row(p, dfa.step(state, p)) for p in ports)
                result = _combine(node, children, interned, plan)
            memo[key] = result
            return result

        plan.roots.append(copy(out, dfa.start))

    # Children are interned before parents, so plan.copies is already topologically ordered.
    return plan
