"""Node cuts run as patched forward passes (docs/design.md §3-§4; :mod:`pathpatch.lang.nodecut`).

A position-resolved hypothesis that is a node cut ``NodeCut(c, R)`` (``through(v@t)``, its
complement, ``residual_at(l, t)``, unions of them at one stage) is one forward pass of the nodes
above stage ``c`` in which every value below ``c`` reads as the *off* run's (the ablated run; the
clean run when negated) except ``R``'s, which read as the *on* run's. Only part of that forward
differs from the off run, and only that part is computed:

- the stages after ``c``, from the off run's residual at the first of them plus ``R``'s deltas
  (``on - off``; the learned position embedding of a shortformer model, which only q and k read,
  is carried beside the residual);
- the positions from ``min(R)`` on (a *window*): earlier positions read nothing that changed, so
  their keys and values are the off run's, projected once per layer and run;
- in the last layer, only the queries at the positions whose logits are read (the plan's ``at``).

Edge cuts (positional edges into one receiver, :mod:`.edgecut`) are the forward from the
receiver on, from the first position whose receiver changes. A receiver cut (position-free: every
path except those using some edges into one node, a sender scan's row) is the forward from that
node on: the receiver reads its dropped senders from the off run and everything else from the on
run, which is the base the nodes after it start from (a receiver whose every input is dropped
takes the off run's value, as the tree does).

Cuts of one stage (or one receiver), one kind and one direction are stacked along a
``hypothesis`` axis, sorted by their first changed position and bucketed so that a bucket's
window wastes at most a quarter of its positions; a bucket holds at most :data:`CUT_WORK` elements
per example (memory budgets count that, :func:`cut_bytes`). The result is the logits at ``at`` of
every cut, as the walked plan gives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
from jaxtyping import Bool
from torch import Tensor

from ..graph import Edge, Graph, Node, Port
from ..lang.nodecut import Cut, EdgeCut, NodeCut, ReceiverCut
from ..model.residual import ResidualModel
from .cache import RunCache
from .cutforward import Masks, Runs, first_stage, forward_after, per_hypothesis
from .edgecut import edge_bucket

__all__ = ["CUT_WORK", "cut_logits", "cut_bytes", "cut_values"]

CUT_WORK = 1 << 24  # elements per example that one bucket of cuts may hold at once (64 MiB in float32)


def cut_bytes(model: ResidualModel, cuts: int, n_pos: int, at: int, rows: int | None = None) -> int:
    """Elements per example a plan's ``cuts`` cuts hold: their logits at ``at`` positions (at
    ``rows`` target rows, the most of one example, if given), the largest bucket and the off
    runs' keys and values of one layer."""
    if not cuts:
        return 0
    cfg = model.config
    read = at if rows is None else min(at, rows)
    bucket = min(CUT_WORK, cuts * per_hypothesis(model, n_pos, n_pos))
    return cuts * read * cfg.d_vocab + bucket + 4 * n_pos * cfg.d_model + 2 * at * cfg.d_vocab


def cut_values(graph: Graph, cut: Cut, n_pos: int) -> int:
    """How many copies the patched forward of ``cut`` computes (for statistics: what the planner
    would call its MIXED copies): (node, position) values of a node or edge cut (an edge cut's
    receiver at each of its positions, the nodes after its stage from the first on), nodes of a
    receiver cut (each at every position)."""
    if isinstance(cut, ReceiverCut):
        return len(graph.downstream(frozenset({cut.receiver})))
    first = cut.earliest
    if first is None:
        return 0
    if isinstance(cut, EdgeCut):
        stage = graph.stage_of(cut.receiver)
        cells = len({e.receiver_at for e in cut.edges})
    else:
        stage, cells = cut.stage, 0
    above = sum(1 for n in graph.nodes if graph.stage_of(n) > stage)
    return cells + above * (n_pos - first)


