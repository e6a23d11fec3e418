"""Rows that extend an earlier row: the residual stream, read again one stage later.

A port's senders are every node of the earlier stages, so the senders of a stage's ports begin
with the senders of every earlier stage's ports. When a row's first children are exactly an
earlier MIXED row (the same refs: the same copies at the same positions), the row is that row
plus the inputs' difference between the two stages plus the deltas of its remaining children:

    row = parent + (input_s - input_parent) + Σ_{tail children} delta

so it sums a stage's worth of children instead of every child from the embedding up, as a
forward pass does. :func:`prefixes` finds, once per plan, each MIXED row's longest such parent.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..graph import Graph, Port
from .copies import MIXED, Plan

__all__ = ["Prefix", "prefixes"]


@dataclass(frozen=True)
class Prefix:
    """The earlier row a row extends: its id ``parent`` and its number of children ``length``
    (the row's first ``length`` children are the parent's)."""

    parent: int
    length: int


def prefixes(plan: Plan) -> dict[int, Prefix]:
    """For each MIXED row of ``plan`` that extends an earlier MIXED row: its longest
    :class:`Prefix` (cached on the plan)."""
    cached: dict[int, Prefix] | None = plan.__dict__.get("_prefixes")
    if cached is not None:
        return cached
    graph = plan.graph
    ids = {row.children: r for r, row in enumerate(plan.rows) if row.label == MIXED}
    lengths: dict[int, list[int]] = {}
    found: dict[int, Prefix] = {}
    for r, row in enumerate(plan.rows):
        if row.label != MIXED:
            continue
        group = graph.sender_group(row.port)
        if group not in lengths:
            lengths[group] = _prefix_lengths(graph, row.port)
        for length in lengths[group]:
            parent = ids.get(row.children[:length])
            if parent is not None:
                found[r] = Prefix(parent, length)
                break
    plan.__dict__["_prefixes"] = found
    return found


def _prefix_lengths(graph: Graph, port: Port) -> list[int]:
    """The lengths of the other ports' sender lists that begin this port's, longest first."""
    mine = graph.senders(port)
    others = {graph.senders(p) for p in graph.ports}
    return sorted({len(s) for s in others if len(s) < len(mine) and mine[: len(s)] == s}, reverse=True)
