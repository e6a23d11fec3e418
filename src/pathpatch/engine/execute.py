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
        channels = plan.copies[indices[0]].node.channels
        per_channel: list[list[Tensor | int]] = [[] for _ in channels]  # a tensor, or a row of `summed`
        todo: list[tuple[tuple, Port]] = []  # (children, port) of each row to sum, channel by channel
        for ci, channel in enumerate(channels):
            row_only = at_rows and channel not in ("k", "v")
            for index in indices:
                copy = plan.copies[index]
                port = Port(copy.node, channel)
                label = copy.channel_label(ci)
                if label == "M":
                    per_channel[ci].append(len(todo))
                    todo.append((copy.children[ci], port))
                else:
                    per_channel[ci].append(inputs_of(NEW if label == NEW else REF, port, row_only))
        summed = _sum_rows(tables, todo, per_channel, channels, at_rows, row_of, inputs_of)
        stacked = [_stack(values, summed) for values in per_channel]
        outputs = _compute(model, plan, indices, stacked, clean, ablated, rows if at_rows else None)
        for pos, index in enumerate(indices):
            node = plan.copies[index].node
            if node.kind == "out":
                logits[index] = outputs[pos]
            else:
                base = ablated.outputs[node]
                tables.store(index, outputs[pos], rows.take(base) if at_rows else base)  # type: ignore[union-attr]

    result = []
    for root in plan.roots:
        if root[0] == "M":
            result.append(logits[root[1]])
        else:
            run = ablated if root[0] == NEW else clean
            result.append(run.logits if rows is None else rows.take(run.logits))
    return result


def _sum_rows(tables, todo, per_channel, channels, at_rows, row_of, inputs_of) -> dict[bool, Tensor]:  # type: ignore[no-untyped-def]
    """The summed inputs of the rows to sum, full rows and row-only rows in separate tensors
    (``per_channel`` entries that are ints are renumbered into them)."""
    groups: dict[bool, list[int]] = {False: [], True: []}
    for ci, channel in enumerate(channels):
        row_only = at_rows and channel not in ("k", "v")
        for j, value in enumerate(per_channel[ci]):
            if isinstance(value, int):
                per_channel[ci][j] = (row_only, len(groups[row_only]))
                groups[row_only].append(value)
    return {flag: tables.sums([todo[r] for r in rows], row_of, inputs_of, flag)
            for flag, rows in groups.items() if rows}


def _stack(values: list, summed: dict[bool, Tensor]) -> Tensor:  # type: ignore[type-arg]
    """One channel's inputs as ``[copy, ...]`` (or ``[1, ...]`` if every copy reads the same
    cached tensor), without copying when they are consecutive summed rows."""
    if all(isinstance(v, tuple) for v in values):
        flag, first = values[0]
        if all(v == (flag, first + j) for j, v in enumerate(values)):
            return summed[flag][first : first + len(values)]
    if all(v is values[0] for v in values) and isinstance(values[0], Tensor):
        return values[0][None]
    return torch.stack([summed[v[0]][v[1]] if isinstance(v, tuple) else v for v in values])


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
        self.node_of = [c.node for c in plan.copies]
        shape = tuple(ref_delta.shape[1:])
        # zeros, not empty: a dense sum over a prefix of the table multiplies unused rows by 0
        self.full = ref_delta.new_zeros((max(counts[0], 1),) + shape)
        self.at = ref_delta.new_zeros(max(counts[1], 1), len(rows), shape[-1]) if rows is not None else None
        self._ref_rows: Tensor | None = None

    def store(self, index: int, value: Tensor, base: Tensor) -> None:
        """Record ``value - base`` (a copy's output minus the ablated output) as its delta."""
        table = self.at if self.narrow[index] else self.full
        torch.sub(value, base, out=table[self.slot[index]])  # type: ignore[index]

    def sums(self, rows: Sequence[tuple[tuple, Port]], row_of: dict, inputs_of: _PortInputs,  # type: ignore[type-arg]
             row_only: bool) -> Tensor:
        """The summed input of each (children, port) row.

        A row is ``ablated input + Σ_REF (clean - ablated) + Σ_M (mixed - ablated)``, or equally
        ``clean input - Σ_NEW (clean - ablated) + Σ_M ((mixed - ablated) - (clean - ablated))``;
        each row takes the form with fewer terms (the second when few children differ from the
        clean run, as in sender→receiver patching).
        """
        ref_idx: _Index = ([], [], [])
        full_idx: _Index = ([], [], [])
        at_idx: _Index = ([], [], [])
        labels = []
        for r, (children, _) in enumerate(rows):
            kinds = [child[0] for child in children]
            n_m = kinds.count("M")
            from_clean = kinds.count(NEW) + 2 * n_m < kinds.count(REF) + n_m
            labels.append(REF if from_clean else NEW)
            for child in children:
                kind = child[0]
                if kind == "M":
                    index = child[1]
                    _add(at_idx if self.narrow[index] else full_idx, r, self.slot[index], 1.0)
                    if from_clean:
                        _add(ref_idx, r, row_of[self.node_of[index]], -1.0)
                elif kind == REF and not from_clean:
                    _add(ref_idx, r, row_of[child[1]], 1.0)
                elif kind == NEW and from_clean:
                    _add(ref_idx, r, row_of[child[1]], -1.0)
        n = len(rows)
        if not row_only:
            total = rows_sum(ref_idx, n, self.ref)
            total = rows_sum(full_idx, n, self.full, out=total)
        else:
            assert self.rows is not None and self.at is not None
            if self._ref_rows is None:
                self._ref_rows = self.rows.take(self.ref)
            total = rows_sum(ref_idx, n, self._ref_rows)
            total = rows_sum(at_idx, n, self.at, out=total)
            if full_idx[0]:  # full copies read at the rows: take only the copies used
                used = sorted(set(full_idx[1]))
                local = {u: i for i, u in enumerate(used)}
                table = self.rows.take(self.full[used])
                total = rows_sum((full_idx[0], [local[c] for c in full_idx[1]], full_idx[2]), n, table, out=total)
        bases = [inputs_of(label, port, row_only) for label, (_, port) in zip(labels, rows)]
        total = total.view((n,) + tuple(bases[0].shape))
        if all(b is bases[0] for b in bases):
            total += bases[0]
        else:
            for r, b in enumerate(bases):
                total[r] += b
        return total


