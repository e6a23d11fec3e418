"""Executing a plan: compute the MIXED copies stage by stage, batched (DESIGN §3, steps 3-4).

All MIXED copies of one stage (every hypothesis at once) are stacked along a ``copy`` axis. A
copy's channel input is the ablated input of that port plus the deltas of the children that are
not NEW: ``(clean - ablated)`` for REF children and ``(mixed - ablated)`` for MIXED ones, summed by
one matrix product over a stacked delta table. A channel that reads only cached values of one run
takes that run's cached input, and a head whose q and k channels are both cached reuses that
run's attention pattern, so only its value path is recomputed.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from jaxtyping import Float
from torch import Tensor

from ..graph import Port
from ..model.residual import ResidualModel
from .cache import RunCache
from .plan import BOTH, NEW, REF, Plan

__all__ = ["execute", "rows_sum"]


@torch.no_grad()
def execute(
    model: ResidualModel, plan: Plan, clean: RunCache, ablated: RunCache
) -> list[Float[Tensor, "batch pos vocab"]]:
    """Logits of every hypothesis of ``plan`` on one batch."""
    graph = model.graph
    senders_nodes = [n for n in graph.nodes if n.kind != "out"]
    row_of = {n: i for i, n in enumerate(senders_nodes)}
    ref_delta = torch.stack([clean.outputs[n] - ablated.outputs[n] for n in senders_nodes])  # [node b p d]
    shape = ref_delta.shape[1:]
    n_copies = len(plan.copies)
    mixed_delta = ref_delta.new_zeros((max(n_copies, 1),) + tuple(shape))  # [copy b p d]
    logits: dict[int, Tensor] = {}

    by_stage: dict[tuple[int, str], list[int]] = defaultdict(list)  # one kind of node per group
    for index, copy in enumerate(plan.copies):
        by_stage[(graph.stage_of(copy.node), copy.node.kind)].append(index)

    for stage in sorted(by_stage):
        indices = by_stage[stage]
        # channel inputs, [copy, channel] -> tensor
        inputs: list[list[Tensor]] = []
        rows: list[tuple[int, int, Port]] = []  # (position in indices, channel, port) needing a sum
        for pos, index in enumerate(indices):
            copy = plan.copies[index]
            per_channel = []
            for ci, channel in enumerate(copy.node.channels):
                port = Port(copy.node, channel)
                label = copy.channel_label(ci)
                if label in (REF, BOTH):
                    per_channel.append(clean.port_input(port, graph))
                elif label == NEW:
                    per_channel.append(ablated.port_input(port, graph))
                else:
                    per_channel.append(None)  # type: ignore[arg-type]
                    rows.append((pos, ci, port))
            inputs.append(per_channel)
        if rows:
            summed = _summed_inputs(plan, indices, rows, row_of, ref_delta, mixed_delta, ablated, graph)
            for (pos, ci, _), value in zip(rows, summed):
                inputs[pos][ci] = value
        outputs = _compute(model, plan, indices, inputs, clean, ablated)
        for pos, index in enumerate(indices):
            node = plan.copies[index].node
            if node.kind == "out":
                logits[index] = outputs[pos]
            else:
                mixed_delta[index] = outputs[pos] - ablated.outputs[node]

    result = []
    for root in plan.roots:
        if root[0] == "M":
            result.append(logits[root[1]])
        else:
            result.append(ablated.logits if root[0] == NEW else clean.logits)
    return result


def _summed_inputs(plan, indices, rows, row_of, ref_delta, mixed_delta, ablated, graph) -> Tensor:  # type: ignore[no-untyped-def]
    """``ablated input + sum of child deltas`` for each row, by two 0/1-matrix products."""
    n_rows = len(rows)
    ref_idx: tuple[list[int], list[int]] = ([], [])
    mix_idx: tuple[list[int], list[int]] = ([], [])
    for r, (pos, ci, _) in enumerate(rows):
        for child in plan.copies[indices[pos]].children[ci]:
            if child[0] == REF:
                ref_idx[0].append(r)
                ref_idx[1].append(row_of[child[1]])
            elif child[0] == "M":
                mix_idx[0].append(r)
                mix_idx[1].append(child[1])
    total = rows_sum(ref_idx, n_rows, ref_delta) + rows_sum(mix_idx, n_rows, mixed_delta)
    base = torch.stack([ablated.port_input(port, graph) for _, _, port in rows]).flatten(1)
    return (base + total).view((n_rows,) + tuple(ref_delta.shape[1:]))


def rows_sum(index: tuple[list[int], list[int]], n_rows: int, table: Tensor) -> Tensor:
    """``W @ table.flatten(1)`` for the 0/1 matrix ``W`` with ones at ``index``.

    Dense: on CPU it measured faster than torch's sparse product at these sizes.
    """
    flat = table.flatten(1)
    weights = flat.new_zeros(n_rows, flat.shape[0])
    weights[index] = 1.0
    return weights @ flat


def _compute(model: ResidualModel, plan: Plan, indices, inputs, clean: RunCache, ablated: RunCache) -> Tensor:  # type: ignore[no-untyped-def]
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
        if cached <= {REF}:
            patterns.append(clean.patterns[layer][copy.node.head])
        elif cached == {NEW}:
            patterns.append(ablated.patterns[layer][copy.node.head])
        else:
            patterns.append(None)
            todo.append(pos)
    if todo:
        sel = heads[todo]
        fresh = model.attn_pattern(
            layer, sel, torch.stack([inputs[p][0] for p in todo]), torch.stack([inputs[p][1] for p in todo])
        )
        for j, p in enumerate(todo):
            patterns[p] = fresh[j]
    return model.head_out(layer, heads, torch.stack(patterns), torch.stack([x[2] for x in inputs]))  # type: ignore[arg-type]
