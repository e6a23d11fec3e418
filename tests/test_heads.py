"""The engine's one head-maths function: each way of projecting deduplicated inputs (every head at
once, one input per copy, distinct (head, input) pairs) equals projecting each copy's own input."""

from __future__ import annotations

import pytest
import torch

from pathpatch.engine.heads import Channel, _project
from tolerance import REDUCTION, close

pytestmark = pytest.mark.numeric


def _reference(w, b, x, index, heads):  # type: ignore[no-untyped-def]
    """Copy by copy (and key by key): the input it reads times its head's matrix, plus bias."""
    if index.dim() == 1:
        return torch.stack([x[i] @ w[h] + b[h] for i, h in zip(index.tolist(), heads.tolist())])
    return torch.stack(
        [torch.stack([x[i] @ w[h] + b[h] for i in row]) for row, h in zip(index.tolist(), heads.tolist())]
    )


@pytest.mark.parametrize(
    "n_inputs, n_copies, keyed, repeated",
    [
        (1, 12, False, True),  # a forward pass: one input, every head (every head at once)
        (9, 9, False, False),  # one input per copy, in order
        (30, 12, False, False),  # distinct inputs, gathered per copy
        (40, 40, False, True),  # many copies over repeated (head, input) pairs
        (3, 10, True, True),  # keys: few rows, many copies (every head at once)
        (50, 20, True, True),  # keys: many rows shared by copies at neighbouring positions
    ],
)
def test_projection_strategies_equal_copy_by_copy(n_inputs: int, n_copies: int, keyed: bool, repeated: bool) -> None:
    gen = torch.Generator().manual_seed(n_inputs * 100 + n_copies)
    n_heads, batch, d, e = 4, 3, 8, 5
    x = torch.randn(n_inputs, batch, d, generator=gen, dtype=torch.float64)
    w = torch.randn(n_heads, d, e, generator=gen, dtype=torch.float64)
    b = torch.randn(n_heads, e, generator=gen, dtype=torch.float64)
    heads = torch.randint(0, n_heads, (n_copies,), generator=gen)
    if keyed:
        index = torch.randint(0, n_inputs, (n_copies, 4), generator=gen)
        identity = False
    elif repeated:
        index = torch.randint(0, n_inputs, (n_copies,), generator=gen)
        identity = False
    else:
        index = torch.arange(n_copies) if n_inputs == n_copies else torch.randperm(n_inputs, generator=gen)[:n_copies]
        identity = n_inputs == n_copies
    channel = Channel(x, index, identity)
    for chosen in (torch.arange(n_copies), torch.arange(0, n_copies, 2)):
        got = _project(w, b, channel, chosen, heads[chosen])
        want = _reference(w, b, x, index[chosen], heads[chosen])
        close(got, want, steps=REDUCTION)