_Index = tuple[list[int], list[int], list[float]]  # rows, columns, weights (+1 / -1)


def _add(index: _Index, row: int, col: int, weight: float) -> None:
    index[0].append(row)
    index[1].append(col)
    index[2].append(weight)


def rows_sum(index: tuple, n_rows: int, table: Tensor, out: Tensor | None = None) -> Tensor:  # type: ignore[type-arg]
    """``W @ table.flatten(1)`` (added into ``out`` if given) for the sparse matrix ``W`` given by
    ``index = (rows, cols)`` (weights 1) or ``(rows, cols, weights)``.

    Dense over the columns used when ``W`` is dense enough there (a matrix product is fastest);
    otherwise the few terms of each row are gathered and added, in chunks of bounded memory.
    """
    flat = table.flatten(1)
    rows, cols = index[0], index[1]
    signs = index[2] if len(index) > 2 else None
    used = sorted(set(cols))
    dense = 8 * len(rows) >= n_rows * max(len(used), 1)
    if not rows or (out is None and not dense):
        out = flat.new_zeros(n_rows, flat.shape[1]) if out is None else out
        if not rows:
            return out
    if dense:
        span = used[-1] + 1
        prefix = 2 * len(used) >= span  # a prefix view of the table costs no copy
        if not prefix:
            local = {u: i for i, u in enumerate(used)}
            cols = [local[c] for c in cols]
        weights = flat.new_zeros(n_rows, span if prefix else len(used))
        values = torch.tensor(signs, dtype=flat.dtype) if signs is not None else torch.ones(len(rows), dtype=flat.dtype)
        weights.index_put_((torch.tensor(rows, device=flat.device), torch.tensor(cols, device=flat.device)),
                           values.to(flat.device), accumulate=True)
        sub = flat[:span] if prefix else flat[used]
        return weights @ sub if out is None else out.addmm_(weights, sub)
    assert out is not None
    step = max(1, _GATHER_BYTES // max(1, flat.shape[1] * flat.element_size()))
    for sign in (1.0, -1.0):
        pick = [i for i in range(len(rows)) if (signs[i] if signs is not None else 1.0) == sign]
        if not pick:
            continue
        r = torch.tensor([rows[i] for i in pick], device=flat.device)
        c = torch.tensor([cols[i] for i in pick], device=flat.device)
        for start in range(0, len(pick), step):
            out.index_add_(0, r[start : start + step], flat[c[start : start + step]], alpha=sign)
    return out


def _compute(model: ResidualModel, plan: Plan, indices: list[int], channels: list[Tensor], clean: RunCache,
             ablated: RunCache, rows: TargetRows | None) -> Tensor:
    """Outputs of the copies ``indices`` of one stage from their stacked channel inputs."""
    first = plan.copies[indices[0]].node
    if first.kind == "mlp":
        return model.mlp(first.layer, channels[0])  # type: ignore[arg-type]
    if first.kind == "out":
        return model.unembed(channels[0])
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
        def pick(x: Tensor) -> Tensor:
            return x if x.shape[0] == 1 or len(todo) == len(indices) else x[todo]

        sel = heads[todo]
        q_in, k_in = pick(channels[0]), pick(channels[1])
        fresh = model.attn_slots(layer, sel, q_in, k_in, rows) if rows is not None else model.attn_pattern(
            layer, sel, q_in, k_in)
        if len(todo) == len(indices):
            stacked = fresh
        else:
            for j, p in enumerate(todo):
                patterns[p] = fresh[j]
            stacked = torch.stack(patterns)  # type: ignore[arg-type]
    else:
        stacked = torch.stack(patterns)  # type: ignore[arg-type]
    if rows is not None:
        return model.head_out_slots(layer, heads, stacked, channels[2], rows)
    return model.head_out(layer, heads, stacked, channels[2])
