"""The values a plan is made of: cached leaves, MIXED copies, rows, and the plan itself.

A tree copy's value is named by a *ref*: ``Cached(REF, node)`` / ``Cached(NEW, node)`` when its
whole subtree reads x_ref / x_new (a cached value of the clean / ablated run), ``Cached(BOTH, node)``
for an input equal in both runs, or ``Mixed(MIXED, i)`` for the MIXED copy ``i`` of the plan,
computed by the engine. Position-resolved plans name one position ``t`` of a node
(``Cached(REF, node, t)``); position-free ones leave ``t`` None (every position). A *row*
is what one port of a copy reads: one ref per sender of the port, in the graph's sender order.
:class:`Builder` interns rows by content and MIXED copies by ``(node, row ids)`` across all the
hypotheses of a plan, so equal copies are computed once.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import NamedTuple, Union

from ..graph import Graph, Node

__all__ = ["Ref", "Cached", "Mixed", "MixedCopy", "Plan", "Builder", "label_of", "REF", "NEW", "BOTH", "MIXED"]

REF, NEW, BOTH, MIXED = "R", "N", "B", "M"


class Cached(NamedTuple):
    """A value the engine reads from a cached run: ``kind`` REF (clean), NEW (ablated) or BOTH."""

    kind: str
    node: Node
    t: int | None = None  # the position, in position-resolved plans (None: every position)


class Mixed(NamedTuple):
    """A MIXED copy, computed by the engine: ``Plan.copies[index]`` (``kind`` is MIXED)."""

    kind: str
    index: int


Ref = Union[Cached, Mixed]


def label_of(kinds: set[str] | frozenset[str]) -> str:
    """The label of a row or copy whose children have ``kinds``: REF / NEW if it reads only cached
    values of that run (BOTH counts for both), BOTH if only inputs equal in both, else MIXED."""
    kinds = set(kinds) - {BOTH}
    if not kinds:
        return BOTH
    return kinds.pop() if len(kinds) == 1 and MIXED not in kinds else MIXED


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
        return label_of({child.kind for child in self.children[i]})


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


class Builder:
    """Interns rows (by content) and MIXED copies (by node and row ids) across hypotheses."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.row_ids: dict[Hashable, int] = {}
        self.rows: list[tuple[tuple[Ref, ...], str]] = []  # the interned row and its label
        self.copy_ids: dict[tuple[Node, tuple[int, ...]], int] = {}

    def row(self, children: tuple[Ref, ...], key: Hashable | None = None) -> int:
        """The id of the row ``children``, interned by content, or by ``key`` if given: a short
        name the caller guarantees determines the content (hashing a long row costs more)."""
        index = self.row_ids.get(children if key is None else key)  # type: ignore[call-overload]
        if index is None:
            index = self.row_ids[children if key is None else key] = len(self.rows)  # type: ignore[index]
            self.rows.append((children, label_of({c.kind for c in children})))
        return index

    def copy(self, node: Node, rows: tuple[int, ...]) -> Ref:
        labels = tuple(self.rows[r][1] for r in rows)
        kinds = set(labels)
        if kinds <= {REF, BOTH}:
            return Cached(REF if REF in kinds else BOTH, node)
        if kinds <= {NEW, BOTH}:
            return Cached(NEW, node)
        key = (node, rows)
        index = self.copy_ids.get(key)
        if index is None:
            index = self.copy_ids[key] = len(self.plan.copies)
            self.plan.copies.append(MixedCopy(node, tuple(self.rows[r][0] for r in rows), labels))
        return Mixed(MIXED, index)
