"""Adapter: a Hugging Face GPT-NeoX / Pythia model (``GPTNeoXForCausalLM``) as a ResidualModel.

Rotary positions on the first ``partial_rotary_factor`` of each head's dimensions (no ``pos``
node), parallel attention + MLP (``use_parallel_residual``), LayerNorm, untied unembedding.
``query_key_value`` packs, per head, q, k and v of ``d_head`` rows each.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from .config import Activation, ModelConfig
from .hf_rotary import rope_settings
from .residual import ResidualModel

__all__ = ["from_neox"]

_ACTS: dict[str, Activation] = {
    "gelu": "gelu",
    "gelu_new": "gelu_new",
    "gelu_fast": "gelu_new",
    "gelu_pytorch_tanh": "gelu_new",
    "relu": "relu",
}


def _config(c: Any) -> ModelConfig:
    act = _ACTS.get(c.hidden_act)
    if act is None:
        raise ConfigError(f"GPT-NeoX activation {c.hidden_act!r} is not supported; supported: {sorted(_ACTS)}")
    d_head = c.hidden_size // c.num_attention_heads
    rotary_dim, base = rope_settings(c, d_head, default_fraction=0.25)
    return ModelConfig(
        n_layers=c.num_hidden_layers,
        n_heads=c.num_attention_heads,
        d_model=c.hidden_size,
        d_head=d_head,
        d_vocab=c.vocab_size,
        n_ctx=c.max_position_embeddings,
        d_mlp=c.intermediate_size,
        positions="rotary",
        norm=True,
        act=act,
        eps=c.layer_norm_eps,
        parallel=bool(c.use_parallel_residual),
        rotary_dim=rotary_dim,
        rotary_base=base,
    )


def from_neox(hf_model: Any, dtype: torch.dtype | None = None) -> ResidualModel:
    cfg = _config(hf_model.config)
    base = hf_model.gpt_neox
    model = ResidualModel(cfg, dtype=dtype or base.embed_in.weight.dtype)
    H, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head
    with torch.no_grad():
        model.W_E.copy_(base.embed_in.weight)
        for i, layer in enumerate(base.layers):
            att = layer.attention
            w = att.query_key_value.weight.view(H, 3, dh, d)
            b = att.query_key_value.bias.view(H, 3, dh) if att.query_key_value.bias is not None else None
            for j, (W, B) in enumerate(((model.W_Q, model.b_Q), (model.W_K, model.b_K), (model.W_V, model.b_V))):
                W[i] = w[:, j].transpose(1, 2)
                if b is not None:
                    B[i] = b[:, j]
            model.W_O[i] = att.dense.weight.T.reshape(H, dh, d)
            if att.dense.bias is not None:
                model.b_O[i] = att.dense.bias
            model.ln1_w[i], model.ln1_b[i] = layer.input_layernorm.weight, layer.input_layernorm.bias
            model.ln2_w[i], model.ln2_b[i] = layer.post_attention_layernorm.weight, layer.post_attention_layernorm.bias
            model.W_in[i], model.b_in[i] = layer.mlp.dense_h_to_4h.weight.T, layer.mlp.dense_h_to_4h.bias
            model.W_out[i], model.b_out[i] = layer.mlp.dense_4h_to_h.weight.T, layer.mlp.dense_4h_to_h.bias
        model.lnf_w.copy_(base.final_layer_norm.weight)
        model.lnf_b.copy_(base.final_layer_norm.bias)
        head = getattr(hf_model, "embed_out", None) or hf_model.lm_head  # transformers 4.x | 5.x
        model.W_U.copy_(head.weight.T)
    return model
