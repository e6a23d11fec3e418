"""TransformerLens HookedTransformer adapter: exact match with its own forward (optional extra)."""

from __future__ import annotations

import warnings

import pytest
import torch

import pathpatch as pp
from oracle_zoo import TLENS
from test_oracle import oracle_check
from tolerance import FORWARD, close

tl = pytest.importorskip("transformer_lens")
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.numeric]

CONFIGS = [
    dict(n_layers=2, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=20, act_fn="gelu_new", normalization_type="LN"),
    dict(n_layers=2, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=20, attn_only=True, normalization_type="LN"),
    dict(
        n_layers=2,
        d_model=16,
        n_ctx=8,
        d_head=4,
        n_heads=4,
        d_vocab=20,
        act_fn="silu",
        normalization_type="RMS",
        positional_embedding_type="rotary",
        rotary_dim=4,
        gated_mlp=True,
        n_key_value_heads=2,
    ),
    dict(
        n_layers=1,
        d_model=24,
        n_ctx=8,
        d_head=6,
        n_heads=4,
        d_vocab=20,
        act_fn="gelu",
        normalization_type="LNPre",
        parallel_attn_mlp=True,
        positional_embedding_type="rotary",
        rotary_dim=2,
    ),
]


@pytest.mark.parametrize("kw", CONFIGS)
def test_hooked_transformer_matches(kw) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ht = tl.HookedTransformer(tl.HookedTransformerConfig(**kw, seed=0)).eval()
    with torch.no_grad():
        for name, p in ht.named_parameters():
            if (name.split(".")[-1].startswith("b") or ".ln" in name) and not (
                kw.get("gated_mlp") and name.endswith("mlp.b_in")
            ):
                p.add_(0.1 * torch.randn_like(p))
    model = pp.from_transformer_lens(ht)
    tokens = torch.randint(0, 20, (3, 8))
    with torch.no_grad():
        want = ht(tokens)
    close(model(tokens), want, steps=FORWARD)
    ref, new = tokens, torch.randint(0, 20, (3, 8))
    close(pp.evaluate(model, pp.all_paths(), ref, new), want, steps=FORWARD)


@pytest.mark.parametrize("name", list(TLENS))
def test_hooked_transformer_through_mixed_copies(name: str) -> None:
    """Random hypotheses on adapted HookedTransformers (LN, RMS + rotary + GQA + gated MLP, LNPre +
    parallel) run through MIXED copies and match the brute-force treeifier."""
    oracle_check(name, 5, lengths=(2, 6), each_ablation=0)


@pytest.mark.parametrize("position", ["alibi", "shortformer"])
def test_unsupported_options_are_named(position: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ht = tl.HookedTransformer(
            tl.HookedTransformerConfig(
                n_layers=1,
                d_model=16,
                n_ctx=8,
                d_head=4,
                n_heads=4,
                d_vocab=20,
                act_fn="gelu",
                positional_embedding_type=position,
            )
        )
    with pytest.raises(pp.ConfigError, match=rf"positional_embedding_type='{position}'"):
        pp.from_transformer_lens(ht)


def test_gated_mlp_with_input_bias_is_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ht = tl.HookedTransformer(
            tl.HookedTransformerConfig(
                n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=20, act_fn="silu", gated_mlp=True
            )
        )
    with torch.no_grad():
        ht.blocks[0].mlp.b_in.add_(1.0)
    with pytest.raises(pp.ConfigError, match="adds b_in after the gate product"):
        pp.from_transformer_lens(ht)
