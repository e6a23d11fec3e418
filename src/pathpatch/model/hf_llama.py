"""Adapter: Hugging Face Llama-family models (Llama, Qwen2, Mistral) as a ResidualModel.

RMSNorm, rotary positions (no ``pos`` node), gated SiLU MLP, grouped-query attention. Each query
head is a node ``aL.H``; its k and v channels read through the key/value head it shares with
``n_heads // n_kv_heads - 1`` other query heads. In the tree every head copy computes its own
keys and values from its own k/v inputs with those shared weights, so a path entering ``aL.H.k``
changes the keys seen by head H alone, not by the other heads of its group.
Mistral's sliding window is respected by capping ``n_ctx`` at the window.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from .config import ModelConfig
from .hf_rotary import rope_settings
from .residual import ResidualModel

__all__ = ["from_llama_family", "LLAMA_FAMILY"]

LLAMA_FAMILY = ("llama", "qwen2", "mistral")


def _config(c: Any) -> ModelConfig:
    if c.hidden_act != "silu":
        raise ConfigError(f"{c.model_type} activation {c.hidden_act!r} is not supported; supported: ['silu']")
    d_head = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    rotary_dim, base = rope_settings(c, d_head)
    n_ctx = c.max_position_embeddings
    window = getattr(c, "sliding_window", None)
    if window and getattr(c, "use_sliding_window", True):
        n_ctx = min(n_ctx, window)
    return ModelConfig(
        n_layers=c.num_hidden_layers,
        n_heads=c.num_attention_heads,
        d_model=c.hidden_size,
        d_head=d_head,
        d_vocab=c.vocab_size,
        n_ctx=n_ctx,
        d_mlp=c.intermediate_size,
        positions="rotary",
        norm=True,
        act="silu",
        eps=c.rms_norm_eps,
        norm_kind="rmsnorm",
        gated=True,
        n_kv_heads=getattr(c, "num_key_value_heads", None) or c.num_attention_heads,
        rotary_dim=rotary_dim,
        rotary_base=base,
    )


def _heads_in(weight: torch.Tensor, n: int, d_head: int) -> torch.Tensor:
    """``[n*d_head, d_model]`` (nn.Linear) -> ``[n, d_model, d_head]``."""
    return weight.view(n, d_head, -1).transpose(1, 2)


def from_llama_family(hf_model: Any, dtype: torch.dtype | None = None) -> ResidualModel:
    cfg = _config(hf_model.config)
    base = hf_model.model
    model = ResidualModel(cfg, dtype=dtype or base.embed_tokens.weight.dtype)
    H, KV, d, dh = cfg.n_heads, cfg.kv_heads, cfg.d_model, cfg.d_head
    with torch.no_grad():
        model.W_E.copy_(base.embed_tokens.weight)
        for i, layer in enumerate(base.layers):
            att, mlp = layer.self_attn, layer.mlp
            model.W_Q[i] = _heads_in(att.q_proj.weight, H, dh)
            model.W_K[i] = _heads_in(att.k_proj.weight, KV, dh)
            model.W_V[i] = _heads_in(att.v_proj.weight, KV, dh)
            for proj, bias, n in ((att.q_proj, model.b_Q, H), (att.k_proj, model.b_K, KV), (att.v_proj, model.b_V, KV)):
                if proj.bias is not None:
                    bias[i] = proj.bias.view(n, dh)
            model.W_O[i] = att.o_proj.weight.T.reshape(H, dh, d)
            if att.o_proj.bias is not None:
                model.b_O[i] = att.o_proj.bias
            model.ln1_w[i], model.ln1_b[i] = layer.input_layernorm.weight, 0.0
            model.ln2_w[i], model.ln2_b[i] = layer.post_attention_layernorm.weight, 0.0
            model.W_gate[i], model.W_in[i], model.W_out[i] = (
                mlp.gate_proj.weight.T,
                mlp.up_proj.weight.T,
                mlp.down_proj.weight.T,
            )
            for proj, bias in ((mlp.gate_proj, model.b_gate), (mlp.up_proj, model.b_in), (mlp.down_proj, model.b_out)):
                if proj.bias is not None:
                    bias[i] = proj.bias
        model.lnf_w.copy_(base.norm.weight)
        model.lnf_b.zero_()
        head = getattr(hf_model, "lm_head", None)
        model.W_U.copy_((head.weight if head is not None else base.embed_tokens.weight).T)
    return model
