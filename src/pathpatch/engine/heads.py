"""Computing the head copies of one stage from deduplicated channel inputs: the one place the
engine does head maths (attention itself is :meth:`ResidualModel.attend` / ``write``).

Many copies of a stage read the same input through a channel: every head of one hypothesis reads
the same summed row, every copy whose channel is cached reads that run's input, and copies at
neighbouring positions read the same key rows. So each channel is given as its distinct inputs
``unique [u, ...]`` and, per copy, the index of its input (``[copy]``), or of its input at every
key position (``[copy, key]``: copies at one position, whose k and v inputs are rows at
``0..t``). Each distinct (input, head) pair is normalised once and projected once, either for
every head at once (when few distinct inputs serve many copies, as in a forward pass) or pair by
pair, whichever computes less; only then are the ``d_head``-wide projections gathered per copy.

Where a stage's queries sit is a :class:`Queries`: every position (copies over the whole
sequence), the target rows (:mod:`.rows`), or one position per copy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..model.residual import ResidualModel, per_head
from .rows import TargetRows
from .schedule import Span, SummedRow

__all__ = ["Channel", "Queries", "channel_of", "gathered", "head_copies"]


@dataclass(frozen=True)
class Channel:
    """One channel's inputs for the copies of a stage: ``unique[index[c]]`` is copy c's input
    (``index [copy]``), or ``unique[index[c, j]]`` its input at key position j (``[copy, key]``)."""

    unique: Float[Tensor, "u ..."]
    index: Int[Tensor, "copy *key"]  # noqa: F821 (a jaxtyping shape: copy, then any key dims)
    identity: bool  # index is 0..copy-1 (unique holds one input per copy, in order)


@dataclass(frozen=True)
class Queries:
    """Where the head copies of a stage put their queries: at every position (the default), at
    the target ``rows`` only (inputs ``[row, d]``), or each at its own position ``t [copy]``
    (inputs ``[batch, d]``, keys at ``0..t``)."""

    rows: TargetRows | None = None
    t: Int[Tensor, " copy"] | None = None

    def spread(self, q: Tensor) -> Float[Tensor, "copy batch qpos e"]:
        """Projected queries laid out per example."""
        if self.rows is not None:
            return self.rows.pad(q)
        return q[:, :, None] if self.t is not None else q

    def positions(self, chosen: Tensor) -> Tensor | None:
        """The query positions of copies ``chosen``, as :meth:`ResidualModel.attend` takes them."""
        if self.rows is not None:
            return self.rows.slot_position[None]
        return self.t[chosen][:, None, None] if self.t is not None else None

    def pattern(self, pattern: Float[Tensor, "batch qpos kpos"], t: int | None, width: int) -> Tensor:
        """A cached attention pattern at the queries of a copy (at ``t``, keys ``0..width-1``)."""
        if self.rows is not None:
            return pattern[torch.arange(pattern.shape[0], device=pattern.device)[:, None], self.rows.slot_position]
        if t is not None:
            return pattern[:, t : t + 1, :width]
        return pattern

    def gather(self, out: Float[Tensor, "copy batch qpos d"]) -> Tensor:
        """Head outputs back in the inputs' layout."""
        if self.rows is not None:
            return self.rows.unpad(out)
        return out[:, :, 0] if self.t is not None else out


def channel_of(values: Sequence[Tensor | SummedRow], summed: Mapping[Span, Tensor]) -> Channel:
    """``values[c]``: copy c's input, a cached tensor or a :class:`~.schedule.SummedRow` naming
    row ``index`` of ``summed[span]``."""
    rows = [v for v in values if isinstance(v, SummedRow)]
    # no summed rows: every value is a cached tensor
    device = next(iter(summed.values())).device if summed else [v for v in values if isinstance(v, Tensor)][0].device
    if len(rows) == len(values) and len({v.span for v in rows}) == 1:
        table = summed[rows[0].span]
        ids = [v.index for v in rows]
        first = min(ids)
        if ids == list(range(first, first + len(ids))):
            return Channel(table[first : first + len(ids)], torch.arange(len(ids), device=device), True)
        used = sorted(set(ids))
        local = {u: i for i, u in enumerate(used)}
        unique = (
            table[used[0] : used[-1] + 1]
            if used == list(range(used[0], used[-1] + 1))
            else table.index_select(0, torch.tensor(used, device=device))
        )
        return Channel(unique, torch.tensor([local[i] for i in ids], device=device), False)
    keys: dict[SummedRow | int, int] = {}
    tensors: list[Tensor] = []
    index = []
    for v in values:
        key = v if isinstance(v, SummedRow) else id(v)
        if key not in keys:
            keys[key] = len(tensors)
            tensors.append(summed[v.span][v.index] if isinstance(v, SummedRow) else v)
        index.append(keys[key])
    identity = len(tensors) == len(values)
    return Channel(torch.stack(tensors), torch.tensor(index, device=device), identity)


