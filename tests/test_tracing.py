"""Causal tracing: each cell's path hypothesis equals the hook-based intervention on a Hugging Face
GPT-2 (restore one module's output at one position in the x_new run), and the table and plot."""

from __future__ import annotations

import pytest
import torch

import pathpatch as pp
from conftest import tiny_hf_gpt2, tiny_model
from hooked import restore_with_hook
from pathpatch.engine.api import evaluate
from pathpatch.lang.cut import residual_at
from pathpatch.model.hf_gpt2 import from_hf
from pathpatch.render import plot_trace
from pathpatch.tracing import causal_trace, trace_hypothesis
from tolerance import FORWARD, REDUCTION, approx, close

pytestmark = pytest.mark.numeric


@pytest.mark.parametrize("layer", [0, 1, 2])
@pytest.mark.parametrize("t", [0, 2, 4])
def test_trace_cells_equal_hooked_interventions(layer, t) -> None:  # type: ignore[no-untyped-def]
    hf = tiny_hf_gpt2(seed=3, n_layer=3)
    model = from_hf(hf)
    gen = torch.Generator().manual_seed(layer * 10 + t)
    ref, new = torch.randint(0, 11, (3, 5), generator=gen), torch.randint(0, 11, (3, 5), generator=gen)
    block = hf.transformer.h[layer]
    for kind, module in [("resid", block), ("attn", block.attn), ("mlp", block.mlp)]:
        got = evaluate(model, trace_hypothesis(kind, layer, t), ref, new)
        want = restore_with_hook(hf, module, ref, new, t)
        close(got, want, steps=FORWARD)
    assert (evaluate(model, residual_at(layer, t), ref, new) - model(new)).abs().max() > 1e-3


def test_residual_cut_counts_and_names() -> None:
    model = tiny_model("absolute", 12, seed=1)
    n_pos = 3
    cut = residual_at(0, -1)
    paths = list(model.graph.iter_positioned_paths(n_pos))
    stage_last = model.graph.stage_of(pp.Node("mlp", 0))

    def crosses_at_last(p):  # type: ignore[no-untyped-def]
        for sender, t in reversed(list(zip((p.start,) + tuple(x.node for x in p.ports), p.positions))):
            if model.graph.stage_of(sender) <= stage_last:
                return t == n_pos - 1
        return False

    assert cut.count(model, n_pos=n_pos) == sum(crosses_at_last(p) for p in paths) > 0
    # every path crosses the cut exactly once: the cells of one layer partition all paths
    assert sum(residual_at(0, t).count(model, n_pos=n_pos) for t in range(n_pos)) == len(paths)
    with pytest.raises(pp.InputError, match="layer must be in 0..1"):
        residual_at(2, 0).count(model, n_pos=n_pos)


def test_causal_trace_table_and_plot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = tiny_model("absolute", 12, seed=2)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 11, (12, 4), generator=gen)
    mask = torch.zeros(12, 4, dtype=torch.bool)
    mask[:, -1] = True
    data = pp.Dataset(tokens, mask, torch.randint(0, 11, (12, 4), generator=gen))
    pairs = pp.pair_derangement(data, seed=0)
    table = causal_trace(model, pairs, delta="loss", n_boot=50, progress=False)
    assert len(table.rows) == 3 * 2 * 4
    assert table.grid("resid").shape == (2, 4)
    # the last block's residual at the target position is the whole output there: fully restored
    last = table.grid("resid")[-1]
    assert last[-1] == approx(1.0, steps=REDUCTION)
    close(last[:-1], 0.0, steps=REDUCTION)  # other positions cannot reach the target any more
    assert "causal trace (restore)" in str(table)
    out = plot_trace(table, tmp_path / "trace.png", labels=["a", "b", "c", "d"])
    assert out.stat().st_size > 5000
    with pytest.raises(pp.InputError, match="labels has 2 entries for 4 positions"):
        plot_trace(table, tmp_path / "x.png", labels=["a", "b"])
    with pytest.raises(pp.InputError, match="unknown trace kind"):
        causal_trace(model, pairs, kinds=["mlps"], progress=False)
