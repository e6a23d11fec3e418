"""Computing the copies of one stage from deduplicated channel inputs.

Many copies of a stage read the same input through a channel: every head of one hypothesis reads
the same summed row, and every copy whose channel is cached reads that run's input. So each
channel is given as its distinct inputs ``unique [u, ...]`` and, per copy, the index of its input.
Heads normalise each distinct input once and project it either for every head of the layer at
once (when few distinct inputs serve many copies, as in a forward pass) or per copy, whichever
computes less. Only then are the ``d_head``-wide projections gathered per copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..model.residual import ResidualModel, per_head
from .rows import TargetRows

__all__ = ["Channel", "channel_of", "gathered", "head_copies"]


@dataclass(frozen=True)
class Channel:
    """One channel's inputs for the copies of a stage: ``unique[index[c]]`` is copy c's input."""

    unique: Float[Tensor, "u ..."]
    index: Int[Tensor, " copy"]
    identity: bool  # index is 0..copy-1 (unique holds one input per copy, in order)


def channel_of(values: list, summed: dict[bool, Tensor]) -> Channel:  # type: ignore[type-arg]
    """``values[c]``: a cached tensor, or ``(flag, i)`` naming row i of ``summed[flag]``."""
    device = next(iter(summed.values())).device if summed else values[0].device
    if all(isinstance(v, tuple) for v in values) and len({v[0] for v in values}) == 1:
        table = summed[values[0][0]]
        ids = [v[1] for v in values]
        first = min(ids)
        if ids == list(range(first, first + len(ids))):
            return Channel(table[first : first + len(ids)], torch.arange(len(ids), device=device), True)
        used = sorted(set(ids))
        local = {u: i for i, u in enumerate(used)}
        unique = table[used[0] : used[-1] + 1] if used == list(range(used[0], used[-1] + 1)) else \
            table.index_select(0, torch.tensor(used, device=device))
        return Channel(unique, torch.tensor([local[i] for i in ids], device=device), False)
    keys: dict[object, int] = {}
    tensors: list[Tensor] = []
    index = []
    for v in values:
        key = v if isinstance(v, tuple) else id(v)
        if key not in keys:
            keys[key] = len(tensors)
            tensors.append(summed[v[0]][v[1]] if isinstance(v, tuple) else v)
        index.append(keys[key])
    identity = len(tensors) == len(values)
    return Channel(torch.stack(tensors), torch.tensor(index, device=device), identity)


def gathered(channel: Channel) -> Tensor:
    """The per-copy inputs ``[copy, ...]``."""
    return channel.unique if channel.identity else channel.unique[channel.index]


def _project(w: Tensor, b: Tensor, normed: Channel, index: Tensor, heads: Tensor) -> Tensor:
    """Per copy: its normalised input times its head's matrix, plus bias: ``[copy, ..., d_head]``."""
    x = normed.unique
    if x.shape[0] * w.shape[0] <= 2 * len(heads):  # few inputs, many copies: every head at once
        out = torch.einsum("u...d,hde->uh...e", x, w)[normed.index[index], heads]
    else:
        # ``index`` is sorted and distinct, so its full length means every copy, in order
        rows = x if normed.identity and len(index) == x.shape[0] else x[normed.index[index]]
        out = per_head(rows, w, heads)
    return out + b[heads].view(len(heads), *([1] * (out.dim() - 2)), -1)


def head_copies(
    model: ResidualModel,
    layer: int,
    heads: Int[Tensor, " copy"],
    q: Channel,
    k: Channel,
    v: Channel,
    cached: list[Tensor | None],
    rows: TargetRows | None,
) -> Tensor:
    """Outputs of head copies ``[copy, batch, pos, d_model]`` (``[copy, row, d_model]`` with
    ``rows``: q at the target rows only). ``cached[c]``: copy c's attention pattern if it can reuse
    a cached one (``[batch, qpos, kpos]``, or ``[batch, slot, kpos]`` with rows), else None."""
    cfg = model.config
    w, b = (model.ln1_w[layer], model.ln1_b[layer]) if cfg.norm else (None, None)

    def norm(ch: Channel) -> Channel:
        return Channel(model._norm(ch.unique, w, b), ch.index, ch.identity)

    kv_heads = model._kv(heads)
    todo = [c for c, p in enumerate(cached) if p is None]
    patterns = None
    if todo:
        t = torch.tensor(todo, device=heads.device)
        qh = _project(model.W_Q[layer], model.b_Q[layer], norm(q), t, heads[t])
        kh = _project(model.W_K[layer], model.b_K[layer], norm(k), t, kv_heads[t])
        if rows is not None:  # queries laid out per example, at their own positions
            fresh = model.attend(rows.pad(qh), kh, rows.slot_position[None])
        else:
            fresh = model.attend(qh, kh)
        if len(todo) == len(cached):
            patterns = fresh
        else:
            for j, c in enumerate(todo):
                cached[c] = fresh[j]
    if patterns is None:
        patterns = torch.stack(cached)  # type: ignore[arg-type]
    everyone = torch.arange(len(heads), device=heads.device)
    vh = _project(model.W_V[layer], model.b_V[layer], norm(v), everyone, kv_heads)
    out = model.write(layer, heads, patterns, vh)
    return rows.unpad(out) if rows is not None else out
