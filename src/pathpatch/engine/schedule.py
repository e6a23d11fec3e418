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

import enum
from collections import defaultdict
from dataclasses import dataclass, field

from ..graph import Graph, Node, Port
from .copies import MIXED, NEW, REF, Mixed, Plan, RunKind
from .prefix import Prefix, prefixes
from .sums import SparseSum

__all__ = [
    "Span",
    "FULL",
    "ROWS",
    "POINT",
    "CachedInput",
    "SummedRow",
    "Extension",
    "RowGroup",
    "StageKey",
    "Stage",
    "Schedule",
    "schedule",
    "narrow_copies",
]


class Span(enum.Enum):
    """The part of the sequence a copy's (or a row's) value covers (see the module doc)."""

    FULL = "full"
    ROWS = "rows"
    POINT = "point"

    __hash__ = object.__hash__  # singletons, compared by identity (as :class:`~.copies.RunKind`)


FULL, ROWS, POINT = Span.FULL, Span.ROWS, Span.POINT


@dataclass(frozen=True)
class CachedInput:
    """An input read from one run's cached input of ``port``, over ``span`` (at ``t`` for POINT)."""

    run: RunKind  # REF or NEW
    port: Port
    span: Span
    t: int | None


@dataclass(frozen=True)
class SummedRow:
    """An input that is row ``index`` of its stage's summed rows of ``span``."""

    span: Span
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


@dataclass(frozen=True)
class Extension:
    """A POINT row that extends an earlier row: row ``row`` of its group sums its base input and
    its tail, then adds the value of row ``parent`` (a row id) minus ``base``, the cached input of
    the parent's port in the row's base run."""

    row: int
    parent: int
    base: CachedInput


@dataclass
class RowGroup:
    """Rows of one span to sum: base input and signed terms."""

    span: Span
    bases: list[CachedInput]  # per row, whose cached input (REF | NEW, port, t) is its base
    ref: SparseSum  # over the node deltas (clean - ablated), per node (per (node, t) for POINT)
    mixed: SparseSum  # over the copy table of the same span
    full_used: list[int] = field(default_factory=list)  # ROWS groups: FULL copies read at the rows
    full: SparseSum | None = None  # over those copies' rows
    extend: list[Extension] = field(default_factory=list)  # POINT rows that extend an earlier row
    keep: dict[int, int] = field(default_factory=dict)  # row here -> its row id, for rows later rows extend


@dataclass(frozen=True)
class StageKey:
    """What the copies of a stage share: the graph ``depth`` of their node, its ``kind`` and their
    ``span``. Stages run in the order of :meth:`order`."""

    depth: int
    kind: str  # the node kind
    span: Span

    def order(self) -> tuple[int, str, str]:
        return self.depth, self.kind, self.span.value


@dataclass
class Stage:
    key: StageKey
    indices: list[int]  # the copies computed here
    channels: list[list[tuple[Source, ...]]]  # per channel, per copy: its inputs (one per key position)
    groups: dict[Span, RowGroup]  # by span


@dataclass
class Schedule:
    span: list[Span]  # of each copy
    slot: list[int]  # index of each copy in its span's table
    counts: dict[Span, int]  # copies per span's table
    stages: list[Stage]


def schedule(plan: Plan, graph: Graph, targets: bool) -> Schedule:
    """The schedule of ``plan`` (cached on it) with or without target rows."""
    cache: dict[bool, Schedule] = plan.__dict__.setdefault("_schedules", {})
    if targets not in cache:
        cache[targets] = _make(plan, graph, targets)
    return cache[targets]


