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

Edge-set hypotheses (subgraphs, edges used or avoided: :mod:`~pathpatch.lang.edges`) need no
walk at all: each node has at most one copy that matters, planned directly (:mod:`.edgeplan`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..graph import Graph, Node, Port
from ..lang.automata import Automaton, SubgraphAutomaton
from .copies import BOTH, NEW, REF, Builder, Cached, MixedCopy, Plan, Ref
from .edgeplan import plan_dropped, plan_kept

__all__ = ["Ref", "MixedCopy", "Plan", "make_plan", "REF", "NEW", "BOTH"]


def make_plan(graph: Graph, automata: Sequence[Automaton], both: frozenset[Node] = frozenset()) -> Plan:
    """Find every MIXED copy needed by ``automata`` (one per hypothesis) on ``graph``.

    ``both``: input nodes whose value is the same in the clean and the ablated run.
    """
    plan = Plan(graph)
    builder = Builder(plan)
    for dfa in automata:
        if isinstance(dfa, SubgraphAutomaton):
            plan_edges = plan_kept if dfa.kept_form else plan_dropped
            plan.roots.append(plan_edges(graph, dfa, both, builder))
        else:
            plan.roots.append(_walk(graph, dfa, both, builder))
    # Children are interned before parents, so plan.copies is already topologically ordered.
    return plan


def _walk(graph: Graph, dfa: Automaton, both: frozenset[Node], builder: Builder) -> Ref:
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
                Cached(BOTH, u) if u in both
                else Cached(fixed, u) if fixed
                else Cached(REF if dfa.accepts(dfa.step(q, u)) else NEW, u) if u.is_input
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
            result: Ref = Cached(NEW, node)
        elif dfa.full_at(state, stage):
            result = Cached(REF, node)
        else:
            ports = [Port(node, c) for c in node.channels]
            steps = tuple(dfa.step(state, p) for p in ports)
            result = by_steps.get((node, steps))  # type: ignore[assignment]
            if result is None:
                result = by_steps[(node, steps)] = builder.copy(node, tuple(row(p, q) for p, q in zip(ports, steps)))
        memo[key] = result
        return result

    return copy(Node("out"), dfa.start)
