"""Executing a position-resolved plan: rows and copies at single positions, batched per stage.

Per stage, every MIXED row is ``ablated input at t' + Σ child deltas`` (a signed sum over delta
tables whose entries are (node, position) vectors), or, when its first children are an earlier
row (:mod:`.prefix`), that row's value plus the rest; cached rows are read from the runs. Copies
of one stage are stacked, every position and hypothesis together: MLPs and ``out`` read one row
each; a head copy at query position ``t`` reads its k and v rows at ``0..t`` (padded to the
stage's longest and masked), each distinct row normalised once and projected once per head, and
reuses the cached attention row when its q and k channels are cached in one run.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from jaxtyping import Float
from torch import Tensor

from ..graph import Graph, Node, Port
from ..model.residual import ResidualModel
from .cache import RunCache
from .copies import BOTH, MIXED, NEW, REF, Mixed, Plan
from .prefix import prefixes
from .sums import rows_sum

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
    # [(node, t), batch * d_model]: the ablated output, and clean - ablated, of every node at every position
    base = torch.stack([ablated.outputs[n] for n in senders]).transpose(1, 2)
    batch, d_model = base.shape[2], base.shape[3]
    base = base.reshape(len(senders) * n_pos, batch * d_model)
    ref_delta = torch.stack([clean.outputs[n] for n in senders]).transpose(1, 2).reshape_as(base) - base
    mixed = ref_delta.new_zeros(max(len(plan.copies), 1), batch * d_model)
    logits: dict[int, Tensor] = {}
    extends = prefixes(plan)
    sums = _Sums(plan, extends, row_of, n_pos, ref_delta, mixed)

    by_stage: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, copy in enumerate(plan.copies):
        by_stage[(graph.stage_of(copy.node), copy.node.kind)].append(index)

    for key in sorted(by_stage):
        indices = by_stage[key]
        needed = sorted({r for i in indices for rows in plan.copies[i].rows for r in rows})
        local = {r: j for j, r in enumerate(needed)}
        inputs = _Inputs(graph, clean, ablated)  # this stage's cached inputs
        values = sums.values(needed, inputs)  # [row b d]
        node = plan.copies[indices[0]].node
        if node.kind in ("mlp", "out"):
            x = values[[local[plan.copies[i].rows[0][0]] for i in indices]]
            out = model.mlp(node.layer, x) if node.kind == "mlp" else model.unembed(x)  # type: ignore[arg-type]
        else:
            out = _heads(model, plan, indices, values, local, clean, ablated)
        if node.kind == "out":
            logits.update(zip(indices, out))
        else:  # every copy's delta against its ablated output, in one step
            at = torch.tensor([row_of[plan.copies[i].node] * n_pos + plan.copies[i].t for i in indices], device=out.device)
            mixed[torch.tensor(indices, device=out.device)] = out.reshape(len(indices), -1) - base[at]

    result = []
    for roots in plan.roots:
        columns = [
            logits[r.index] if isinstance(r, Mixed) else (ablated.logits if r.kind == NEW else clean.logits)[:, t]
            for t, r in zip(plan.at, roots)
        ]
        result.append(torch.stack(columns, dim=1))
    return result


class _Inputs:
    """The runs' cached inputs of the sender groups one stage reads, as tables ``[position, batch,
    d_model]`` stacked on first use: a row's cached input is one entry, all taken in one step."""

    def __init__(self, graph: Graph, clean: RunCache, ablated: RunCache) -> None:
        self.graph, self.runs = graph, {REF: clean, NEW: ablated, BOTH: clean}
        self.parts: list[Tensor] = []
        self.start: dict[tuple[str, int], int] = {}
        self.table: Tensor | None = None

    def entry(self, label: str, port: Port, t: int) -> int:
        """The index of ``port``'s input in run ``label`` at position ``t``."""
        key = (REF if label == BOTH else label, self.graph.sender_group(port))
        if key not in self.start:
            x = self.runs[key[0]].port_input(port, self.graph).transpose(0, 1)  # [pos batch d]
            self.start[key] = sum(len(p) for p in self.parts)
            self.parts.append(x)
            self.table = None
        return self.start[key] + t

    def take(self, index: list[int]) -> Tensor:
        if self.table is None:
            self.table = torch.cat(self.parts)
        return self.table[torch.tensor(index, device=self.table.device)]


