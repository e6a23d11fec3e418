"""Executing a plan: compute the MIXED copies stage by stage, batched (DESIGN §3, steps 3-4).

All MIXED copies of one stage (every hypothesis at once) are stacked along a ``copy`` axis. A
copy's channel input is a cached input of one run plus signed deltas of its children, summed over
stacked delta tables (:mod:`.schedule`, :mod:`.sums`). A channel that reads only cached values of
one run takes that run's cached input, and a head whose q and k channels are both cached reuses
that run's attention pattern, so only its value path is recomputed (:mod:`.heads`).

With ``targets`` (the positions the metric reads), copies that reach ``out`` only at those
positions are computed only there (:mod:`.rows`): every ``out`` copy, and the copies read only by
such copies (through q, for heads).
"""

from __future__ import annotations

import torch
from jaxtyping import Bool
from torch import Tensor

from ..graph import Node, Port
from ..model.residual import ResidualModel
from .cache import RunCache
from .heads import Channel, channel_of, gathered, head_copies
from .copies import NEW, REF, Mixed, Plan
from .rows import TargetRows
from .schedule import CachedInput, RowGroup, Schedule, narrow_copies, schedule
from .sums import rows_sum

__all__ = ["execute", "rows_sum", "narrow_copies"]


@torch.no_grad()
def execute(
    model: ResidualModel,
    plan: Plan,
    clean: RunCache,
    ablated: RunCache,
    targets: Bool[Tensor, "batch pos"] | None = None,
) -> list[Tensor]:
    """Logits of every hypothesis of ``plan`` on one batch: ``[batch, pos, vocab]``, or with
    ``targets`` only the rows ``logits[targets]``, ``[row, vocab]``."""
    graph = model.graph
    rows = TargetRows.of(targets.to(clean.device)) if targets is not None else None
    sched = schedule(plan, graph, rows is not None)
    senders = [n for n in graph.nodes if n.kind != "out"]
    tables = _Tables(sched, rows, torch.stack([clean.outputs[n] - ablated.outputs[n] for n in senders]))
    inputs_of = _PortInputs(graph, clean, ablated, rows)
    logits: dict[int, Tensor] = {}
    for stage in sched.stages:
        at_rows = stage.key[2]
        summed = {flag: tables.sums(group, inputs_of, flag) for flag, group in stage.groups.items()}
        inputs = [channel_of([inputs_of(*d) if isinstance(d, CachedInput) else d for d in per_copy], summed)
                  for per_copy in stage.channels]
        outputs = _compute(model, plan, stage.indices, inputs, clean, ablated, rows if at_rows else None)
        for pos, index in enumerate(stage.indices):
            node = plan.copies[index].node
            if node.kind == "out":
                logits[index] = outputs[pos]
            else:
                tables.store(index, outputs[pos], inputs_of.ablated_output(node, at_rows))

    result = []
    for (root,) in plan.roots:  # position-free: one root over every position
        if isinstance(root, Mixed):
            result.append(logits[root.index])
        else:
            run = ablated if root.kind == NEW else clean
            result.append(run.logits if rows is None else rows.take(run.logits))
    return result


class _PortInputs:
    """Cached inputs of ports (and ablated outputs of nodes) in the two runs, full or at the
    target rows, memoised."""

    def __init__(self, graph, clean: RunCache, ablated: RunCache, rows: TargetRows | None) -> None:  # type: ignore[no-untyped-def]
        self.graph, self.runs, self.rows = graph, {REF: clean, NEW: ablated}, rows
        self.memo: dict[tuple, Tensor] = {}  # type: ignore[type-arg]

    def __call__(self, label: str, port: Port, row_only: bool) -> Tensor:
        # ports with the same senders have the same cached input (Graph.sender_group decides)
        key = (label, self.graph.sender_group(port), row_only)
        if key not in self.memo:
            x = self.runs[label].port_input(port, self.graph)
            self.memo[key] = self.rows.take(x) if row_only else x  # type: ignore[union-attr]
        return self.memo[key]

    def ablated_output(self, node: Node, row_only: bool) -> Tensor:
        x = self.runs[NEW].outputs[node]
        if not row_only:
            return x
        key = ("out", node)
        if key not in self.memo:
            self.memo[key] = self.rows.take(x)  # type: ignore[union-attr]
        return self.memo[key]


