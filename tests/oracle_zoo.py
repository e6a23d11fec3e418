"""The models the oracle tests compare on, built lazily (on first use, then kept).

Nothing is built at import time, so collecting the tests needs neither the time nor
transformers; a model that needs transformers skips only the tests that use it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
import torch

from pathpatch.model.residual import ResidualModel

MODERN = dict(norm_kind="rmsnorm", gated=True, act="silu")  # Llama-style blocks


def _native(positions: str, d_mlp: int | None, seed: int, **kw) -> Callable[[], ResidualModel]:  # type: ignore[no-untyped-def]
    def build() -> ResidualModel:
        from conftest import tiny_model

        return tiny_model(positions, d_mlp, seed=seed, **kw)

    return build


def _randomise(hf, scale: float = 0.1) -> None:  # type: ignore[no-untyped-def]
    """Random (not default) biases and norm weights, so every term is exercised."""
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "bias" in name or "norm" in name or "ln" in name:
                p.add_(scale * torch.randn_like(p))


def _hf(kind: str, seed: int, **kw) -> Callable[[], ResidualModel]:  # type: ignore[no-untyped-def]
    def build() -> ResidualModel:
        transformers = pytest.importorskip("transformers")
        import pathpatch as pp

        torch.manual_seed(seed)
        if kind == "gpt2":
            from conftest import tiny_hf_gpt2

            return pp.from_hf(tiny_hf_gpt2(seed=seed, **kw))
        config_cls, causal = {
            "neox": (transformers.GPTNeoXConfig, transformers.GPTNeoXForCausalLM),
            "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
            "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
            "mistral": (transformers.MistralConfig, transformers.MistralForCausalLM),
        }[kind]
        hf = causal(config_cls(vocab_size=11, max_position_embeddings=8, initializer_range=0.5, **kw)).eval()
        _randomise(hf)
        return pp.from_hf(hf)

    return build


def _tlens(seed: int, **kw) -> Callable[[], ResidualModel]:  # type: ignore[no-untyped-def]
    def build() -> ResidualModel:
        import warnings

        tl = pytest.importorskip("transformer_lens")
        import pathpatch as pp

        torch.manual_seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ht = tl.HookedTransformer(
                tl.HookedTransformerConfig(
                    d_vocab=11, n_ctx=8, d_model=8, d_head=4, seed=seed, initializer_range=0.5, **kw
                )
            ).eval()
        with torch.no_grad():
            for name, p in ht.named_parameters():
                if (name.split(".")[-1].startswith("b") or ".ln" in name) and not (
                    kw.get("gated_mlp") and name.endswith("mlp.b_in")
                ):
                    p.add_(0.1 * torch.randn_like(p))
        return pp.from_transformer_lens(ht)

    return build


# Non-positional oracle: 3-4 layers x 3-4 heads; every position kind and block kind.
NATIVE = {
    "abs-mlp-3x3": _native("absolute", 12, 0, n_layers=3, n_heads=3, n_ctx=8),
    "short-attn-3x4": _native("shortformer", None, 1, n_layers=3, n_heads=4, n_ctx=8),
    "rot-partial-par-gqa-3x4": _native(
        "rotary", 12, 2, n_layers=3, n_heads=4, n_kv_heads=2, parallel=True, rotary_dim=2, n_ctx=8, **MODERN
    ),
    "abs-attn-4x3": _native("absolute", None, 3, n_layers=4, n_heads=3, n_ctx=8),
    "abs-mlp-2x4": _native("absolute", 12, 5, n_layers=2, n_heads=4, n_ctx=8),
    "short-mlp-2x3-relu": _native("shortformer", 12, 4, n_layers=2, n_heads=3, act="relu", n_ctx=8),
}
HF = {
    "hf-gpt2-2x3": _hf("gpt2", 5, n_layer=2, n_head=3, n_embd=12, n_positions=8),
    "hf-neox-partial-parallel": _hf(
        "neox",
        6,
        hidden_size=16,
        num_attention_heads=4,
        num_hidden_layers=2,
        intermediate_size=12,
        use_parallel_residual=True,
        rope_parameters={"rope_theta": 100.0, "partial_rotary_factor": 0.5, "rope_type": "default"},
    ),
    "hf-neox-sequential": _hf(
        "neox",
        7,
        hidden_size=12,
        num_attention_heads=3,
        num_hidden_layers=2,
        intermediate_size=12,
        use_parallel_residual=False,
        hidden_act="gelu_new",
        rope_parameters={"rope_theta": 100.0, "partial_rotary_factor": 0.5, "rope_type": "default"},
    ),
    "hf-llama-gqa": _hf(
        "llama",
        8,
        hidden_size=16,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_hidden_layers=2,
        intermediate_size=12,
        attention_bias=True,
    ),
    "hf-qwen2-kv1": _hf(
        "qwen2",
        9,
        hidden_size=16,
        num_attention_heads=4,
        num_key_value_heads=1,
        num_hidden_layers=2,
        intermediate_size=12,
    ),
    "hf-mistral": _hf(
        "mistral",
        10,
        hidden_size=16,
        num_attention_heads=4,
        num_key_value_heads=2,
        num_hidden_layers=2,
        intermediate_size=12,
        sliding_window=None,
    ),
}
TLENS = {
    "tl-gelu-ln": _tlens(11, n_layers=2, n_heads=2, act_fn="gelu_new", normalization_type="LN", d_mlp=12),
    "tl-rotary-gqa-gated": _tlens(
        12,
        n_layers=2,
        n_heads=2,
        act_fn="silu",
        normalization_type="RMS",
        positional_embedding_type="rotary",
        rotary_dim=2,
        gated_mlp=True,
        n_key_value_heads=1,
        d_mlp=12,
    ),
    "tl-parallel-lnpre": _tlens(
        13,
        n_layers=2,
        n_heads=2,
        act_fn="gelu",
        normalization_type="LNPre",
        parallel_attn_mlp=True,
        positional_embedding_type="rotary",
        rotary_dim=2,
        d_mlp=12,
    ),
}
ALL = {**NATIVE, **HF, **TLENS}


@functools.cache
def get(name: str) -> ResidualModel:
    """The model called ``name`` (built once; skips the test if it needs a missing package)."""
    return ALL[name]()