def gathered(channel: Channel) -> Tensor:
    """The per-copy inputs ``[copy, ...]`` (of a channel with one input per copy)."""
    return channel.unique if channel.identity else channel.unique[channel.index]


def _project(w: Tensor, b: Tensor, normed: Channel, chosen: Tensor, heads: Tensor) -> Tensor:
    """Copies ``chosen``'s normalised inputs times their heads' matrices (``heads``, one per chosen
    copy), plus bias: ``[copy, ..., d_head]``, or ``[copy, key, ..., d_head]`` for key inputs."""
    x = normed.unique
    index = normed.index[chosen]
    keyed = index.dim() == 2
    span = [1] * (x.dim() - 2)  # the input's batch and position axes
    per_copy = heads[:, None] if keyed else heads
    # the distinct (head, input) pairs, found once: they decide the strategy and feed the last one
    pairs, inverse = torch.unique(per_copy * len(x) + index, return_inverse=True)
    if x.shape[0] * w.shape[0] <= 2 * len(pairs):  # few inputs, many copies: every head at once
        out = torch.einsum("u...d,hde->uh...e", x, w)[index, per_copy]
    elif not keyed and len(pairs) == len(heads):  # one input per copy: no pair is repeated
        # ``chosen`` is sorted and distinct, so its full length means every copy, in order
        rows = x if normed.identity and len(chosen) == x.shape[0] else x[index]
        out = per_head(rows, w, heads)
    else:  # each distinct (head, input) pair once, then gathered per copy (and key)
        out = per_head(x[pairs % len(x)], w, pairs // len(x))[inverse]
    return out + b[per_copy].view(*per_copy.shape, *span, -1)


def head_copies(
    model: ResidualModel,
    layer: int,
    heads: Int[Tensor, " copy"],
    q: Channel,
    k: Channel,
    v: Channel,
    cached: list[Tensor | None],
    queries: Queries,
) -> Tensor:
    """Outputs of head copies in their queries' layout: ``[copy, batch, pos, d_model]`` (every
    position), ``[copy, row, d_model]`` (target rows) or ``[copy, batch, d_model]`` (one position
    each). ``cached[c]``: copy c's attention pattern if it can reuse a cached one (already at its
    queries, :meth:`Queries.pattern`), else None. Channels that share one ``unique`` table are
    normalised once."""
    cfg = model.config
    w, b = (model.ln1_w[layer], model.ln1_b[layer]) if cfg.norm else (None, None)
    normed: dict[int, Tensor] = {}

    def norm(ch: Channel) -> Channel:
        key = id(ch.unique)
        if key not in normed:
            normed[key] = model._norm(ch.unique, w, b)
        return Channel(normed[key], ch.index, ch.identity)

    def keys(x: Tensor, ch: Channel) -> Tensor:  # [copy, key, batch, e] -> [copy, batch, key, e]
        return x.transpose(1, 2) if ch.index.dim() == 2 else x

    kv_heads = model._kv(heads)
    todo = [c for c, p in enumerate(cached) if p is None]
    patterns = None
    if todo:
        t = torch.tensor(todo, device=heads.device)
        qh = _project(model.W_Q[layer], model.b_Q[layer], norm(q), t, heads[t])
        kh = keys(_project(model.W_K[layer], model.b_K[layer], norm(k), t, kv_heads[t]), k)
        fresh = model.attend(queries.spread(qh), kh, queries.positions(t))
        if len(todo) == len(cached):
            patterns = fresh
        else:
            for j, c in enumerate(todo):
                cached[c] = fresh[j]
    if patterns is None:
        filled = [p for p in cached if p is not None]
        assert len(filled) == len(cached)  # every copy not computed fresh reuses a cached pattern
        patterns = torch.stack(filled)
    everyone = torch.arange(len(heads), device=heads.device)
    vh = keys(_project(model.W_V[layer], model.b_V[layer], norm(v), everyone, kv_heads), v)
    return queries.gather(model.write(layer, heads, patterns, vh))