class _Tables:
    """Delta tables: clean - ablated per node, and mixed - ablated per computed copy (full copies
    ``[copy, batch, pos, d]``, row-only copies ``[copy, row, d]``)."""

    def __init__(self, sched: Schedule, rows: TargetRows | None, ref_delta: Tensor) -> None:
        self.rows, self.ref, self.sched = rows, ref_delta, sched  # ref_delta: [node batch pos d]
        shape = tuple(ref_delta.shape[1:])
        # zeros, not empty: a dense sum over a prefix of the table multiplies unused rows by 0
        self.full = ref_delta.new_zeros((max(sched.counts[0], 1),) + shape)
        self.at = ref_delta.new_zeros(max(sched.counts[1], 1), len(rows), shape[-1]) if rows is not None else None
        self._ref_rows: Tensor | None = None

    def store(self, index: int, value: Tensor, base: Tensor) -> None:
        """Record ``value - base`` (a copy's output minus the ablated output) as its delta."""
        table = self.at if self.sched.narrow[index] else self.full
        torch.sub(value, base, out=table[self.sched.slot[index]])  # type: ignore[index]

    def sums(self, group: RowGroup, inputs_of: _PortInputs, row_only: bool) -> Tensor:
        """The summed inputs of a group's rows: ``[row, batch, pos, d]`` (``[row, target, d]``)."""
        bases = [inputs_of(label, port, row_only) for label, port in group.bases]
        shared = bases[0].reshape(1, -1) if all(b is bases[0] for b in bases) else None  # added by the first sum
        if not row_only:
            total = group.mixed.apply(self.full, out=group.ref.apply(self.ref, base=shared))
        else:
            assert self.rows is not None and self.at is not None
            if self._ref_rows is None:
                self._ref_rows = self.rows.take(self.ref)
            total = group.mixed.apply(self.at, out=group.ref.apply(self._ref_rows, base=shared))
            if group.full is not None:  # full copies read at the rows: take only the copies used
                table = self.rows.take(self.full[group.full_used])
                total = group.full.apply(table, out=total)
        total = total.view((len(bases),) + tuple(bases[0].shape))
        if shared is None:
            for r, b in enumerate(bases):
                total[r] += b
        return total


def _compute(model: ResidualModel, plan: Plan, indices: list[int], channels: list[Channel], clean: RunCache,
             ablated: RunCache, rows: TargetRows | None) -> Tensor:
    """Outputs of the copies ``indices`` of one stage from their channel inputs."""
    first = plan.copies[indices[0]].node
    if first.kind == "mlp":
        return model.mlp(first.layer, gathered(channels[0]))  # type: ignore[arg-type]
    if first.kind == "out":
        return model.unembed(gathered(channels[0]))
    layer = first.layer
    assert layer is not None
    heads = torch.tensor([plan.copies[i].node.head for i in indices], device=clean.device)
    cached: list[Tensor | None] = []
    for index in indices:
        copy = plan.copies[index]
        label = copy.pattern_label()
        if label is None:
            cached.append(None)
        else:
            run = ablated if label == NEW else clean
            pattern = run.patterns[layer][copy.node.head]  # [batch qpos kpos]
            if rows is not None:
                pattern = pattern[torch.arange(pattern.shape[0], device=pattern.device)[:, None], rows.slot_position]
            cached.append(pattern)
    return head_copies(model, layer, heads, channels[0], channels[1], channels[2], cached, rows)
