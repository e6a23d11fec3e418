"""The values a plan is made of: cached leaves, MIXED copies, rows, and the plan itself.

A tree copy's value is named by a *ref*: ``Cached(REF, node)`` / ``Cached(NEW, node)`` when its
whole subtree reads x_ref / x_new (a cached value of the clean / ablated run), ``Cached(BOTH, node)``
for an input equal in both runs, or ``Mixed(i)`` for the MIXED copy ``i`` of the plan,
computed by the engine. Position-resolved plans name one position ``t`` of a node
(``Cached(REF, node, t)``); position-free ones leave ``t`` None (every position). A *row*
is what one port of a copy reads: one ref per sender of the port, in the graph's sender order.
:class:`Builder` interns rows by content and MIXED copies by ``(node, t, row ids)`` across all
the hypotheses of a plan, so equal copies are computed once.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from ..graph import Graph, Node, Port
from ..lang.nodecut import Cut

__all__ = [
    "RunKind",
    "Ref",
    "Cached",
    "Mixed",
    "Row",
    "MixedCopy",
    "Plan",
    "Builder",
    "label_of",
    "REF",
    "NEW",
    "BOTH",
    "MIXED",
]


class RunKind(enum.Enum):
    """Which run a value comes from: REF (the clean run on x_ref), NEW (the ablated run), BOTH (an
    input equal in both runs) or MIXED (a copy the engine computes). Members are singletons,
    compared and hashed by identity: interning rows and copies depends on equality only, never on
    hash values or set order, and an identity hash is as cheap as a string's."""

    REF = "R"
    NEW = "N"
    BOTH = "B"
    MIXED = "M"

    __hash__ = object.__hash__


REF, NEW, BOTH, MIXED = RunKind.REF, RunKind.NEW, RunKind.BOTH, RunKind.MIXED


@dataclass(frozen=True, slots=True)
class Cached:
    """A value the engine reads from a cached run: ``kind`` REF (clean), NEW (ablated) or BOTH."""

    kind: RunKind
    node: Node
    t: int | None = None  # the position, in position-resolved plans (None: every position)


@dataclass(frozen=True, slots=True)
class Mixed:
    """A MIXED copy, computed by the engine: ``Plan.copies[index]``."""

    index: int
    kind: ClassVar[RunKind] = MIXED


Ref = Cached | Mixed


def label_of(kinds: set[RunKind] | frozenset[RunKind]) -> RunKind:
    """The label of a row or copy whose children have ``kinds``: REF / NEW if it reads only cached
    values of that run (BOTH counts for both), BOTH if only inputs equal in both, else MIXED."""
    kinds = set(kinds) - {BOTH}
    if not kinds:
        return BOTH
    return kinds.pop() if len(kinds) == 1 and MIXED not in kinds else MIXED


@dataclass(frozen=True)
class Row:
    """The summed input of ``port`` at position ``t`` (None: every position): one child per
    sender of the port, in the graph's order. Ports with the same senders share rows."""

    port: Port
    t: int | None
    children: tuple[Ref, ...]
    label: RunKind  # label_of the children's kinds: REF / NEW / BOTH (a cached input), or MIXED


@dataclass(frozen=True)
class MixedCopy:
    """A MIXED copy of ``node`` at position ``t`` (None: every position). Per channel of the node,
    the ids of the rows it reads: one (a position-free copy; a q channel, an MLP or ``out``), or
    one per key position ``0..t`` (a k or v channel of a position-resolved head). ``labels``: per
    channel, REF / NEW / BOTH if the channel reads only cached inputs of that run, else MIXED."""

    node: Node
    t: int | None
    rows: tuple[tuple[int, ...], ...]
    labels: tuple[RunKind, ...]

    def channel_label(self, i: int) -> RunKind:
        return self.labels[i]

    def pattern_label(self) -> RunKind | None:
        """For a head copy: REF (NEW) when its q and k channels read only cached inputs of the clean
        (ablated) run, BOTH counting for both, so that run's attention pattern is this copy's; else None."""
        qk = {self.labels[0], self.labels[1]} - {BOTH}
        return REF if qk <= {REF} else NEW if qk == {NEW} else None


