"""The schedule of a plan's execution: pure bookkeeping, derived once per plan and reused per batch.

For each stage (one kind of node at one depth, full width or target rows only): the copies
computed there; per channel and copy, where the input comes from (a cached run's input, or a
summed row); and the rows to sum, deduplicated (rows with the same children and the same base
input are summed once), each as signed sums over the delta tables (:mod:`.sums`).

A row is ``ablated input + Σ_REF (clean - ablated) + Σ_M (mixed - ablated)``, or equally
``clean input - Σ_NEW (clean - ablated) + Σ_M ((mixed - ablated) - (clean - ablated))``; each row
takes the form with fewer terms (the second when few children differ from the clean run, as in
sender→receiver patching).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..graph import Graph, Node, Port
from .copies import MIXED, NEW, REF, Mixed, Plan
from .sums import SparseSum

__all__ = ["CachedInput", "SummedRow", "RowGroup", "Stage", "Schedule", "schedule", "narrow_copies"]


class CachedInput(NamedTuple):
    """A channel that reads one run's cached input of ``port`` (at the target rows if ``row_only``)."""

    run: str  # REF or NEW
    port: Port
    row_only: bool


class SummedRow(NamedTuple):
    """A channel that reads row ``index`` of its stage's summed rows (row-only or full width)."""

    row_only: bool
    index: int


def narrow_copies(plan: Plan) -> list[bool]:
    """For each copy: is it read only at the target rows (an ``out`` copy, or read only by such
    copies, through q for heads)?"""
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
    """Rows to sum (all full width, or all at the target rows): base input and signed terms."""

    bases: list[tuple[str, Port]]  # (REF | NEW, port): whose cached input is the base
    ref: SparseSum  # over the node deltas (clean - ablated)
    mixed: SparseSum  # over the same-width copy table
    full_used: list[int] = field(default_factory=list)  # row-only groups: full copies read at the rows
    full: SparseSum | None = None  # over those copies' rows


@dataclass
class Stage:
    key: tuple[int, str, bool]  # (depth, node kind, at target rows only)
    indices: list[int]  # the copies computed here
    channels: list[list[CachedInput | SummedRow]]  # per channel, per copy: where its input comes from
    groups: dict[bool, RowGroup]  # by row-only flag


@dataclass
class Schedule:
    narrow: list[bool]
    slot: list[int]  # index of each copy in its table (full or row-only)
    counts: tuple[int, int]  # copies in the full and the row-only table
    stages: list[Stage]


def schedule(plan: Plan, graph: Graph, targets: bool) -> Schedule:
    """The schedule of ``plan`` (cached on it) with or without target rows."""
    cache: dict[Any, Schedule] = plan.__dict__.setdefault("_schedules", {})
    if targets not in cache:
        cache[targets] = _make(plan, graph, targets)
    return cache[targets]


def _make(plan: Plan, graph: Graph, targets: bool) -> Schedule:
    narrow = narrow_copies(plan) if targets else [False] * len(plan.copies)
    slot, counts = [], [0, 0]
    for flag in narrow:
        slot.append(counts[flag])
        counts[flag] += 1
    row_of = {n: i for i, n in enumerate(n for n in graph.nodes if n.kind != "out")}
    by_stage: dict[tuple[int, str, bool], list[int]] = defaultdict(list)
    for index, copy in enumerate(plan.copies):
        by_stage[(graph.stage_of(copy.node), copy.node.kind, narrow[index])].append(index)
    stages = []
    for key in sorted(by_stage):
        indices = by_stage[key]
        channels: list[list[CachedInput | SummedRow]] = []
        rows: dict[bool, list[tuple[tuple, Port]]] = {False: [], True: []}  # type: ignore[type-arg]
        seen: dict[tuple[int, bool], SummedRow] = {}
        for ci, channel in enumerate(plan.copies[indices[0]].node.channels):
            row_only = key[2] and channel not in ("k", "v")
            per_copy = []
            for index in indices:
                copy = plan.copies[index]
                port = Port(copy.node, channel)
                label = copy.channel_label(ci)
                if label != MIXED:
                    per_copy.append(CachedInput(NEW if label == NEW else REF, port, row_only))
                    continue
                children = plan.children(copy, ci)
                # one interned row: the same children, the same senders, so the same base input
                dedupe = (copy.rows[ci][0], row_only)
                if dedupe not in seen:
                    seen[dedupe] = SummedRow(row_only, len(rows[row_only]))
                    rows[row_only].append((children, port))
                per_copy.append(seen[dedupe])
            channels.append(per_copy)
        groups = {flag: _group(todo, row_of, narrow, slot, plan.copies, flag) for flag, todo in rows.items() if todo}
        stages.append(Stage(key, indices, channels, groups))
    return Schedule(narrow, slot, (counts[0], counts[1]), stages)


def _group(rows: list[tuple[tuple, Port]], row_of: dict[Node, int], narrow: list[bool], slot: list[int],  # type: ignore[type-arg]
           copies: list, row_only: bool) -> RowGroup:  # type: ignore[type-arg]
    ref: tuple[list[int], list[int], list[float]] = ([], [], [])
    same: tuple[list[int], list[int], list[float]] = ([], [], [])  # copies of the group's width
    wide: tuple[list[int], list[int], list[float]] = ([], [], [])  # full copies read at the rows
    bases = []
    for r, (children, port) in enumerate(rows):
        kinds = [child.kind for child in children]
        n_m = kinds.count(MIXED)
        from_clean = kinds.count(NEW) + 2 * n_m < kinds.count(REF) + n_m
        bases.append((REF if from_clean else NEW, port))
        for child in children:
            kind = child.kind
            if kind == MIXED:
                index = child.index
                target = same if narrow[index] == row_only else wide
                for part, value in zip(target, (r, slot[index], 1.0)):
                    part.append(value)  # type: ignore[arg-type]
                if from_clean:
                    for part, value in zip(ref, (r, row_of[copies[index].node], -1.0)):
                        part.append(value)  # type: ignore[arg-type]
            elif (kind == REF and not from_clean) or (kind == NEW and from_clean):
                for part, value in zip(ref, (r, row_of[child.node], 1.0 if kind == REF else -1.0)):
                    part.append(value)  # type: ignore[arg-type]
    n = len(rows)
    group = RowGroup(bases, SparseSum.of(ref, n), SparseSum.of(same, n))
    if wide[0]:
        used = sorted(set(wide[1]))
        local = {u: i for i, u in enumerate(used)}
        group.full_used = used
        group.full = SparseSum.of((wide[0], [local[c] for c in wide[1]], wide[2]), n)
    return group
