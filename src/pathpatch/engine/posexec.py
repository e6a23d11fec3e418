"""Executing a position-resolved plan: rows and copies at single positions, batched per stage.

Per stage, every MIXED row is ``ablated input at t' + Σ child deltas`` (one 0/1-matrix product over
a delta table whose entries are (node, position) vectors); cached rows are read from the runs.
Copies of one stage are stacked: MLPs and ``out`` read one row each; a head copy at query
position ``t`` gathers its k and v rows at ``0..t`` (padded to the stage's longest and masked)
and reuses the cached attention row when its q and k channels are cached in one run.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from jaxtyping import Float
from torch import Tensor

from ..model.residual import ResidualModel
from .cache import RunCache
from .sums import rows_sum
from .copies import BOTH, MIXED, NEW, REF, Mixed
from .copies import Plan

__all__ = ["execute_positions"]


@torch.no_grad()
def execute_positions(
    model: ResidualModel, plan: Plan, clean: RunCache, ablated: RunCache
) -> list[Float[Tensor, "batch at vocab"]]:
    """Logits ``[batch, len(plan.at), vocab]`` of every hypothesis of ``plan`` at the plan's
    positions, on one batch (all of whose examples share ``plan``)."""
    graph = model.graph
    n_pos = plan.n_pos
    senders = [n for n in graph.nodes if n.kind != "out"]
    row_of = {n: i for i, n in enumerate(senders)}
    # [(node, t), batch * d_model]: clean - ablated output of every node at every position
    ref_delta = torch.stack([clean.outputs[n] - ablated.outputs[n] for n in senders]).transpose(1, 2)
    batch, d_model = ref_delta.shape[2], ref_delta.shape[3]
    ref_delta = ref_delta.reshape(len(senders) * n_pos, batch * d_model)
    mixed = ref_delta.new_zeros(max(len(plan.copies), 1), batch * d_model)
    logits: dict[int, Tensor] = {}

    by_stage: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, copy in enumerate(plan.copies):
        by_stage[(graph.stage_of(copy.node), copy.node.kind)].append(index)

    for key in sorted(by_stage):
        indices = by_stage[key]
        needed = sorted({r for i in indices for rows in plan.copies[i].rows for r in rows})
        local = {r: j for j, r in enumerate(needed)}
        values = _row_values(plan, needed, row_of, ref_delta, mixed, clean, ablated, graph, n_pos)  # [row b d]
        node = plan.copies[indices[0]].node
        if node.kind in ("mlp", "out"):
            x = values[[local[plan.copies[i].rows[0][0]] for i in indices]]
            out = model.mlp(node.layer, x) if node.kind == "mlp" else model.unembed(x)  # type: ignore[arg-type]
        else:
            out = _heads(model, plan, indices, values, local, clean, ablated)
        for j, index in enumerate(indices):
            if node.kind == "out":
                logits[index] = out[j]
            else:
                c = plan.copies[index]
                mixed[index] = (out[j] - ablated.outputs[c.node][:, c.t]).flatten()

    result = []
    for roots in plan.roots:
        columns = [
            logits[r.index] if isinstance(r, Mixed) else (ablated.logits if r.kind == NEW else clean.logits)[:, t]
            for t, r in zip(plan.at, roots)
        ]
        result.append(torch.stack(columns, dim=1))
    return result


def _row_values(plan, needed, row_of, ref_delta, mixed, clean, ablated, graph, n_pos) -> Tensor:  # type: ignore[no-untyped-def]
    """``[row, batch, d_model]``: cached inputs, or ablated input plus the children's deltas."""
    out: list[Tensor | None] = []
    todo: list[int] = []
    seen: dict[tuple[int, int], Tensor] = {}

    def port_input(run: RunCache, port) -> Tensor:  # type: ignore[no-untyped-def]
        """The run's input of ``port`` (ports with the same senders share it): once per stage."""
        key = (id(run), graph.sender_group(port))
        if key not in seen:
            seen[key] = run.port_input(port, graph)
        return seen[key]

    for j, r in enumerate(needed):
        row = plan.rows[r]
        label = row.label
        if label == MIXED:
            out.append(None)
            todo.append(j)
        else:
            run = ablated if label == NEW else clean
            out.append(port_input(run, row.port)[:, row.t])
    if todo:
        ref_idx: tuple[list[int], list[int]] = ([], [])
        mix_idx: tuple[list[int], list[int]] = ([], [])
        for i, j in enumerate(todo):
            for child in plan.rows[needed[j]].children:
                if child.kind == REF:
                    ref_idx[0].append(i)
                    ref_idx[1].append(row_of[child.node] * n_pos + child.t)
                elif isinstance(child, Mixed):
                    mix_idx[0].append(i)
                    mix_idx[1].append(child.index)
        total = rows_sum(ref_idx, len(todo), ref_delta) + rows_sum(mix_idx, len(todo), mixed)
        for i, j in enumerate(todo):
            row = plan.rows[needed[j]]
            base = port_input(ablated, row.port)[:, row.t]
            out[j] = base + total[i].view_as(base)
    return torch.stack(out)  # type: ignore[arg-type]


def _heads(model: ResidualModel, plan: Plan, indices, values, local, clean: RunCache, ablated: RunCache) -> Tensor:  # type: ignore[no-untyped-def]
    copies = [plan.copies[i] for i in indices]
    layer = copies[0].node.layer
    device = values.device
    heads = torch.tensor([c.node.head for c in copies], device=device)
    t = torch.tensor([c.t for c in copies], device=device)
    width = int(t.max()) + 1
    pad = values.new_zeros((1,) + tuple(values.shape[1:]))
    table = torch.cat([values, pad])  # last row: padding for key positions after t
    blank = len(values)

    def gather(channel: int) -> Tensor:  # [copy, batch, kpos, d_model]
        idx = [[local[r] for r in c.rows[channel]] + [blank] * (width - len(c.rows[channel])) for c in copies]
        return table[torch.tensor(idx, device=device)].transpose(1, 2)

    q_in = table[torch.tensor([local[c.rows[0][0]] for c in copies], device=device)]
    patterns: list[Tensor | None] = []
    todo: list[int] = []
    for j, c in enumerate(copies):
        cached = {c.channel_label(0), c.channel_label(1)} - {BOTH}
        if cached <= {REF} or cached == {NEW}:
            run = ablated if cached == {NEW} else clean
            patterns.append(run.patterns[layer][c.node.head, :, c.t, :width])
        else:
            patterns.append(None)
            todo.append(j)
    if todo:
        k_in = gather(1)
        sel = torch.tensor(todo, device=device)
        q = model.project(layer, "q", q_in[sel][:, :, None], heads[sel])  # one query row each
        fresh = model.attend(q, model.project(layer, "k", k_in[sel], heads[sel]), t[sel][:, None, None])
        for n, j in enumerate(todo):
            patterns[j] = fresh[n, :, 0]
    v = model.project(layer, "v", gather(2), heads)
    return model.write(layer, heads, torch.stack(patterns)[:, :, None], v)[:, :, 0]  # type: ignore[arg-type]