@dataclass
class Plan:
    """Rows and MIXED copies (topologically ordered) and, per hypothesis, its root copy at each
    position of ``at`` (position-free plans: ``at == (None,)``, one root over every position)."""

    graph: Graph
    n_pos: int | None = None  # the sequence length position-resolved plans were made for
    at: tuple[int | None, ...] = (None,)
    rows: list[Row] = field(default_factory=list)
    copies: list[MixedCopy] = field(default_factory=list)
    roots: list[tuple[Ref, ...]] = field(default_factory=list)
    walked: int = 0  # number of (node, position, state) triples visited
    # hypotheses that are node or edge cuts (position-resolved plans) or receiver cuts (position-free): run
    # as patched forwards, not walked; their roots are empty (:mod:`pathpatch.engine.cuts`)
    cuts: dict[int, Cut] = field(default_factory=dict)

    def children(self, copy: MixedCopy, channel: int) -> tuple[Ref, ...]:
        """The children a position-free copy reads through ``channel`` (its one row)."""
        return self.rows[copy.rows[channel][0]].children

    def restrict(self, hypotheses: Sequence[int]) -> Plan:
        """The plan of some of its hypotheses (indices into ``roots``, in the order given): the rows
        and copies their roots reach, renumbered in the same topological order. It holds the copies
        planning those hypotheses alone would find, without walking again."""
        copies: set[int] = set()
        rows: set[int] = set()
        todo = [r.index for h in hypotheses for r in self.roots[h] if isinstance(r, Mixed)]
        while todo:
            i = todo.pop()
            if i in copies:
                continue
            copies.add(i)
            for r in (r for ids in self.copies[i].rows for r in ids if r not in rows):
                rows.add(r)
                todo.extend(c.index for c in self.rows[r].children if isinstance(c, Mixed))
        copy_id = {old: new for new, old in enumerate(sorted(copies))}
        row_id = {old: new for new, old in enumerate(sorted(rows))}

        def ref(x: Ref) -> Ref:
            return Mixed(copy_id[x.index]) if isinstance(x, Mixed) else x

        return Plan(
            self.graph,
            self.n_pos,
            self.at,
            [replace(self.rows[r], children=tuple(ref(c) for c in self.rows[r].children)) for r in sorted(rows)],
            [
                replace(self.copies[i], rows=tuple(tuple(row_id[r] for r in ids) for ids in self.copies[i].rows))
                for i in sorted(copies)
            ],
            [tuple(ref(x) for x in self.roots[h]) for h in hypotheses],
            cuts={k: self.cuts[h] for k, h in enumerate(hypotheses) if h in self.cuts},
        )

    def copies_per_node(self) -> dict[Node, int]:
        counts: dict[Node, int] = {}
        for c in self.copies:
            counts[c.node] = counts.get(c.node, 0) + 1
        return counts


class Builder:
    """Interns rows (by content) and MIXED copies (by node, position and row ids) across the
    hypotheses of one plan, so that equal copies are computed once."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.row_ids: dict[Hashable, int] = {}
        self.copy_ids: dict[tuple[Node, int | None, tuple[tuple[int, ...], ...]], int] = {}

    def row(self, port: Port, t: int | None, children: tuple[Ref, ...], key: Hashable | None = None) -> int:
        """The id of the row ``children`` of ``port`` at ``t``, interned by content (which names
        the senders, hence the input, and the position), or by ``key`` if given: a short name the
        caller guarantees determines the content (hashing a long row costs more)."""
        name = children if key is None else key
        index = self.row_ids.get(name)
        if index is None:
            index = self.row_ids[name] = len(self.plan.rows)
            self.plan.rows.append(Row(port, t, children, label_of({c.kind for c in children})))
        return index

    def copy(self, node: Node, t: int | None, channels: tuple[tuple[int, ...], ...]) -> Ref:
        """The ref of the copy of ``node`` at ``t`` reading ``channels`` (row ids per channel):
        a cached value if every row is one, else the interned MIXED copy."""
        rows = self.plan.rows
        labels = tuple(label_of({rows[r].label for r in ids}) for ids in channels)
        label = label_of(set(labels))
        if label != MIXED:
            return Cached(label, node, t)
        key = (node, t, channels)
        index = self.copy_ids.get(key)
        if index is None:
            index = self.copy_ids[key] = len(self.plan.copies)
            self.plan.copies.append(MixedCopy(node, t, channels, labels))
        return Mixed(index)
