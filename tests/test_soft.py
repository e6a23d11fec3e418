"""Differentiable subgraph evaluation (engine/soft.py): exact at 0/1 masks, gradients by finite
differences, batched masks."""

from __future__ import annotations

import random

import pytest
import torch

import pathpatch as pp
from pathpatch.engine.api import ablated_cache
from pathpatch.engine.cache import run_cache
from pathpatch.engine.soft import EdgeMasks, masked_forward
from pathpatch.errors import InputError, ShapeMismatchError
from tolerance import FORWARD, REDUCTION, close

pytestmark = pytest.mark.numeric

CONFIGS = {
    "shortformer": dict(positions="shortformer"),
    "absolute+mlp": dict(positions="absolute", d_mlp=24),
    "rotary+parallel+gqa": dict(
        positions="rotary", d_mlp=24, parallel=True, n_kv_heads=1, norm_kind="rmsnorm", gated=True, act="silu"
    ),
}


def _model(name: str, dtype: torch.dtype = torch.float32) -> pp.ResidualModel:
    torch.manual_seed(len(name))
    cfg = pp.NativeConfig(
        n_layers=3, n_heads=2, d_model=16, d_head=4, d_vocab=20, n_ctx=8, init_std=0.3, **CONFIGS[name]
    )
    return pp.native_model(cfg).placed(dtype=dtype)


def _tokens(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 20, (3, 6), generator=g), torch.randint(0, 20, (3, 6), generator=g)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("ablation", ["resample", "mean", "zero"])
def test_zero_one_masks_equal_the_exact_engine(name: str, ablation: str) -> None:
    model = _model(name)
    ref, new = _tokens(1)
    clean, ablated = run_cache(model, ref), ablated_cache(model, ref, new, ablation)  # type: ignore[arg-type]
    masks = EdgeMasks(model.graph)
    rnd = random.Random(name + ablation)
    for frac in (0.0, 0.2, 0.5, 0.8, 1.0):
        kept = [e for e in model.graph.edges if rnd.random() < frac]
        exact = pp.evaluate(model, pp.subgraph(kept), ref, new, ablation=ablation)  # type: ignore[arg-type]
        soft = masked_forward(model, masks.of(kept), clean, ablated, resample=ablation == "resample")
        close(soft, exact, steps=FORWARD, msg=f"{frac}")
    # the two ends are the two runs
    close(
        masked_forward(model, masks.of(model.graph.edges), clean, ablated, resample=ablation == "resample"),
        clean.logits,
        steps=FORWARD,
    )


def test_mean_ablation_needs_the_gate() -> None:
    """Without the gate a copy with every input off would apply the node to mean inputs, which is
    not the node's mean output: the resample formula is wrong for mean ablation."""
    model = _model("absolute+mlp")
    ref, new = _tokens(2)
    clean, ablated = run_cache(model, ref), ablated_cache(model, ref, new, "mean")
    masks = EdgeMasks(model.graph)
    kept = [e for e in model.graph.edges if e.receiver.node.layer != 0]  # layer 0 reads nothing kept
    exact = pp.evaluate(model, pp.subgraph(kept), ref, new, ablation="mean")
    wrong = masked_forward(model, masks.of(kept), clean, ablated, resample=True)
    right = masked_forward(model, masks.of(kept), clean, ablated, resample=False)
    close(right, exact, steps=FORWARD)
    assert (wrong - exact).abs().max() > 1e-3


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("resample", [True, False])
def test_gradients_match_finite_differences(name: str, resample: bool) -> None:
    model = _model(name, torch.float64)
    ref, new = _tokens(3)
    clean = run_cache(model, ref)
    ablated = ablated_cache(model, ref, new, "resample" if resample else "mean")
    masks = EdgeMasks(model.graph)
    x = torch.rand(masks.n_edges, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x.requires_grad_()

    def f(m: torch.Tensor) -> torch.Tensor:
        return masked_forward(model, m, clean, ablated, resample=resample, masks=masks)[:, -1, :4].sum()

    # every direction at once (a random projection of the Jacobian), then single edges by hand
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-6, fast_mode=True)
    grad = torch.autograd.grad(f(x), x)[0]
    assert grad.abs().max() > 0  # the masks do move the output
    for i in torch.randperm(masks.n_edges, generator=torch.Generator().manual_seed(2))[:6].tolist():
        step = torch.zeros_like(x)
        step[i] = 1e-6
        with torch.no_grad():
            numeric = (f(x + step) - f(x - step)) / 2e-6
        assert abs(float(numeric) - float(grad[i])) <= 1e-6 + 1e-5 * abs(float(numeric))


def test_a_leading_axis_evaluates_several_masks() -> None:
    model = _model("shortformer")
    ref, new = _tokens(4)
    clean, ablated = run_cache(model, ref), ablated_cache(model, ref, new, "resample")
    masks = EdgeMasks(model.graph)
    m = torch.rand(2, 3, masks.n_edges, generator=torch.Generator().manual_seed(1))
    many = masked_forward(model, m, clean, ablated)
    assert many.shape == (2, 3) + tuple(clean.logits.shape)
    for i in range(2):
        for j in range(3):
            close(many[i, j], masked_forward(model, m[i, j], clean, ablated), steps=REDUCTION)


def test_bad_masks_are_typed_errors() -> None:
    model = _model("shortformer")
    ref, new = _tokens(5)
    clean, ablated = run_cache(model, ref), ablated_cache(model, ref, new, "resample")
    masks = EdgeMasks(model.graph)
    with pytest.raises(ShapeMismatchError, match="model has .* edges"):
        masked_forward(model, torch.ones(masks.n_edges + 1), clean, ablated)
    with pytest.raises(InputError, match="floating tensor"):
        masked_forward(model, torch.ones(masks.n_edges, dtype=torch.long), clean, ablated)
    with pytest.raises(InputError, match="not an edge of this model"):
        masks.of(["a1.0 -> a0.1.k"])
