"""Executing a plan: compute the MIXED copies stage by stage, batched (docs/design.md §3-§4, steps 3-4).

One executor for position-free and position-resolved plans. Every copy has a span
(:mod:`.schedule`): every position (a position-free copy, ``[batch, pos, d]``), the target rows
(a position-free copy read only where the metric reads, ``[row, d]``, :mod:`.rows`) or one
position (a position-resolved copy, ``[batch, d]``). All MIXED copies of one stage (every
hypothesis, and every position, at once) are stacked along a ``copy`` axis. A copy's channel
input is a cached input of one run plus signed deltas of its children, summed over stacked delta
tables (:mod:`.sums`): one per span, and the clean - ablated deltas of every node (at every
position, for one-position rows). A channel that reads only cached values of one run takes that
run's cached input, and a head whose q and k channels are both cached reuses that run's attention
pattern, so only its value path is recomputed (:mod:`.heads`). A head copy at one position ``t``
reads its k and v inputs at ``0..t``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from jaxtyping import Bool
from torch import Tensor

from ..graph import Graph, Node, Port
from ..model.residual import ResidualModel
from .cache import RunCache
from .copies import NEW, REF, Mixed, Plan, RunKind
from .cuts import cut_logits
from .heads import Channel, Queries, channel_of, gathered, head_copies
from .rows import TargetRows
from .schedule import FULL, POINT, ROWS, CachedInput, RowGroup, Schedule, Span, Stage, narrow_copies, schedule
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
    ``targets`` only the rows ``logits[targets]``, ``[row, vocab]``. Position-resolved plans
    compute the logits at the plan's positions ``at``: without ``targets`` they must be every
    position; with them, ``at`` holds every position ``targets`` selects."""
    graph = model.graph
    positional = plan.n_pos is not None
    rows = TargetRows.of(targets.to(clean.device)) if targets is not None and not positional else None
    sched = schedule(plan, graph, rows is not None)
    inputs = _PortInputs(graph, clean, ablated, rows)
    tables = _Tables(graph, sched, clean, ablated, rows, plan.n_pos)
    logits: dict[int, Tensor] = {}
    for stage in sched.stages:
        summed = {span: tables.sums(group, inputs) for span, group in stage.groups.items()}
        if stage.key.span == POINT:
            channels = _point_channels(plan.copies[stage.indices[0]].node, stage, summed, inputs)
        else:
            channels = [
                channel_of([inputs.of(d) if isinstance(d, CachedInput) else d for (d,) in per_copy], summed)
                for per_copy in stage.channels
            ]
        outputs = _compute(model, plan, stage, channels, clean, ablated, rows)
        if plan.copies[stage.indices[0]].node.kind == "out":
            logits.update(zip(stage.indices, outputs))
        else:
            tables.store(plan, stage, outputs, inputs)

    taken: dict[RunKind, Tensor] = {}  # a run's logits at the rows, one tensor shared by every root that reads it
    point = targets.to(clean.device)[:, _at(plan)] if positional and targets is not None else None
    cut = _cut_results(model, plan, clean, ablated, targets)
    result = []
    for h, roots in enumerate(plan.roots):
        if h in cut:
            result.append(cut[h])
            continue
        columns = []
        for t, root in zip(plan.at, roots):
            if isinstance(root, Mixed):
                columns.append(logits[root.index])
                continue
            run = (ablated if root.kind == NEW else clean).logits
            if t is not None or rows is None:
                columns.append(run[:, t] if t is not None else run)
            else:
                if root.kind not in taken:
                    taken[root.kind] = rows.take(run)
                columns.append(taken[root.kind])
        if positional:
            stacked = torch.stack(columns, dim=1)
            result.append(stacked if point is None else stacked[point])
        else:
            result.append(columns[0])
    return result


@dataclass
class _Gather:
    """The inputs :meth:`_PortInputs.at` takes from one run's table of one sender group: the
    ``positions`` of the ``wanted`` entries ``index``."""

    run: RunKind
    port: Port
    index: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)