class _Sums:
    """Row values: cached inputs, or an ablated input plus the children's deltas, where a row that
    extends an earlier one (:mod:`.prefix`) adds only its tail to that row's kept value."""

    def __init__(self, plan: Plan, extends: dict[int, tuple[int, int]], row_of: dict[Node, int], n_pos: int,
                 ref_delta: Tensor, mixed: Tensor) -> None:
        self.plan, self.extends, self.row_of, self.n_pos = plan, extends, row_of, n_pos
        self.ref_delta, self.mixed = ref_delta, mixed
        self.parents = {p for p, _ in extends.values()}
        self.kept: dict[int, Tensor] = {}  # values of rows that later rows extend

    def values(self, needed: list[int], inputs: _Inputs) -> Tensor:
        """``[row, batch, d_model]`` for the rows ``needed`` (one stage's)."""
        plan = self.plan
        todo: list[int] = []
        entries = []
        for j, r in enumerate(needed):
            row = plan.rows[r]
            if row.label == MIXED:
                todo.append(j)
            entries.append(inputs.entry(NEW if row.label == MIXED else row.label, row.port, row.t))
        values = inputs.take(entries)
        if not todo:
            return values
        ref_idx: tuple[list[int], list[int]] = ([], [])
        mix_idx: tuple[list[int], list[int]] = ([], [])
        extending: list[int] = []  # positions in todo
        for i, j in enumerate(todo):
            parent, start = self.extends.get(needed[j], (None, 0))
            if parent is not None:
                extending.append(i)
            for child in plan.rows[needed[j]].children[start:]:
                if child.kind == REF:
                    ref_idx[0].append(i)
                    ref_idx[1].append(self.row_of[child.node] * self.n_pos + child.t)
                elif isinstance(child, Mixed):
                    mix_idx[0].append(i)
                    mix_idx[1].append(child.index)
        total = rows_sum(ref_idx, len(todo), self.ref_delta) + rows_sum(mix_idx, len(todo), self.mixed)
        total = total.view(len(todo), *values.shape[1:])
        if extending:  # + the parent's value - the parent's own base input
            parents = [self.extends[needed[todo[i]]][0] for i in extending]
            old = inputs.take([inputs.entry(NEW, plan.rows[p].port, plan.rows[p].t) for p in parents])
            total[torch.tensor(extending, device=total.device)] += torch.stack([self.kept[p] for p in parents]) - old
        values[torch.tensor(todo, device=values.device)] += total
        for j in todo:
            if needed[j] in self.parents:
                self.kept[needed[j]] = values[j]
        return values


def _heads(model: ResidualModel, plan: Plan, indices, values, local, clean: RunCache, ablated: RunCache) -> Tensor:  # type: ignore[no-untyped-def]
    """Outputs ``[copy, batch, d_model]`` of one stage's head copies, each at its own query
    position. Each distinct row is normalised once and projected once per head that reads it;
    only the ``d_head``-wide projections are gathered per copy and key position."""
    copies = [plan.copies[i] for i in indices]
    layer = copies[0].node.layer
    device = values.device
    heads = torch.tensor([c.node.head for c in copies], device=device)
    t = torch.tensor([c.t for c in copies], device=device)
    width = int(t.max()) + 1
    w, b = (model.ln1_w[layer], model.ln1_b[layer]) if model.config.norm else (None, None)
    normed = model._norm(values, w, b)  # [row batch d_model]
    blank = len(values)  # key positions after a copy's t read this index (masked out)

    def rows_of(channel: int) -> Tensor:  # [copy, kpos]: row index per key position
        idx = [[local[r] for r in c.rows[channel]] + [blank] * (width - len(c.rows[channel])) for c in copies]
        return torch.tensor(idx, device=device)

    patterns: list[Tensor | None] = []
    todo: list[int] = []
    for j, c in enumerate(copies):
        label = c.pattern_label()
        if label is not None:
            run = clean if label == REF else ablated
            patterns.append(run.patterns[layer][c.node.head, :, c.t, :width])
        else:
            patterns.append(None)
            todo.append(j)
    if todo:
        sel = torch.tensor(todo, device=device)
        q_rows = torch.tensor([[local[copies[j].rows[0][0]]] for j in todo], device=device)
        q = _projected(model, layer, "q", normed, q_rows, heads[sel])
        k = _projected(model, layer, "k", normed, rows_of(1)[sel], heads[sel])
        fresh = model.attend(q, k, t[sel][:, None, None])
        for n, j in enumerate(todo):
            patterns[j] = fresh[n, :, 0]
    v = _projected(model, layer, "v", normed, rows_of(2), heads)
    return model.write(layer, heads, torch.stack(patterns)[:, :, None], v)[:, :, 0]  # type: ignore[arg-type]


def _projected(model: ResidualModel, layer: int, channel: str, normed: Tensor, rows: Tensor,
               heads: Tensor) -> Tensor:
    """``[copy, batch, kpos, d_head]``: the normalised rows ``rows[copy, kpos]`` (``len(normed)``:
    padding) projected by each copy's head for ``channel``, bias added; each (row, head) pair once."""
    weight, bias = model.qkv(channel)
    index = heads if channel == "q" else model._kv(heads)
    n_copy, n_key = rows.shape
    out = normed.new_zeros(n_copy, n_key, normed.shape[1], weight.shape[-1])
    for h in torch.unique(index).tolist():
        chosen = (index == h).nonzero().flatten()
        used, inverse = torch.unique(rows[chosen], return_inverse=True)
        real = used < len(normed)  # padding rows stay zero: masked keys, or never read
        proj = torch.zeros(len(used), normed.shape[1], weight.shape[-1], dtype=normed.dtype, device=normed.device)
        proj[real] = torch.einsum("ubd,de->ube", normed[used[real]], weight[layer, h]) + bias[layer, h]
        out[chosen] = proj[inverse]
    return out.transpose(1, 2)