@torch.no_grad()
def cut_logits(
    model: ResidualModel,
    cuts: Sequence[Cut],
    clean: RunCache,
    ablated: RunCache,
    at: Sequence[int],
    targets: Bool[Tensor, "batch at"] | None = None,
) -> list[Tensor]:
    """The logits at positions ``at`` (sorted) of every cut's patched forward (see the module
    doc): ``[batch, len(at), vocab]``, or with ``targets`` (a mask over ``at``) only its rows
    ``[row, vocab]``, row-major as ``logits[targets]``."""
    n_pos = clean.stage_inputs[0].shape[1]
    runs = Runs(model, clean, ablated, at, targets)
    out: list[Tensor | None] = [None] * len(cuts)
    groups: dict[tuple[int | tuple[str, Node], bool], list[tuple[int, int]]] = defaultdict(list)
    for i, cut in enumerate(cuts):
        if isinstance(cut, ReceiverCut):
            groups[(("receiver", cut.receiver), cut.negated)].append((0, i))
            continue
        first = cut.earliest
        if first is None or not at or first > at[-1]:
            out[i] = runs.logits(runs.runs[cut.negated][1])  # nothing the metric reads changes
        else:
            place = cut.stage if isinstance(cut, NodeCut) else ("edges", cut.receiver)
            groups[(place, cut.negated)].append((first, i))
    for (key, negated), members in groups.items():
        members.sort()
        start = 0
        while start < len(members):
            p0 = members[start][0]
            cap = max(1, CUT_WORK // per_hypothesis(model, n_pos - p0, n_pos))
            end = start + 1
            while end < len(members) and end - start < cap and 4 * (n_pos - p0) <= 5 * (n_pos - members[end][0]):
                end += 1
            chosen = [i for _, i in members[start:end]]
            if isinstance(key, tuple) and key[0] == "receiver":
                receivers = [c for c in (cuts[i] for i in chosen) if isinstance(c, ReceiverCut)]
                logits = _receiver_bucket(model, receivers, runs, negated)
            elif isinstance(key, tuple):
                edges = [c for c in (cuts[i] for i in chosen) if isinstance(c, EdgeCut)]
                logits = edge_bucket(model, edges, p0, runs, negated, CUT_WORK)
            else:
                nodes = [c for c in (cuts[i] for i in chosen) if isinstance(c, NodeCut)]
                logits = _node_bucket(model, nodes, p0, runs, negated)
            off = runs.logits(runs.runs[negated][1])
            before = sum(1 for p in at if p < p0)
            if targets is not None:  # rows before the window are the off run's
                later = targets.clone()
                later[:, :before] = False
                full = off.expand(len(chosen), *off.shape).clone()
                full[:, later[targets]] = logits
            elif before:
                full = torch.cat([off[None, :, :before].expand(len(chosen), -1, -1, -1), logits], dim=2)
            else:
                full = logits
            for j, i in enumerate(chosen):  # views of the bucket's one tensor
                out[i] = full[j]
            start = end
    assert all(x is not None for x in out)
    return [x for x in out if x is not None]


def _node_bucket(model: ResidualModel, cuts: Sequence[NodeCut], p0: int, runs: Runs, negated: bool) -> Tensor:
    """Logits ``[hyp, batch, rows, vocab]`` at the read positions ``>= p0`` of cuts of one stage,
    or ``[hyp, row, vocab]`` at the target rows there."""
    cfg, graph = model.config, model.graph
    on, off = runs.runs[negated]
    stage = cuts[0].stage
    first = first_stage(graph, stage)
    shortformer = cfg.positions == "shortformer"
    pos_node = Node("pos")
    below = frozenset(n for n in graph.nodes if graph.stage_of(n) <= stage and not (shortformer and n == pos_node))
    base = off.stage_inputs[first][:, p0:]
    x = base.expand(len(cuts), *base.shape).clone()  # [hyp batch window d]
    pos_delta: Tensor | None = None
    for j, cut in enumerate(cuts):
        by_t: dict[int, set[Node]] = defaultdict(set)
        for u, t in cut.cut:
            by_t[t].add(u)
        for t, nodes in by_t.items():
            writers = nodes - {pos_node} if shortformer else nodes
            if writers == below:  # the whole residual at t
                x[j, :, t - p0] += on.stage_inputs[first][:, t] - off.stage_inputs[first][:, t]
            else:
                for u in writers:
                    x[j, :, t - p0] += on.outputs[u][:, t] - off.outputs[u][:, t]
            if shortformer and pos_node in nodes:
                if pos_delta is None:
                    pos_delta = torch.zeros_like(x)
                pos_delta[j, :, t - p0] += on.outputs[pos_node][:, t] - off.outputs[pos_node][:, t]
    pos: Tensor | None = None
    if shortformer:
        pos = off.outputs[pos_node][:, p0:]
        pos = pos[None] if pos_delta is None else pos + pos_delta
    masks = Masks.of(cuts, below, pos_node if shortformer else None, p0, x.shape[2], x.device)
    return forward_after(model, stage, x, pos, masks, p0, off, on, runs)


def _receiver_bucket(model: ResidualModel, cuts: Sequence[ReceiverCut], runs: Runs, negated: bool) -> Tensor:
    """Logits of receiver cuts of one receiver: it reads its dropped senders from the off run and
    the rest from the on run (the base whose other values stay), and the nodes after it follow."""
    cfg, graph = model.config, model.graph
    base, other = runs.runs[negated]
    receiver = cuts[0].receiver
    inputs = []
    for channel in receiver.channels:
        port = Port(receiver, channel)
        x = base.port_input(port, graph)
        x = x.expand(len(cuts), *x.shape).clone()  # [hyp batch pos d]
        for j, cut in enumerate(cuts):
            for e in cut.dropped:
                if e.receiver == port:
                    x[j] += other.outputs[e.sender] - base.outputs[e.sender]
        inputs.append(x)
    stage = graph.stage_of(receiver)
    if receiver.kind == "out":
        x = inputs[0][:, :, runs.at]
        return model.unembed(x if runs.targets is None else x[:, runs.targets])
    if receiver.kind == "mlp":
        assert receiver.layer is not None
        out = model.mlp(receiver.layer, inputs[0])
    else:
        assert receiver.layer is not None and receiver.head is not None
        heads = torch.full((len(cuts),), receiver.head, dtype=torch.long, device=inputs[0].device)
        out = model.heads(receiver.layer, heads, *inputs)
    for j, cut in enumerate(cuts):  # every input dropped: the copy is the other run's (mean, zero: not recomputed)
        if all(
            Edge(u, p) in cut.dropped
            for p in map(lambda c: Port(receiver, c), receiver.channels)
            for u in graph.senders(p)
        ):
            out[j] = other.outputs[receiver]
    x = base.stage_inputs[first_stage(graph, stage)] + (out - base.outputs[receiver])
    pos = base.outputs[Node("pos")][None] if cfg.positions == "shortformer" else None
    window = x.shape[2]
    masks = Masks(
        torch.ones(len(cuts), window, dtype=torch.bool, device=x.device),
        torch.zeros(len(cuts), window, dtype=torch.bool, device=x.device),
        torch.ones(len(cuts), window, dtype=torch.bool, device=x.device),
    )
    return forward_after(model, stage, x, pos, masks, 0, base, base, runs)
