"""Traces at 1,024 tokens (engine/budget.py, engine/cuts.py): the budget holds and chunks agree.

A tiny model (so that it is fast) over 1,024 positions: a trace under a budget that holds a few
cells per pass is split into groups and batches whose estimates fit it, and gives the numbers of
the trace without a budget; the same for a positional sender scan's rows (edge cuts).
"""

from __future__ import annotations

import pytest
import torch

import pathpatch as pp
import pathpatch.lang.hypothesis as H
from conftest import tiny_model
from pathpatch.engine.api import Engine
from pathpatch.engine.budget import chunk_work
from pathpatch.graph import Node
from pathpatch.lang.cut import residual_at
from pathpatch.tracing import causal_trace
from tolerance import REDUCTION, close

pytestmark = pytest.mark.numeric

N_POS = 1024


def _pairs() -> pp.Pairs:
    tokens = torch.randint(0, 11, (3, N_POS), generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(3, N_POS, dtype=torch.bool)
    mask[:, N_POS - 9 : N_POS - 1] = True
    return pp.pair_derangement(pp.Dataset.next_token(tokens, mask), 0)


@pytest.mark.slow
def test_a_trace_at_1024_tokens_fits_its_budget_and_chunks_agree() -> None:
    model = tiny_model("absolute", 12, seed=3, n_ctx=N_POS)
    pairs = _pairs()
    positions = list(range(0, N_POS, 32)) + [N_POS - 2]
    kw = dict(kinds=["resid", "attn"], positions=positions, delta="loss", progress=False, n_boot=50)
    whole = causal_trace(model, pairs, **kw)
    budget = 60_000_000  # the two runs' caches of one example are 44 MB (attention patterns: 1,024 x 1,024 each)
    parts = causal_trace(model, pairs, max_memory=budget, **kw)
    assert [r.name for r in parts.rows] == [r.name for r in whole.rows]
    close([r.estimate.value for r in parts.rows], [r.estimate.value for r in whole.rows], steps=REDUCTION)
    hyps = [residual_at(layer, t) for layer in range(2) for t in positions]
    at = tuple(range(N_POS - 9, N_POS - 1))
    chunks = chunk_work(model, Engine(model, hyps), N_POS, 8, budget, 32, {}, frozenset({Node("pos")}), at)
    assert len(chunks) > 1 and all(c.bytes_per_example * c.batch_size <= budget for c in chunks)


def test_positional_sender_rows_at_1024_tokens_chunk_with_the_same_numbers() -> None:
    model = tiny_model("absolute", 12, seed=4, n_ctx=N_POS)
    pairs = _pairs()
    last = N_POS - 2
    senders = ["embed", "pos", "a0.0", "a0.1", "m0"]
    rows = {u: ~(H.through_edge(u, f"a1.0.q@{last}") | H.through_edge(u, f"a1.0.k@{last}")) for u in senders}
    rows |= {f"{u}->v": ~H.through_edge(u, f"a1.0.v@{last}") for u in senders}
    kw = dict(delta="loss", progress=False, n_boot=50)
    budget = 60_000_000
    whole = pp.score(model, rows, pairs, **kw)
    parts = pp.score(model, rows, pairs, max_memory=budget, **kw)
    at = tuple(range(N_POS - 9, N_POS - 1))
    chunks = chunk_work(
        model, Engine(model, list(rows.values())), N_POS, 8, budget, 32, {}, frozenset({Node("pos")}), at
    )
    assert len(chunks) > 1 and all(c.bytes_per_example * c.batch_size <= budget for c in chunks)
    assert parts.names == whole.names
    for a, b in zip(parts, whole):
        close([e.value for e in a.metrics.values()], [e.value for e in b.metrics.values()], steps=REDUCTION)
