"""Edge cuts run as patched forward passes (docs/design.md §3-§4; :mod:`pathpatch.lang.nodecut`).

An :class:`~pathpatch.lang.nodecut.EdgeCut` ``EdgeCut(r, E)`` (the paths that use one of the
positional edges ``E`` into one receiver ``r``; with ``negated`` every other path) is one forward
pass in which ``r`` at each position ``t`` of ``E`` reads, through each port and at each key
position, the senders that ``E`` names there from the *on* run (the clean run; the ablated run
when negated) and every other input from the *off* run, and every other value is the off run's.

:func:`edge_bucket` computes it for cuts into one receiver, stacked over hypotheses: first the
receiver's new values, one per (hypothesis, receiver position) (a head at ``t`` reads its own
keys and values at ``0..t``, so each position is computed apart, in chunks of ``work``
elements per example; a copy whose every input is the on run's is the on run's value, as the tree
gives under mean or zero ablation), then the forward after the receiver's stage from the off run's
residual plus the receiver's deltas, from the first changed position on
(:func:`~.cutforward.forward_after`). No Python loop runs per position or per copy: the inputs are
gathered per (port, sender) with index tensors.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import torch
from torch import Tensor

from ..graph import Graph, Node, Port
from ..lang.nodecut import EdgeCut
from ..model.residual import ResidualModel
from .cache import RunCache
from .cutforward import Masks, Runs, first_stage, forward_after

__all__ = ["edge_bucket", "receiver_values"]


def edge_bucket(model: ResidualModel, cuts: Sequence[EdgeCut], p0: int, runs: Runs, negated: bool, work: int) -> Tensor:
    """Logits ``[hyp, batch, rows, vocab]`` at the read positions ``>= p0`` of edge cuts into one
    receiver (one direction), or ``[hyp, row, vocab]`` at the target rows there."""
    cfg, graph = model.config, model.graph
    on, off = runs.runs[negated]
    receiver = cuts[0].receiver
    window = off.stage_inputs[0].shape[1] - p0
    if receiver.kind == "out":
        return _out(model, cuts, p0, on, off, runs)
    hyp, at, delta = receiver_values(model, cuts, on, off, work)
    base = off.stage_inputs[first_stage(graph, graph.stage_of(receiver))][:, p0:]
    x = base.expand(len(cuts), *base.shape).clone()  # [hyp batch window d]
    x[hyp, :, at - p0] += delta
    changed = torch.zeros(len(cuts), window, dtype=torch.bool, device=x.device)
    changed[hyp, at - p0] = True
    masks = Masks(changed, torch.zeros_like(changed), torch.ones_like(changed))
    pos = off.outputs[Node("pos")][None, :, p0:] if cfg.positions == "shortformer" else None
    return forward_after(model, graph.stage_of(receiver), x, pos, masks, p0, off, off, runs)


def receiver_values(
    model: ResidualModel, cuts: Sequence[EdgeCut], on: RunCache, off: RunCache, work: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The receiver's changes: ``(hyp, at, delta)``, one entry per (cut, receiver position) of
    the cuts' edges, ``delta [entry, batch, d]`` its new value there minus the off run's."""
    graph = model.graph
    receiver = cuts[0].receiver
    ports = [Port(receiver, c) for c in receiver.channels]
    cells = sorted({(j, e.receiver_at) for j, cut in enumerate(cuts) for e in cut.edges})
    index = {cell: i for i, cell in enumerate(cells)}
    device = off.device
    hyp = torch.tensor([j for j, _ in cells], dtype=torch.long, device=device)
    at = torch.tensor([t for _, t in cells], dtype=torch.long, device=device)
    # per port and sender: the (cell, sender position) pairs that read it from the on run
    reads: dict[tuple[Port, Node], tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    used: Counter[tuple[int, int]] = Counter()
    for j, cut in enumerate(cuts):
        for e in cut.edges:
            cell, (rows, keys) = index[(j, e.receiver_at)], reads[(e.edge.receiver, e.edge.sender)]
            rows.append(cell)
            keys.append(e.sender_at)
            used[(j, e.receiver_at)] += 1
    every = torch.tensor(
        [used[c] == sum(len(graph.senders(p)) * len(graph.sender_positions(p, c[1])) for p in ports) for c in cells],
        dtype=torch.bool,
        device=device,
    )
    length = int(at.max()) + 1
    d = off.stage_inputs[0].shape[-1]
    chunk = max(1, work // (len(ports) * length * d))
    parts = []
    for lo in range(0, len(cells), chunk):
        hi = min(lo + chunk, len(cells))
        inputs = {p: _inputs(p, lo, hi, at, length, reads, on, off, graph) for p in ports}
        parts.append(_compute(model, receiver, inputs, at[lo:hi]))
    new = torch.cat(parts)
    new = torch.where(every[:, None, None], on.outputs[receiver][:, at].transpose(0, 1), new)
    return hyp, at, new - off.outputs[receiver][:, at].transpose(0, 1)


def _inputs(
    port: Port,
    lo: int,
    hi: int,
    at: Tensor,
    length: int,
    reads: dict[tuple[Port, Node], tuple[list[int], list[int]]],
    on: RunCache,
    off: RunCache,
    graph: Graph,
) -> Tensor:
    """The port's inputs of cells ``lo..hi``: ``[cell, batch, length, d]`` for k and v (every key
    position up to the longest), ``[cell, batch, d]`` at the cell's position otherwise."""
    base = off.port_input(port, graph)
    keyed = port.channel in ("k", "v")
    if keyed:
        x = base[:, :length].expand(hi - lo, *base[:, :length].shape).clone()
    else:
        x = base[:, at[lo:hi]].transpose(0, 1).clone()
    for (p, sender), (rows, keys) in reads.items():
        if p != port:
            continue
        cell = torch.tensor(rows, dtype=torch.long, device=x.device)
        key = torch.tensor(keys, dtype=torch.long, device=x.device)
        mine = (cell >= lo) & (cell < hi)
        if not bool(mine.any()):
            continue
        cell, key = cell[mine] - lo, key[mine]
        delta = (on.outputs[sender][:, key] - off.outputs[sender][:, key]).transpose(0, 1)  # [n batch d]
        if keyed:
            x[cell, :, key] += delta
        else:
            x[cell] += delta
    return x


def _compute(model: ResidualModel, receiver: Node, inputs: dict[Port, Tensor], at: Tensor) -> Tensor:
    """The receiver's new values ``[cell, batch, d]`` at each cell's position from its inputs."""
    assert receiver.layer is not None
    if receiver.kind == "mlp":
        (mlp_in,) = inputs.values()
        return model.mlp(receiver.layer, mlp_in)
    assert receiver.head is not None
    layer, n = receiver.layer, len(at)
    by = {p.channel: v for p, v in inputs.items()}
    heads = torch.full((n,), receiver.head, dtype=torch.long, device=at.device)
    q = model.project(layer, "q", by["q"][:, :, None], heads)  # [cell batch 1 d_head]
    k = model.project(layer, "k", by["k"], heads)
    pattern = model.attend(q, k, at.view(n, 1, 1))
    return model.write(layer, heads, pattern, model.project(layer, "v", by["v"], heads))[:, :, 0]


def _out(model: ResidualModel, cuts: Sequence[EdgeCut], p0: int, on: RunCache, off: RunCache, runs: Runs) -> Tensor:
    """Edge cuts into ``out``: its input at each position reads the cut's senders there from the
    on run; the logits at the read positions ``>= p0`` (or the target rows there)."""
    graph = model.graph
    base = off.port_input(Port(Node("out"), None), graph)[:, p0:]
    x = base.expand(len(cuts), *base.shape).clone()  # [hyp batch window d]
    by_sender: dict[Node, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for j, cut in enumerate(cuts):
        for e in cut.edges:
            by_sender[e.edge.sender][0].append(j)
            by_sender[e.edge.sender][1].append(e.receiver_at)
    for sender, (hyps, ats) in by_sender.items():
        hyp = torch.tensor(hyps, dtype=torch.long, device=x.device)
        at = torch.tensor(ats, dtype=torch.long, device=x.device)
        x[hyp, :, at - p0] += (on.outputs[sender][:, at] - off.outputs[sender][:, at]).transpose(0, 1)
    rows = [p - p0 for p in runs.at if p >= p0]
    x = x[:, :, rows]
    if runs.targets is not None:
        x = x[:, runs.targets[:, len(runs.at) - len(rows) :]]
    return model.unembed(x)
