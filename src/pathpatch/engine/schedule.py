"""The schedule of a plan's execution: pure bookkeeping, derived once per plan and reused per batch.

Every copy has a *span*, the part of the sequence its value covers: ``FULL`` (every position,
``[batch, pos, d]``: a position-free copy), ``ROWS`` (the target rows, ``[row, d]``: a
position-free copy read only where the metric reads, :func:`narrow_copies`) or ``POINT`` (one
position, ``[batch, d]``: a position-resolved copy). Rows (summed channel inputs) have spans too.

For each stage (one kind of node at one depth, one span): the copies computed there; per channel
and copy, where each input comes from (a cached run's input, or a summed row; a ``POINT`` head's
k and v read one input per key position); and the rows to sum, deduplicated, each as signed sums
over the delta tables (:mod:`.sums`):

    row = ablated input + Σ_REF (clean - ablated) + Σ_M (mixed - ablated)
        = clean input - Σ_NEW (clean - ablated) + Σ_M ((mixed - ablated) - (clean - ablated))

whichever has fewer terms (the second when few children differ from the clean run, as in
sender→receiver patching). A ``POINT`` row that extends an earlier row (:mod:`.prefix`) sums only
its tail and adds the earlier row's value minus that row's base input.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..graph import Graph, Node, Port
from .copies import MIXED, NEW, REF, Mixed, Plan
from .prefix import prefixes
from .sums import SparseSum

__all__ = [
    "FULL",
    "ROWS",
    "POINT",
    "CachedInput",
    "SummedRow",
    "RowGroup",
    "Stage",
    "Schedule",
    "schedule",
    "narrow_copies",
]

FULL, ROWS, POINT = "full", "rows", "point"


class CachedInput(NamedTuple):
    """An input read from one run's cached input of ``port``, over ``span`` (at ``t`` for POINT)."""

    run: str  # REF or NEW
    port: Port
    span: str
    t: int | None


class SummedRow(NamedTuple):
    """An input that is row ``index`` of its stage's summed rows of ``span``."""

    span: str
    index: int


Source = CachedInput | SummedRow


def narrow_copies(plan: Plan) -> list[bool]:
    """For each copy of a position-free plan: is it read only at the target rows (an ``out``
    copy, or read only by such copies, through q for heads)?"""
    narrow = [True] * len(plan.copies)
    for i in reversed(range(len(plan.copies))):  # readers come after what they read
        copy = plan.copies[i]
        for ci, channel in enumerate(copy.node.channels):
            children = plan.children(copy, ci)
            if not (narrow[i] and channel not in ("k", "v")):
                for child in children:
                    if isinstance(child, Mixed):
                        narrow[child.index] = False
    return narrow


@dataclass
class RowGroup:
    """Rows of one span to sum: base input and signed terms."""

    span: str
    bases: list[tuple[str, Port, int | None]]  # (REF | NEW, port, t): whose cached input is the base
    ref: SparseSum  # over the node deltas (clean - ablated), per node (per (node, t) for POINT)
    mixed: SparseSum  # over the copy table of the same span
    full_used: list[int] = field(default_factory=list)  # ROWS groups: FULL copies read at the rows
    full: SparseSum | None = None  # over those copies' rows
    extend: list[tuple[int, int, tuple[str, Port, int | None]]] = field(default_factory=list)
    # POINT rows that extend an earlier row: (row here, the earlier row's id, its base input)
    keep: list[tuple[int, int]] = field(default_factory=list)  # (row here, row id) that later rows extend


@dataclass
class Stage:
    key: tuple[int, str, str]  # (depth, node kind, span)
    indices: list[int]  # the copies computed here
    channels: list[list[tuple[Source, ...]]]  # per channel, per copy: its inputs (one per key position)
    groups: dict[str, RowGroup]  # by span


@dataclass
class Schedule:
    span: list[str]  # of each copy
    slot: list[int]  # index of each copy in its span's table
    counts: dict[str, int]  # copies per span's table
    stages: list[Stage]


def schedule(plan: Plan, graph: Graph, targets: bool) -> Schedule:
    """The schedule of ``plan`` (cached on it) with or without target rows."""
    cache: dict[Any, Schedule] = plan.__dict__.setdefault("_schedules", {})
    if targets not in cache:
        cache[targets] = _make(plan, graph, targets)
    return cache[targets]


