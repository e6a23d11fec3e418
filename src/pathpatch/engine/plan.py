"""Planning: which tree copies are MIXED, found without building the tree (docs/design.md §3-§4, step 2).

One planner for position-free and position-resolved hypotheses. A tree copy is a node at a
position ``t``, or at every position at once (``t`` None: hypotheses that name no position). Its
value depends only on the node, ``t`` and the automaton state reached by reading the path suffix
from it to ``out``; better, only on the states reached after each of its ports. So the walk is
memoised on ``(node, t, state)`` and on ``(node, t, states after its ports)``, and it stops where
the automaton is decided for every letter the graph still has below (``dead_at`` / ``full_at``),
for the copy's own state or for the states after all of its ports (then its rows, one per key
position for k and v, are not listed: the walk costs O(positions) per undecided node, not O(T²)).

A copy reads, per channel, *rows*: the summed input of the channel at one position. A position-
free copy reads one row per channel; at a position ``t``, a ``q`` channel, an MLP or ``out`` reads
one row at ``t`` and a ``k`` or ``v`` channel one row at every key position ``t' <= t``. Rows are
memoised on ``(senders, t', state)`` and interned by content across hypotheses, copies by
``(node, t, row ids)`` (:class:`~.copies.Builder`): REF (the whole subtree is x_ref), NEW (all
x_new), BOTH (inputs equal in both runs) or MIXED. Only MIXED copies are computed, once each,
however many hypotheses, suffixes and query positions share them.

Edge-set hypotheses (subgraphs, edges used or avoided: :mod:`~pathpatch.lang.edges`) need no
walk at all: each node has at most one copy that matters, planned directly (:mod:`.edgeplan`).
Position-resolved hypotheses that are node cuts (:mod:`~pathpatch.lang.nodecut`: ``through(v@t)``,
``residual_at(l, t)``, complements, unions at one stage) or edge cuts (positional edges into one
receiver: :class:`~pathpatch.lang.nodecut.EdgeCut`, a sender scan's row at a position), as their
compiled automaton says, are not walked either: the plan records the cut, and the executor runs it
as a patched forward (:mod:`.cuts`); so are position-free edge-set hypotheses that drop only edges
into one node (sender scans: :class:`~pathpatch.lang.nodecut.ReceiverCut`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..graph import Graph, Node, Port
from ..lang.automata import Automaton, SubgraphAutomaton
from ..lang.nodecut import Cut, any_cut, receiver_cut
from .copies import BOTH, MIXED, NEW, REF, Builder, Cached, MixedCopy, Plan, Ref
from .edgeplan import plan_dropped, plan_kept

__all__ = ["Ref", "MixedCopy", "Plan", "make_plan", "REF", "NEW", "BOTH"]


def make_plan(
    graph: Graph,
    automata: Sequence[Automaton],
    both: frozenset[Node] = frozenset(),
    n_pos: int | None = None,
    at: Sequence[int] | None = None,
) -> Plan:
    """Find every row and MIXED copy needed by ``automata`` (one per hypothesis) on ``graph``.

    ``both``: input nodes whose value is the same in the clean and the ablated run. ``n_pos``:
    plan position-resolved copies (for automata built with a position context of ``n_pos``
    positions) for the logits at positions ``at`` (default: all); None: position-free copies.
    """
    if n_pos is None:
        plan = Plan(graph)
    else:
        plan = Plan(graph, n_pos, tuple(range(n_pos)) if at is None else tuple(sorted(set(at))))
    builder = Builder(plan)
    for h, dfa in enumerate(automata):
        cut: Cut | None = any_cut(dfa, graph) if n_pos is not None else receiver_cut(dfa)
        if cut is not None:  # one patched forward, no walk (engine/cuts.py)
            plan.cuts[h] = cut
            plan.roots.append(())
        elif isinstance(dfa, SubgraphAutomaton) and n_pos is None:
            plan_edges = plan_kept if dfa.kept_form else plan_dropped
            plan.roots.append((plan_edges(graph, dfa, both, builder),))
        else:
            plan.roots.append(_walk(graph, dfa, both, builder))
    # Children are interned before parents, so plan.copies is already topologically ordered.
    return plan


def _walk(graph: Graph, dfa: Automaton, both: frozenset[Node], builder: Builder) -> tuple[Ref, ...]:
    """The root copies of one hypothesis (one per position of the plan's ``at``), by a memoised
    walk of the graph × position × automaton product."""
    plan = builder.plan
    memo: dict[tuple[Node, int | None, Any], Ref] = {}
    by_steps: dict[tuple[Node, int | None, tuple[Any, ...]], Ref] = {}
    rows: dict[tuple[int, int | None, Any], int] = {}  # ports with the same senders share rows

    def letter(x: Node | Port, t: int | None) -> Any:
        return x if t is None else (x, t)

    def _not_both(port: Port) -> bool:
        return any(u not in both for u in graph.senders(port))

    def row(port: Port, t: int | None, q: Any) -> int:
        # every dead (full) state gives the same all-NEW (all-REF) row: one key for all of them
        below = graph.stage_of(port.node) - 1
        fixed = NEW if dfa.dead_at(q, below) else REF if dfa.full_at(q, below) else None
        key = (graph.sender_group(port), t, fixed or q)
        hit = rows.get(key)
        if hit is None:
            hit = rows[key] = builder.row(
                port,
                t,
                tuple(
                    Cached(BOTH, u, t)
                    if u in both
                    else Cached(fixed, u, t)
                    if fixed
                    else Cached(REF if dfa.accepts(dfa.step(q, letter(u, t))) else NEW, u, t)
                    if u.is_input
                    else copy(u, t, q)
                    for u in graph.senders(port)
                ),
            )
        return hit

    def copy(node: Node, t: int | None, state: Any) -> Ref:
        key = (node, t, state)
        hit = memo.get(key)
        if hit is not None:
            return hit
        plan.walked += 1
        stage = graph.stage_of(node)
        if dfa.dead_at(state, stage):
            result: Ref = Cached(NEW, node, t)
        elif dfa.full_at(state, stage):
            result = Cached(REF, node, t)
        else:
            ports = [Port(node, c) for c in node.channels]
            steps = tuple(dfa.step(state, letter(p, t)) for p in ports)
            shared = by_steps.get((node, t, steps))
            if shared is None:
                # every row one run's cached input (at every key position): the copy is that run's
                # value, without listing its rows (a k/v channel has one per key position)
                fixed = {
                    NEW if dfa.dead_at(q, stage - 1) else REF if dfa.full_at(q, stage - 1) else MIXED for q in steps
                }
                if len(fixed) == 1 and MIXED not in fixed and all(_not_both(p) for p in ports):
                    shared = by_steps[(node, t, steps)] = Cached(fixed.pop(), node, t)
            if shared is None:
                channels = tuple(tuple(row(p, u, q) for u in _positions(p, t)) for p, q in zip(ports, steps))
                shared = by_steps[(node, t, steps)] = builder.copy(node, t, channels)
            result = shared
        memo[key] = result
        return result

    return tuple(copy(Node("out"), t, dfa.start) for t in plan.at)


def _positions(port: Port, t: int | None) -> tuple[int | None, ...] | range:
    """The positions of the rows a port of a copy at ``t`` reads (docs/design.md §4)."""
    return (None,) if t is None else Graph.sender_positions(port, t)
