"""Planning position-resolved hypotheses: MIXED copies per (node, position) (DESIGN §3-§4).

When a hypothesis names positions, a tree copy is a node *at one position* ``t``: its value is
one vector per example. It reads, per channel, *rows*: the summed input of the channel at one
position. A ``q`` channel, an MLP or ``out`` reads one row at ``t``; a ``k`` or ``v`` channel reads
one row at every key position ``t' <= t``. The walk is memoised on ``(node, t, state)`` and rows on
``(senders, t', state)``; rows and copies are hash-consed by what they read, so copies at
different query positions that see the same keys and values share every row.

Refs are the plan values of :mod:`.copies` with a position: ``Cached(REF | NEW | BOTH, node, t)``
for cached values of one run (BOTH: equal in both) and ``Mixed(MIXED, index)`` for a MIXED copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..graph import Graph, Node, Port
from ..lang.automata import Automaton
from .copies import BOTH, MIXED, NEW, REF, Cached, Mixed, Ref, label_of

__all__ = ["PosRow", "PosCopy", "PosPlan", "make_pos_plan"]

PosRef = Ref  # with its position t set


@dataclass(frozen=True)
class PosRow:
    """The summed input of ``port`` at position ``t``: one child per sender of ``port`` (same order)."""

    port: Port
    t: int
    children: tuple[PosRef, ...]

    @property
    def label(self) -> str:
        """REF / NEW / BOTH if the row is a cached input of that run, else M (needs a sum)."""
        return label_of({c.kind for c in self.children})


@dataclass(frozen=True)
class PosCopy:
    """A MIXED copy of ``node`` at position ``t``; per channel, the ids of the rows it reads."""

    node: Node
    t: int
    rows: tuple[tuple[int, ...], ...]


@dataclass
class PosPlan:
    """Rows and MIXED copies (topologically ordered) and, per hypothesis, one root per position
    of ``at``."""

    graph: Graph
    n_pos: int
    at: tuple[int, ...]  # the positions whose logits are computed (one root each)
    rows: list[PosRow] = field(default_factory=list)
    copies: list[PosCopy] = field(default_factory=list)
    roots: list[tuple[PosRef, ...]] = field(default_factory=list)
    walked: int = 0

    def channel_label(self, copy: PosCopy, channel: int) -> str:
        return label_of({self.rows[r].label for r in copy.rows[channel]})

    def copies_per_node(self) -> dict[Node, int]:
        counts: dict[Node, int] = {}
        for c in self.copies:
            counts[c.node] = counts.get(c.node, 0) + 1
        return counts


def make_pos_plan(
    graph: Graph,
    automata: Sequence[Automaton],
    n_pos: int,
    both: frozenset[Node] = frozenset(),
    at: Sequence[int] | None = None,
) -> PosPlan:
    """Find every row and MIXED copy that ``automata`` (one per hypothesis, built with a position
    context for ``n_pos`` positions) need for the logits at positions ``at`` (default: all);
    ``both``: inputs equal in the two runs."""
    plan = PosPlan(graph, n_pos, tuple(range(n_pos)) if at is None else tuple(sorted(set(at))))
    row_ids: dict[Any, int] = {}
    copy_ids: dict[Any, int] = {}

    def intern_row(port: Port, t: int, children: tuple[PosRef, ...]) -> int:
        key = (graph.sender_group(port), t, children)
        index = row_ids.get(key)
        if index is None:
            index = row_ids[key] = len(plan.rows)
            plan.rows.append(PosRow(port, t, children))
        return index

    for dfa in automata:
        memo: dict[tuple[Node, int, Any], PosRef] = {}
        rows: dict[tuple[int, int, Any], int] = {}

        def row(port: Port, t: int, q: Any) -> int:
            # every dead (full) state gives the same all-NEW (all-REF) row: one key for all of them
            below = graph.stage_of(port.node) - 1
            fixed = NEW if dfa.dead_at(q, below) else REF if dfa.full_at(q, below) else None
            key = (graph.sender_group(port), t, fixed or q)
            hit = rows.get(key)
            if hit is None:
                children = tuple(
                    Cached(BOTH, u, t) if u in both
                    else Cached(fixed, u, t) if fixed
                    else Cached(REF if dfa.accepts(dfa.step(q, (u, t))) else NEW, u, t) if u.is_input
                    else copy(u, t, q)
                    for u in graph.senders(port)
                )
                hit = rows[key] = intern_row(port, t, children)
            return hit

        def copy(node: Node, t: int, state: Any) -> PosRef:
            key = (node, t, state)
            hit = memo.get(key)
            if hit is not None:
                return hit
            plan.walked += 1
            stage = graph.stage_of(node)
            if dfa.dead_at(state, stage):
                result: PosRef = Cached(NEW, node, t)
            elif dfa.full_at(state, stage):
                result = Cached(REF, node, t)
            else:
                channels = []
                for channel in node.channels:
                    port = Port(node, channel)
                    q = dfa.step(state, (port, t))
                    channels.append(tuple(row(port, u, q) for u in graph.sender_positions(port, t)))
                result = _combine(plan, node, t, tuple(channels), copy_ids)
            memo[key] = result
            return result

        plan.roots.append(tuple(copy(Node("out"), t, dfa.start) for t in plan.at))
    return plan


def _combine(plan: PosPlan, node: Node, t: int, channels: tuple[tuple[int, ...], ...], ids: dict[Any, int]) -> PosRef:
    label = label_of({plan.rows[r].label for rows in channels for r in rows})
    if label != MIXED:
        return Cached(label, node, t)
    key = (node, t, channels)
    index = ids.get(key)
    if index is None:
        index = ids[key] = len(plan.copies)
        plan.copies.append(PosCopy(node, t, channels))
    return Mixed(MIXED, index)