class _PortInputs:
    """Cached inputs of ports (and ablated outputs of nodes) in the two runs, over every position,
    at the target rows, or at chosen positions; memoised."""

    def __init__(self, graph: Graph, clean: RunCache, ablated: RunCache, rows: TargetRows | None) -> None:
        self.graph, self.runs, self.rows = graph, {REF: clean, NEW: ablated}, rows
        self.memo: dict[tuple[RunKind, int, Span], Tensor] = {}
        self.ablated_rows: dict[Node, Tensor] = {}  # ablated outputs at the target rows

    def __call__(self, run: RunKind, port: Port, span: Span) -> Tensor:
        """``run``'s input of ``port`` over ``span``: FULL ``[batch, pos, d]``, ROWS ``[row, d]``,
        POINT ``[pos, batch, d]`` (every position, to take positions from)."""
        # ports with the same senders have the same cached input (Graph.sender_group decides)
        key = (run, self.graph.sender_group(port), span)
        if key not in self.memo:
            x = self.runs[run].port_input(port, self.graph)
            if span == ROWS:
                x = self._rows().take(x)
            elif span == POINT:
                x = x.transpose(0, 1).contiguous()
            self.memo[key] = x
        return self.memo[key]

    def of(self, source: CachedInput) -> Tensor:
        """The cached input ``source`` names, over its span (see :meth:`__call__`)."""
        return self(source.run, source.port, source.span)

    def _rows(self) -> TargetRows:
        assert self.rows is not None, "a ROWS span is scheduled only with target rows"
        return self.rows

    def at(self, wanted: list[CachedInput]) -> Tensor:
        """A new tensor ``[len(wanted), batch, d]``: per entry, its run's input of its port at its ``t``."""
        parts: dict[tuple[RunKind, int], _Gather] = {}
        for i, w in enumerate(wanted):
            assert w.t is not None, "inputs at one position name it"
            part = parts.setdefault((w.run, self.graph.sender_group(w.port)), _Gather(w.run, w.port))
            part.index.append(i)
            part.positions.append(w.t)
        out: Tensor | None = None
        for part in parts.values():
            table = self(part.run, part.port, POINT)  # [pos batch d]
            values = table[torch.tensor(part.positions, device=table.device)]
            if len(parts) == 1:
                return values  # index is 0..len-1: a fresh tensor already
            if out is None:
                out = values.new_empty(len(wanted), *values.shape[1:])
            out[torch.tensor(part.index, device=out.device)] = values
        assert out is not None
        return out

    def ablated_output(self, node: Node, row_only: bool) -> Tensor:
        x = self.runs[NEW].outputs[node]
        if not row_only:
            return x
        if node not in self.ablated_rows:
            self.ablated_rows[node] = self._rows().take(x)
        return self.ablated_rows[node]


class _Tables:
    """Delta tables: clean - ablated per node (per node and position, for POINT rows), and mixed -
    ablated per computed copy, one table per span (FULL ``[copy, batch, pos, d]``, ROWS ``[copy,
    row, d]``, POINT ``[copy, batch * d]``); and the values of POINT rows that later rows extend."""

    def __init__(
        self,
        graph: Graph,
        sched: Schedule,
        clean: RunCache,
        ablated: RunCache,
        rows: TargetRows | None,
        n_pos: int | None,
    ) -> None:
        self.rows, self.sched = rows, sched
        senders = [n for n in graph.nodes if n.kind != "out"]
        self.row_of = {n: i for i, n in enumerate(senders)}
        counts = sched.counts
        if counts[FULL] or counts[ROWS]:
            self.ref = torch.stack([clean.outputs[n] - ablated.outputs[n] for n in senders])  # [node batch pos d]
            shape = tuple(self.ref.shape[1:])
            # zeros, not empty: a dense sum over a prefix of the table multiplies unused rows by 0
            self.full = self.ref.new_zeros((max(counts[FULL], 1),) + shape)
            self.at: Tensor | None = (
                self.ref.new_zeros(max(counts[ROWS], 1), len(rows), shape[-1]) if rows is not None else None
            )
            self._ref_rows: Tensor | None = None
        if counts[POINT]:
            assert n_pos is not None
            self.n_pos = n_pos
            # [(node, t), batch * d]: the ablated output, and clean - ablated, of every node at every position
            base = torch.stack([ablated.outputs[n].transpose(0, 1) for n in senders])
            self.point_base = base.view(len(senders) * n_pos, -1)
            ref = torch.stack([clean.outputs[n].transpose(0, 1) for n in senders])
            self.point_ref = ref.view_as(self.point_base).sub_(self.point_base)
            self.point = ref.new_zeros(counts[POINT], self.point_base.shape[1])
            self.kept: dict[int, Tensor] = {}

    def store(self, plan: Plan, stage: Stage, outputs: Tensor, inputs: _PortInputs) -> None:
        """Record each output minus its node's ablated output as the copy's delta."""
        slot = self.sched.slot
        if stage.key.span == POINT:  # every copy in one step
            copies = [plan.copies[i] for i in stage.indices]
            at = [self.row_of[c.node] * self.n_pos + _position(c.t) for c in copies]
            device = outputs.device
            self.point[torch.tensor([slot[i] for i in stage.indices], device=device)] = (
                outputs.reshape(len(copies), -1) - self.point_base[torch.tensor(at, device=device)]
            )
            return
        row_only = stage.key.span == ROWS
        table = self.at if row_only else self.full
        assert table is not None, "a ROWS stage is scheduled only with target rows"
        for pos, index in enumerate(stage.indices):
            torch.sub(outputs[pos], inputs.ablated_output(plan.copies[index].node, row_only), out=table[slot[index]])

    def sums(self, group: RowGroup, inputs: _PortInputs) -> Tensor:
        """The summed inputs of a group's rows: ``[row, batch, pos, d]`` (FULL), ``[row, target,
        d]`` (ROWS) or ``[row, batch, d]`` (POINT)."""
        if group.span == POINT:
            return self._point_sums(group, inputs)
        row_only = group.span == ROWS
        bases = [inputs.of(b) for b in group.bases]
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

    def _point_sums(self, group: RowGroup, inputs: _PortInputs) -> Tensor:
        total = inputs.at(group.bases)  # [row batch d], a new tensor
        flat = total.view(len(total), -1)
        group.ref.apply(self.point_ref, out=flat)
        group.mixed.apply(self.point, out=flat)
        if group.extend:  # + the earlier row's value - its own base input
            here = torch.tensor([e.row for e in group.extend], device=total.device)
            earlier = torch.stack([self.kept[e.parent] for e in group.extend])
            total[here] += earlier - inputs.at([e.base for e in group.extend])
        for r, row_id in group.keep.items():
            self.kept[row_id] = total[r]
        return total


