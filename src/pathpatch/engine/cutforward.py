"""The forward pass after a cut, stacked over hypotheses (:mod:`.cuts`; docs/design.md §3-§4).

:func:`forward_after` runs the steps after a stage (a layer's heads, its MLP, or both in parallel)
on residual inputs ``x [hyp, batch, window, d]`` at the positions ``p0..`` of the sequence, with
keys and values before ``p0`` from the base run; in the last layer only the queries at the read
positions, and at the end only the target rows, are computed. :class:`Masks` keep, per hypothesis
and position, the base run's values where nothing changed and the other run's where every value
below is that run's, as the treeified model does (under mean or zero ablation a node that reads
only ablated values outputs its ablated value, which recomputing it would not give).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..graph import Graph, Node
from ..lang.nodecut import NodeCut
from ..model.residual import ResidualModel
from .cache import RunCache

__all__ = ["Runs", "Masks", "forward_after", "first_stage", "per_hypothesis"]


@dataclass(frozen=True)
class _Step:
    """One step of the patched forward: a layer's heads (``attn``), its MLP (``mlp``) or both at
    once (``par``, parallel attention and MLP)."""

    kind: str
    layer: int


def _steps(model: ResidualModel, stage: int) -> list[_Step]:
    """The steps of the forward after stage ``stage``, in order."""
    cfg, graph = model.config, model.graph
    steps = []
    for layer in range(cfg.n_layers):
        attn = graph.stage_of(Node("head", layer, 0))
        if cfg.has_mlp and cfg.parallel:
            if attn > stage:
                steps.append(_Step("par", layer))
            continue
        if attn > stage:
            steps.append(_Step("attn", layer))
        if cfg.has_mlp and graph.stage_of(Node("mlp", layer)) > stage:
            steps.append(_Step("mlp", layer))
    return steps


def _stage_after(model: ResidualModel, step: _Step) -> int:
    """The stage whose residual input is the residual after ``step``."""
    cfg = model.config
    mlp_next = step.kind == "attn" and cfg.has_mlp
    return 2 * step.layer + 1 if mlp_next else 2 * step.layer + 2


def first_stage(graph: Graph, stage: int) -> int:
    """The first stage after ``stage`` (whose residual input the forward starts from)."""
    return min(graph.stage_of(n) for n in graph.nodes if graph.stage_of(n) > stage)


def per_hypothesis(model: ResidualModel, window: int, n_pos: int) -> int:
    """Elements one hypothesis of a bucket holds per example at its peak besides its logits (which
    are its result, counted with the results)."""
    cfg = model.config
    d = cfg.d_model
    return window * (9 * d + cfg.n_heads * n_pos + 2 * (cfg.d_mlp or 0)) + 2 * n_pos * d


class Runs:
    """The two runs, with what the buckets share: each run's logits at ``at`` and its keys and
    values per layer (projected, rotated), made on first use."""

    def __init__(
        self, model: ResidualModel, clean: RunCache, ablated: RunCache, at: Sequence[int], targets: Tensor | None
    ) -> None:
        self.model, self.at, self.targets = model, list(at), targets
        self.runs = {False: (clean, ablated), True: (ablated, clean)}  # by negated: (on, off)
        self._logits: dict[int, Tensor] = {}
        self._keys: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    def logits(self, run: RunCache) -> Tensor:
        """``run``'s logits at ``at`` (``[batch, at, vocab]``), or at the target rows."""
        if id(run) not in self._logits:
            x = run.logits[:, self.at]
            self._logits[id(run)] = x if self.targets is None else x[self.targets]
        return self._logits[id(run)]

    def keys(self, run: RunCache, layer: int) -> tuple[Tensor, Tensor]:
        """``run``'s keys and values at layer ``layer``: ``[batch, head, pos, d_head]`` each."""
        key = (id(run), layer)
        if key not in self._keys:
            model = self.model
            x = run.stage_inputs[model.graph.stage_of(Node("head", layer, 0))]
            pos = run.outputs[Node("pos")] if model.config.positions == "shortformer" else None
            k, v = _project_kv(model, layer, x[None], pos, 0)
            self._keys[key] = (k[0], v[0])
        return self._keys[key]


def _project_kv(model: ResidualModel, layer: int, x: Tensor, pos: Tensor | None, start: int) -> tuple[Tensor, Tensor]:
    """Keys and values ``[hyp, batch, head, pos, d_head]`` of residual inputs ``x [hyp, batch,
    pos, d]`` at positions ``start..`` (``pos``: the position embedding q and k add, if any)."""
    cfg = model.config
    w, b = (model.ln1_w[layer], model.ln1_b[layer]) if cfg.norm else (None, None)
    kv = model._kv(torch.arange(cfg.n_heads, device=x.device))
    v_in = model._norm(x, w, b)
    k_in = model._norm(x + pos, w, b) if pos is not None else v_in
    k = torch.einsum("kbpd,hde->kbhpe", k_in, model.W_K[layer, kv]) + model.b_K[layer, kv][:, None]
    v = torch.einsum("kbpd,hde->kbhpe", v_in, model.W_V[layer, kv]) + model.b_V[layer, kv][:, None]
    if cfg.positions == "rotary":
        k = model._rotate(k, torch.arange(start, start + x.shape[2], device=x.device))
    return k, v


