"""Executing a plan: compute the MIXED copies stage by stage, batched (DESIGN §3, steps 3-4).

All MIXED copies of one stage (every hypothesis at once) are stacked along a ``copy`` axis. A
copy's channel input is the ablated input of that port plus the deltas of the children that are
not NEW: ``(clean - ablated)`` for REF children and ``(mixed - ablated)`` for MIXED ones, summed
over a stacked delta table (:func:`rows_sum`). A channel that reads only cached values of one run
takes that run's cached input, and a head whose q and k channels are both cached reuses that
run's attention pattern, so only its value path is recomputed.

With ``targets`` (the positions the metric reads), copies that reach ``out`` only at those
positions are computed only there (:mod:`pathpatch.engine.rows`): every ``out`` copy, and the
copies read only by such copies (through q, for heads).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ..graph import Port
from ..model.residual import ResidualModel
from .cache import RunCache
from .plan import BOTH, NEW, REF, Plan
from .rows import TargetRows

__all__ = ["execute", "rows_sum", "narrow_copies"]

_GATHER_BYTES = 1 << 27  # gathered terms per chunk of the sparse sum (128 MiB)


def narrow_copies(plan: Plan) -> list[bool]:
    """For each copy: is it read only at the target rows (see module docs)?"""
    narrow = [True] * len(plan.copies)
    for i in reversed(range(len(plan.copies))):  # readers come after what they read
        copy = plan.copies[i]
        for channel, children in zip(copy.node.channels, copy.children):
            keep = narrow[i] and channel not in ("k", "v")
            if not keep:
                for child in children:
                    if child[0] == "M":
                        narrow[child[1]] = False
    return narrow


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
    rows = TargetRows.of(targets.to(clean.logits.device)) if targets is not None else None
    narrow = narrow_copies(plan) if rows is not None else [False] * len(plan.copies)
    senders = [n for n in graph.nodes if n.kind != "out"]
    row_of = {n: i for i, n in enumerate(senders)}
    tables = _Tables(plan, narrow, rows, torch.stack([clean.outputs[n] - ablated.outputs[n] for n in senders]))
    logits: dict[int, Tensor] = {}
    inputs_of = _PortInputs(graph, clean, ablated, rows)

    by_stage: dict[tuple[int, str, bool], list[int]] = defaultdict(list)  # one kind of node per group
    for index, copy in enumerate(plan.copies):
        by_stage[(graph.stage_of(copy.node), copy.node.kind, narrow[index])].append(index)

    for stage in sorted(by_stage):
        indices = by_stage[stage]
        at_rows = stage[2]
        inputs: list[list[Tensor]] = []  # [copy][channel]
        todo: list[tuple[int, int, Port, bool]] = []  # (position in indices, channel, port, row-only)
        for pos, index in enumerate(indices):
            copy = plan.copies[index]
            per_channel = []
            for ci, channel in enumerate(copy.node.channels):
                port = Port(copy.node, channel)
                label = copy.channel_label(ci)
                row_only = at_rows and channel not in ("k", "v")
                if label == "M":
                    per_channel.append(None)  # type: ignore[arg-type]
                    todo.append((pos, ci, port, row_only))
                else:
                    per_channel.append(inputs_of(NEW if label == NEW else REF, port, row_only))
            inputs.append(per_channel)
        for row_only in (False, True):
            part = [t for t in todo if t[3] == row_only]
            if part:
                summed = tables.sums([(plan.copies[indices[p]].children[ci], port) for p, ci, port, _ in part],
                                     row_of, inputs_of, row_only)
                for (p, ci, _, _), value in zip(part, summed):
                    inputs[p][ci] = value
        outputs = _compute(model, plan, indices, inputs, clean, ablated, rows if at_rows else None)
        for pos, index in enumerate(indices):
            node = plan.copies[index].node
            if node.kind == "out":
                logits[index] = outputs[pos]
            else:
                base = ablated.outputs[node]
                tables.store(index, outputs[pos] - (rows.take(base) if at_rows else base))  # type: ignore[union-attr]

    result = []
    for root in plan.roots:
        if root[0] == "M":
            result.append(logits[root[1]])
        else:
            run = ablated if root[0] == NEW else clean
            result.append(run.logits if rows is None else rows.take(run.logits))
    return result


class _PortInputs:
    """Cached inputs of ports in the two runs, full or at the target rows (memoised per stage use)."""

    def __init__(self, graph, clean: RunCache, ablated: RunCache, rows: TargetRows | None) -> None:  # type: ignore[no-untyped-def]
        self.graph, self.runs, self.rows = graph, {REF: clean, NEW: ablated}, rows
        self.memo: dict[tuple[str, Port, bool], Tensor] = {}

    def __call__(self, label: str, port: Port, row_only: bool) -> Tensor:
        key = (label, port, row_only)
        if key not in self.memo:
            x = self.runs[label].port_input(port, self.graph)
            self.memo[key] = self.rows.take(x) if row_only else x  # type: ignore[union-attr]
        return self.memo[key]


class _Tables:
    """Delta tables: clean - ablated per node, and mixed - ablated per computed copy (full copies
    ``[copy, batch, pos, d]``, row-only copies ``[copy, row, d]``)."""

    def __init__(self, plan: Plan, narrow: list[bool], rows: TargetRows | None, ref_delta: Tensor) -> None:
        self.rows, self.ref = rows, ref_delta  # [node batch pos d]
        self.slot: list[int] = []
        counts = [0, 0]
        for flag in narrow:
            self.slot.append(counts[flag])
            counts[flag] += 1
        self.narrow = narrow
        shape = tuple(ref_delta.shape[1:])
        self.full = ref_delta.new_zeros((max(counts[0], 1),) + shape)
        self.at = ref_delta.new_zeros(max(counts[1], 1), len(rows), shape[-1]) if rows is not None else None
        self._ref_rows: Tensor | None = None

    def store(self, index: int, value: Tensor) -> None:
        (self.at if self.narrow[index] else self.full)[self.slot[index]] = value  # type: ignore[index]

    def sums(self, rows: Sequence[tuple[tuple, Port]], row_of: dict, inputs_of: _PortInputs,  # type: ignore[type-arg]
             row_only: bool) -> Tensor:
        """``ablated input + Σ child deltas`` for each (children, port)."""
        ref_idx: tuple[list[int], list[int]] = ([], [])
        full_idx: tuple[list[int], list[int]] = ([], [])
        at_idx: tuple[list[int], list[int]] = ([], [])
        for r, (children, _) in enumerate(rows):
            for child in children:
                if child[0] == REF:
                    ref_idx[0].append(r)
                    ref_idx[1].append(row_of[child[1]])
                elif child[0] == "M":
                    target = at_idx if self.narrow[child[1]] else full_idx
                    target[0].append(r)
                    target[1].append(self.slot[child[1]])
        base = torch.stack([inputs_of(NEW, port, row_only) for _, port in rows])
        n = len(rows)
        if not row_only:
            total = rows_sum(ref_idx, n, self.ref) + rows_sum(full_idx, n, self.full)
            return base + total.view(base.shape)
        assert self.rows is not None and self.at is not None
        if self._ref_rows is None:
            self._ref_rows = self.rows.take(self.ref)
        total = rows_sum(ref_idx, n, self._ref_rows) + rows_sum(at_idx, n, self.at)
        if full_idx[0]:  # full copies read at the rows: take only the copies used
            used = sorted(set(full_idx[1]))
            local = {u: i for i, u in enumerate(used)}
            table = self.rows.take(self.full[used])
            total = total + rows_sum((full_idx[0], [local[c] for c in full_idx[1]]), n, table)
        return base + total.view(base.shape)


def rows_sum(index: tuple[list[int], list[int]], n_rows: int, table: Tensor) -> Tensor:
    """``W @ table.flatten(1)`` for the 0/1 matrix ``W`` with ones at ``index``.

    Dense over the columns used when ``W`` is dense enough there (a matrix product is fastest);
    otherwise the few terms of each row are gathered and added, in chunks of bounded memory.
    """
    flat = table.flatten(1)
    rows, cols = index
    if not rows:
        return flat.new_zeros(n_rows, flat.shape[1])
    used = sorted(set(cols))
    if 8 * len(rows) >= n_rows * len(used):
        span = used[-1] + 1
        if 2 * len(used) >= span:  # a prefix view costs no copy
            weights = flat.new_zeros(n_rows, span)
            weights[rows, cols] = 1.0
            return weights @ flat[:span]
        local = {u: i for i, u in enumerate(used)}
        weights = flat.new_zeros(n_rows, len(used))
        weights[rows, [local[c] for c in cols]] = 1.0
        return weights @ flat[used]
    out = flat.new_zeros(n_rows, flat.shape[1])
    r = torch.tensor(rows, device=flat.device)
    c = torch.tensor(cols, device=flat.device)
    step = max(1, _GATHER_BYTES // max(1, flat.shape[1] * flat.element_size()))
    for start in range(0, len(rows), step):
        out.index_add_(0, r[start : start + step], flat[c[start : start + step]])
    return out


def _compute(model: ResidualModel, plan: Plan, indices, inputs, clean: RunCache, ablated: RunCache,  # type: ignore[no-untyped-def]
             rows: TargetRows | None) -> Tensor:
    first = plan.copies[indices[0]].node
    if first.kind == "mlp":
        return model.mlp(first.layer, torch.stack([x[0] for x in inputs]))  # type: ignore[arg-type]
    if first.kind == "out":
        return model.unembed(torch.stack([x[0] for x in inputs]))
    layer = first.layer
    assert layer is not None
    heads = torch.tensor([plan.copies[i].node.head for i in indices], device=clean.logits.device)
    patterns: list[Tensor | None] = []
    todo: list[int] = []
    for pos, index in enumerate(indices):
        copy = plan.copies[index]
        q, k = copy.channel_label(0), copy.channel_label(1)
        cached = {q, k} - {BOTH}
        run = clean if cached <= {REF} else ablated if cached == {NEW} else None
        if run is None:
            patterns.append(None)
            todo.append(pos)
        else:
            pattern = run.patterns[layer][copy.node.head]  # [batch qpos kpos]
            if rows is not None:
                pattern = pattern[torch.arange(pattern.shape[0], device=pattern.device)[:, None], rows.slot_position]
            patterns.append(pattern)
    if todo:
        sel = heads[todo]
        q_in = torch.stack([inputs[p][0] for p in todo])
        k_in = torch.stack([inputs[p][1] for p in todo])
        fresh = model.attn_slots(layer, sel, q_in, k_in, rows) if rows is not None else model.attn_pattern(
            layer, sel, q_in, k_in)
        for j, p in enumerate(todo):
            patterns[p] = fresh[j]
    v_in = torch.stack([x[2] for x in inputs])
    if rows is not None:
        return model.head_out_slots(layer, heads, torch.stack(patterns), v_in, rows)  # type: ignore[arg-type]
    return model.head_out(layer, heads, torch.stack(patterns), v_in)  # type: ignore[arg-type]