def _make(plan: Plan, graph: Graph, targets: bool) -> Schedule:
    positional = plan.n_pos is not None
    narrow = narrow_copies(plan) if targets and not positional else [False] * len(plan.copies)
    span = [POINT if c.t is not None else ROWS if flag else FULL for c, flag in zip(plan.copies, narrow)]
    slot, counts = [], {FULL: 0, ROWS: 0, POINT: 0}
    for s in span:
        slot.append(counts[s])
        counts[s] += 1
    extends = prefixes(plan) if positional else {}
    parents = {p for p, _ in extends.values()}
    by_stage: dict[tuple[int, str, str], list[int]] = defaultdict(list)
    for index, copy in enumerate(plan.copies):
        by_stage[(graph.stage_of(copy.node), copy.node.kind, span[index])].append(index)
    sums = _Sums(plan, graph, span, slot, extends, parents)
    stages = []
    for key in sorted(by_stage):
        indices = by_stage[key]
        channels: list[list[tuple[Source, ...]]] = []
        rows: dict[str, list[int]] = defaultdict(list)
        seen: dict[tuple[int, str], SummedRow] = {}
        for ci, channel in enumerate(plan.copies[indices[0]].node.channels):
            row_span = FULL if key[2] == ROWS and channel in ("k", "v") else key[2]  # keys: every position
            per_copy = []
            for index in indices:
                port = Port(plan.copies[index].node, channel)
                sources: list[Source] = []
                for r in plan.copies[index].rows[ci]:
                    row = plan.rows[r]
                    if row.label != MIXED:
                        sources.append(CachedInput(NEW if row.label == NEW else REF, port, row_span, row.t))
                        continue
                    # one interned row: the same children, the same senders, so the same base input
                    if (r, row_span) not in seen:
                        seen[(r, row_span)] = SummedRow(row_span, len(rows[row_span]))
                        rows[row_span].append(r)
                    sources.append(seen[(r, row_span)])
                per_copy.append(tuple(sources))
            channels.append(per_copy)
        stages.append(Stage(key, indices, channels, {s: sums.group(ids, s) for s, ids in rows.items()}))
    return Schedule(span, slot, counts, stages)


def _term(terms: tuple[list[int], list[int], list[float]], row: int, column: int, sign: float) -> None:
    """Add ``sign * table[column]`` to row ``row`` of a sum."""
    terms[0].append(row)
    terms[1].append(column)
    terms[2].append(sign)


class _Sums:
    """Builds each stage's :class:`RowGroup` s from the plan's rows."""

    def __init__(
        self,
        plan: Plan,
        graph: Graph,
        span: list[str],
        slot: list[int],
        extends: dict[int, tuple[int, int]],
        parents: set[int],
    ) -> None:
        self.plan, self.span, self.slot, self.extends, self.parents = plan, span, slot, extends, parents
        self.row_of = {n: i for i, n in enumerate(n for n in graph.nodes if n.kind != "out")}
        self.n_pos = plan.n_pos or 0

    def column(self, node: Node, t: int | None) -> int:
        """The column of ``node``'s delta (at ``t``) in the node delta table."""
        return self.row_of[node] if t is None else self.row_of[node] * self.n_pos + t

    def group(self, ids: list[int], span: str) -> RowGroup:
        plan = self.plan
        ref: tuple[list[int], list[int], list[float]] = ([], [], [])
        same: tuple[list[int], list[int], list[float]] = ([], [], [])  # copies of the group's span
        wide: tuple[list[int], list[int], list[float]] = ([], [], [])  # FULL copies read at the rows
        bases: list[tuple[str, Port, int | None]] = []
        extend: list[tuple[int, int, tuple[str, Port, int | None]]] = []
        keep: list[tuple[int, int]] = []
        for r, row_id in enumerate(ids):
            row = plan.rows[row_id]
            parent, start = self.extends.get(row_id, (None, 0))
            children = row.children[start:]
            kinds = [child.kind for child in children]
            n_m = kinds.count(MIXED)
            from_clean = kinds.count(NEW) + 2 * n_m < kinds.count(REF) + n_m
            base = REF if from_clean else NEW
            bases.append((base, row.port, row.t))
            if parent is not None:
                extend.append((r, parent, (base, plan.rows[parent].port, row.t)))
            if row_id in self.parents:
                keep.append((r, row_id))
            for child in children:
                if isinstance(child, Mixed):
                    index = child.index
                    _term(same if self.span[index] == span else wide, r, self.slot[index], 1.0)
                    if from_clean:
                        copy = plan.copies[index]
                        _term(ref, r, self.column(copy.node, copy.t), -1.0)
                elif (child.kind == REF and not from_clean) or (child.kind == NEW and from_clean):
                    _term(ref, r, self.column(child.node, child.t), 1.0 if child.kind == REF else -1.0)
        n = len(ids)
        group = RowGroup(span, bases, SparseSum.of(ref, n), SparseSum.of(same, n), extend=extend, keep=keep)
        if wide[0]:
            used = sorted(set(wide[1]))
            local = {u: i for i, u in enumerate(used)}
            group.full_used = used
            group.full = SparseSum.of((wide[0], [local[c] for c in wide[1]], wide[2]), n)
        return group