def forward_after(
    model: ResidualModel,
    stage: int,
    x: Tensor,
    pos: Tensor | None,
    masks: Masks,
    p0: int,
    base: RunCache,
    alt: RunCache,
    runs: Runs,
) -> Tensor:
    """Logits ``[hyp, batch, rows, vocab]`` at the read positions ``>= p0`` of the forward after
    ``stage`` from residual inputs ``x`` (``pos``: the position embedding q and k read, or None),
    or ``[hyp, row, vocab]`` at the target rows there. Unchanged values are ``base``'s, values
    whose whole input is the other run's are ``alt``'s (``masks``)."""
    cfg = model.config
    rows = torch.tensor([p - p0 for p in runs.at if p >= p0], dtype=torch.long, device=x.device)
    restricted = False
    for step in _steps(model, stage):
        last = step.layer == cfg.n_layers - 1
        if step.kind == "mlp":
            if last and not restricted:
                x, masks, restricted = x[:, :, rows], masks.take(rows), True
            x = x + model.mlp(step.layer, x)
        else:
            attn = _attention(model, step.layer, x, pos, p0, base, runs, rows if last else None)
            read = masks
            masks = masks.attended(p0 == 0)
            if last:
                x, masks, read, restricted = x[:, :, rows], masks.take(rows), read.take(rows), True
                pos = None if pos is None else pos[:, :, rows]
            if step.kind == "par":
                mlp = Node("mlp", step.layer)
                same = [r.outputs[mlp][:, p0:] for r in (base, alt)]
                same = [v[:, rows] for v in same] if last else same
                x = x + attn + read.keep(model.mlp(step.layer, x), *same)
            else:
                x = x + attn
        after = [r.stage_inputs[_stage_after(model, step)][:, p0:] for r in (base, alt)]
        x = masks.keep(x, *([v[:, rows] for v in after] if restricted else after))
    if not restricted:
        x = x[:, :, rows]
    if runs.targets is not None:  # only the target rows: [hyp, row, d]
        x = x[:, runs.targets[:, len(runs.at) - len(rows) :]]
    return model.unembed(x)


@dataclass(frozen=True)
class Masks:
    """Per hypothesis and window position: whether the residual there differs from the off run
    (``changed``; elsewhere it keeps the off run's values) and whether every value below it is the
    on run's (``full``; then it is the on run's). Under mean or zero ablation a node whose inputs
    are all ablated outputs its ablated value, which recomputing it would not give; under
    resampling and for the clean run both are what recomputing gives. ``pos_on``: whether the
    position embedding that q and k read there is the on run's (True without one)."""

    changed: Tensor
    full: Tensor
    pos_on: Tensor

    @staticmethod
    def of(
        cuts: Sequence[NodeCut], below: frozenset[Node], pos: Node | None, p0: int, window: int, device: torch.device
    ) -> Masks:
        changed = torch.zeros(len(cuts), window, dtype=torch.bool)
        full = torch.zeros_like(changed)
        pos_on = torch.ones_like(changed) if pos is None else torch.zeros_like(changed)
        for j, cut in enumerate(cuts):
            by_t: dict[int, set[Node]] = defaultdict(set)
            for u, t in cut.cut:
                by_t[t].add(u)
            for t, nodes in by_t.items():
                changed[j, t - p0] = True
                full[j, t - p0] = below <= nodes
                if pos is not None:
                    pos_on[j, t - p0] = pos in nodes
        return Masks(changed.to(device), full.to(device), pos_on.to(device))

    def take(self, rows: Tensor) -> Masks:
        return Masks(self.changed[:, rows], self.full[:, rows], self.pos_on[:, rows])

    def attended(self, from_start: bool) -> Masks:
        """After a layer's heads: a query reads every key at or before it; a head is all on-run
        only if every position up to its own is (and the window starts at 0)."""
        heads_full = (self.full & self.pos_on).cummin(1).values if from_start else torch.zeros_like(self.full)
        return Masks(self.changed.cummax(1).values, heads_full, self.pos_on)

    def keep(self, x: Tensor, off: Tensor, on: Tensor) -> Tensor:
        """``x`` where it is computed, the off run's ``off`` and the on run's ``on`` (``[batch,
        window, d]``) where those decide."""
        x = torch.where(self.changed[:, None, :, None], x, off)
        return torch.where(self.full[:, None, :, None], on, x)


def _attention(
    model: ResidualModel,
    layer: int,
    x: Tensor,
    pos: Tensor | None,
    p0: int,
    off: RunCache,
    runs: Runs,
    rows: Tensor | None,
) -> Tensor:
    """The heads of ``layer`` on the window ``x [hyp, batch, window, d]`` (queries at ``rows`` of
    it, or all), keys and values before the window from the off run: ``[hyp, batch, q, d]``."""
    cfg = model.config
    H, batch, window = x.shape[:3]
    n_pos = p0 + window
    w, b = (model.ln1_w[layer], model.ln1_b[layer]) if cfg.norm else (None, None)
    k, v = _project_kv(model, layer, x, pos, p0)
    q_in = model._norm(x + pos, w, b) if pos is not None else model._norm(x, w, b)
    where = torch.arange(window, device=x.device) if rows is None else rows
    q = torch.einsum("kbpd,hde->kbhpe", q_in[:, :, where], model.W_Q[layer]) + model.b_Q[layer][:, None]
    q_pos = where + p0
    if cfg.positions == "rotary":
        q = model._rotate(q, q_pos)
    if p0:
        k0, v0 = runs.keys(off, layer)
        k = torch.cat([k0[:, :, :p0].expand(H, *k0[:, :, :p0].shape), k], dim=3)
        v = torch.cat([v0[:, :, :p0].expand(H, *v0[:, :, :p0].shape), v], dim=3)
    mask = torch.arange(n_pos, device=x.device)[None, :] <= q_pos[:, None]
    z = F.scaled_dot_product_attention(
        q.flatten(0, 1), k.flatten(0, 1), v.flatten(0, 1), attn_mask=mask, scale=cfg.scale
    ).view(H, batch, cfg.n_heads, len(where), cfg.d_head)
    return torch.einsum("kbhqe,hed->kbqd", z, model.W_O[layer]) + model.b_O[layer]
