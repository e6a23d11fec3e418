"""Hypothesis strategies for the inputs of an oracle comparison: token pairs, targets, ablations."""

from __future__ import annotations

import functools

import torch
from hypothesis import strategies as st

from pathpatch.graph import Path
from pathpatch.model.residual import ResidualModel

ABLATIONS = st.sampled_from(["resample", "mean", "zero"])


@st.composite
def batches(draw, model: ResidualModel, lengths: tuple[int, int] = (2, 8), batch: tuple[int, int] = (3, 4)):  # type: ignore[no-untyped-def]
    """``(ref, new, targets)``: a fresh random token pair per draw, ``new`` sharing some of ``ref``'s
    tokens, and a random target mask (the rows a metric reads)."""
    b, n = draw(st.integers(*batch)), draw(st.integers(*lengths))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    v = model.config.d_vocab
    ref, new = torch.randint(0, v, (b, n), generator=gen), torch.randint(0, v, (b, n), generator=gen)
    shared = torch.rand(b, n, generator=gen) < draw(st.sampled_from([0.0, 0.3]))
    new = torch.where(shared, ref, new)
    targets = torch.rand(b, n, generator=gen) < 0.4
    return ref, new, targets


@functools.cache
def all_paths(model: ResidualModel) -> tuple[Path, ...]:
    return tuple(model.graph.iter_paths())


@functools.cache
def positioned_paths(model: ResidualModel, n_pos: int) -> tuple[Path, ...]:
    return tuple(model.graph.iter_positioned_paths(n_pos))