def _cut_results(
    model: ResidualModel, plan: Plan, clean: RunCache, ablated: RunCache, targets: Tensor | None
) -> dict[int, Tensor]:
    """The logits of the plan's cut hypotheses (:mod:`.cuts`), by hypothesis, in the layout of the
    walked ones: at the plan's positions (every position, position-free), or at the target rows."""
    if not plan.cuts:
        return {}
    if plan.n_pos is not None:
        at = _at(plan)
    elif targets is not None:
        at = targets.any(0).nonzero().flatten().tolist()
    else:
        at = list(range(clean.stage_inputs[0].shape[1]))
    point = None if targets is None else targets.to(clean.device)[:, at]
    return dict(zip(plan.cuts, cut_logits(model, list(plan.cuts.values()), clean, ablated, at, point)))


def _at(plan: Plan) -> list[int]:
    """The positions of a position-resolved plan's logits."""
    return [_position(t) for t in plan.at]


def _position(t: int | None) -> int:
    """The position of a copy or an input of a POINT span (always set there)."""
    assert t is not None, "a POINT copy sits at one position"
    return t


def _point_channels(node: Node, stage: Stage, summed: dict[Span, Tensor], inputs: _PortInputs) -> list[Channel]:
    """The channels of a stage of copies at one position each, over one table of every input the
    stage reads (its summed rows, the cached inputs it reads, and a zero row that pads the key
    positions after a copy's own)."""
    cached: dict[tuple[RunKind, int, int | None], int] = {}
    wanted: list[CachedInput] = []
    graph = inputs.graph
    for per_copy in stage.channels:
        for sources in per_copy:
            for s in sources:
                if isinstance(s, CachedInput):
                    key = (s.run, graph.sender_group(s.port), s.t)
                    if key not in cached:
                        cached[key] = len(wanted)
                        wanted.append(s)
    parts = [summed[POINT]] if POINT in summed else []
    if wanted:
        parts.append(inputs.at(wanted))
    parts.append(torch.zeros_like(parts[0][:1]))
    unique = torch.cat(parts)
    start, blank = len(summed[POINT]) if POINT in summed else 0, len(unique) - 1
    channels = []
    for name, per_copy in zip(node.channels, stage.channels):
        width = max(len(sources) for sources in per_copy)
        index = torch.tensor(
            [
                [
                    start + cached[(s.run, graph.sender_group(s.port), s.t)] if isinstance(s, CachedInput) else s.index
                    for s in sources
                ]
                + [blank] * (width - len(sources))
                for sources in per_copy
            ],
            device=unique.device,
        )
        channels.append(Channel(unique, index if name in ("k", "v") else index[:, 0], False))  # k, v: per key
    return channels


def _compute(
    model: ResidualModel,
    plan: Plan,
    stage: Stage,
    channels: list[Channel],
    clean: RunCache,
    ablated: RunCache,
    rows: TargetRows | None,
) -> Tensor:
    """Outputs of the copies of one stage from their channel inputs."""
    copies = [plan.copies[i] for i in stage.indices]
    first = copies[0].node
    if first.kind == "mlp":
        assert first.layer is not None
        return model.mlp(first.layer, gathered(channels[0]))
    if first.kind == "out":
        return model.unembed(gathered(channels[0]))
    layer = first.layer
    assert layer is not None
    device = clean.device
    span = stage.key.span
    heads = torch.tensor([c.node.head for c in copies], device=device)
    queries = (
        Queries(rows)
        if span == ROWS
        else Queries(t=torch.tensor([c.t for c in copies], device=device))
        if span == POINT
        else Queries()
    )
    width = channels[1].index.shape[-1] if span == POINT else 0  # key positions
    cached: list[Tensor | None] = []
    for copy in copies:
        label = copy.pattern_label()
        if label is None:
            cached.append(None)
        else:
            run = ablated if label == NEW else clean
            cached.append(queries.pattern(run.patterns[layer][copy.node.head], copy.t, width))
    return head_copies(model, layer, heads, channels[0], channels[1], channels[2], cached, queries)