def _make(plan: Plan, graph: Graph, targets: bool) -> Schedule:
    positional = plan.n_pos is not None
    narrow = narrow_copies(plan) if targets and not positional else [False] * len(plan.copies)
    span = [POINT if c.t is not None else ROWS if flag else FULL for c, flag in zip(plan.copies, narrow)]
    slot: list[int] = []
    counts = {FULL: 0, ROWS: 0, POINT: 0}
    for s in span:
        slot.append(counts[s])
        counts[s] += 1
    extends = prefixes(plan) if positional else {}
    parents = {p.parent for p in extends.values()}
    by_stage: dict[StageKey, list[int]] = defaultdict(list)
    for index, copy in enumerate(plan.copies):
        by_stage[StageKey(graph.stage_of(copy.node), copy.node.kind, span[index])].append(index)
    sums = _Sums(plan, graph, span, slot, extends, parents)
    stages = []
    for key in sorted(by_stage, key=StageKey.order):
        indices = by_stage[key]
        channels: list[list[tuple[Source, ...]]] = []
        rows: dict[Span, list[int]] = defaultdict(list)
        seen: dict[tuple[int, Span], SummedRow] = {}
        for ci, channel in enumerate(plan.copies[indices[0]].node.channels):
            row_span = FULL if key.span == ROWS and channel in ("k", "v") else key.span  # keys: every position
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


@dataclass
class _Terms:
    """The signed terms of a sum, gathered row by row."""

    rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    signs: list[float] = field(default_factory=list)

    def add(self, row: int, column: int, sign: float) -> None:
        """Add ``sign * table[column]`` to row ``row`` of the sum."""
        self.rows.append(row)
        self.cols.append(column)
        self.signs.append(sign)

    def sum(self, n_rows: int) -> SparseSum:
        return SparseSum.of(self.rows, self.cols, n_rows, self.signs)


class _Sums:
    """Builds each stage's :class:`RowGroup` s from the plan's rows."""

    def __init__(
        self,
        plan: Plan,
        graph: Graph,
        span: list[Span],
        slot: list[int],
        extends: dict[int, Prefix],
        parents: set[int],
    ) -> None:
        self.plan, self.span, self.slot, self.extends, self.parents = plan, span, slot, extends, parents
        self.row_of = {n: i for i, n in enumerate(n for n in graph.nodes if n.kind != "out")}
        self.n_pos = plan.n_pos or 0

    def column(self, node: Node, t: int | None) -> int:
        """The column of ``node``'s delta (at ``t``) in the node delta table."""
        return self.row_of[node] if t is None else self.row_of[node] * self.n_pos + t

    def group(self, ids: list[int], span: Span) -> RowGroup:
        plan = self.plan
        ref = _Terms()
        same = _Terms()  # copies of the group's span
        wide = _Terms()  # FULL copies read at the rows
        bases: list[CachedInput] = []
        extend: list[Extension] = []
        keep: dict[int, int] = {}
        for r, row_id in enumerate(ids):
            row = plan.rows[row_id]
            prefix = self.extends.get(row_id)
            start = 0 if prefix is None else prefix.length
            children = row.children[start:]
            kinds = [child.kind for child in children]
            n_m = kinds.count(MIXED)
            from_clean = kinds.count(NEW) + 2 * n_m < kinds.count(REF) + n_m
            base = REF if from_clean else NEW
            bases.append(CachedInput(base, row.port, span, row.t))
            if prefix is not None:
                extend.append(
                    Extension(r, prefix.parent, CachedInput(base, plan.rows[prefix.parent].port, span, row.t))
                )
            if row_id in self.parents:
                keep[r] = row_id
            for child in children:
                if isinstance(child, Mixed):
                    index = child.index
                    (same if self.span[index] == span else wide).add(r, self.slot[index], 1.0)
                    if from_clean:
                        copy = plan.copies[index]
                        ref.add(r, self.column(copy.node, copy.t), -1.0)
                elif (child.kind == REF and not from_clean) or (child.kind == NEW and from_clean):
                    ref.add(r, self.column(child.node, child.t), 1.0 if child.kind == REF else -1.0)
        n = len(ids)
        group = RowGroup(span, bases, ref.sum(n), same.sum(n), extend=extend, keep=keep)
        if wide.rows:
            used = sorted(set(wide.cols))
            local = {u: i for i, u in enumerate(used)}
            group.full_used = used
            group.full = SparseSum.of(wide.rows, [local[c] for c in wide.cols], n, wide.signs)
        return group
