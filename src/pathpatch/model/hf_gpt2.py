"""Adapter: a Hugging Face ``GPT2LMHeadModel`` (any size) as a :class:`ResidualModel`.

Weights are read from the given object; nothing is downloaded. GPT-2's ``Conv1D`` stores
weights as ``[in, out]``, so ``c_attn.weight [d_model, 3*d_model]`` splits into q, k, v and then
into heads.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from .config import Activation, ModelConfig
from .residual import ResidualModel

__all__ = ["from_hf"]

_ACTS: dict[str, Activation] = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu": "gelu", "relu": "relu"}


def _gpt2_config(hf_config: Any) -> ModelConfig:
    unsupported = [
        flag
        for flag, bad in (
            ("scale_attn_by_inverse_layer_idx", True),
            ("reorder_and_upcast_attn", True),
            ("add_cross_attention", True),
        )
        if getattr(hf_config, flag, False) == bad
    ]
    if unsupported:
        raise ConfigError(f"GPT-2 options {unsupported} are not supported by pathpatch's GPT-2 adapter")
    act = _ACTS.get(hf_config.activation_function)
    if act is None:
        raise ConfigError(
            f"GPT-2 activation {hf_config.activation_function!r} is not supported; supported: {sorted(_ACTS)}"
        )
    d_model, n_heads = hf_config.n_embd, hf_config.n_head
    return ModelConfig(
        n_layers=hf_config.n_layer,
        n_heads=n_heads,
        d_model=d_model,
        d_head=d_model // n_heads,
        d_vocab=hf_config.vocab_size,
        n_ctx=hf_config.n_positions,
        d_mlp=hf_config.n_inner or 4 * d_model,
        positions="absolute",
        norm=True,
        act=act,
        eps=hf_config.layer_norm_epsilon,
        attn_scale=None if getattr(hf_config, "scale_attn_weights", True) else 1.0,
    )


def from_hf(hf_model: Any, dtype: torch.dtype | None = None) -> ResidualModel:
    """Build a :class:`ResidualModel` from a Hugging Face GPT-2 model object (not mutated)."""
    model_type = getattr(getattr(hf_model, "config", None), "model_type", None)
    if model_type != "gpt2":
        raise ConfigError(
            f"from_hf supports Hugging Face GPT-2 models (model_type 'gpt2'); got {model_type!r} "
            f"({type(hf_model).__name__})"
        )
    cfg = _gpt2_config(hf_model.config)
    tr = hf_model.transformer if hasattr(hf_model, "transformer") else hf_model
    src_dtype = tr.wte.weight.dtype
    model = ResidualModel(cfg, dtype=dtype or src_dtype)
    H, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head

    def heads_in(w: torch.Tensor) -> torch.Tensor:  # [d, H*dh] -> [H, d, dh]
        return w.reshape(d, H, dh).permute(1, 0, 2)

    with torch.no_grad():
        model.W_E.copy_(tr.wte.weight)
        assert model.W_pos is not None  # the config has a pos node
        model.W_pos.copy_(tr.wpe.weight)
        for layer, block in enumerate(tr.h):
            w_q, w_k, w_v = block.attn.c_attn.weight.split(d, dim=1)
            b_q, b_k, b_v = block.attn.c_attn.bias.split(d, dim=0)
            model.W_Q[layer], model.W_K[layer], model.W_V[layer] = heads_in(w_q), heads_in(w_k), heads_in(w_v)
            model.b_Q[layer], model.b_K[layer], model.b_V[layer] = (b.reshape(H, dh) for b in (b_q, b_k, b_v))
            model.W_O[layer] = block.attn.c_proj.weight.reshape(H, dh, d)
            model.b_O[layer] = block.attn.c_proj.bias
            model.ln1_w[layer], model.ln1_b[layer] = block.ln_1.weight, block.ln_1.bias
            model.ln2_w[layer], model.ln2_b[layer] = block.ln_2.weight, block.ln_2.bias
            model.W_in[layer], model.b_in[layer] = block.mlp.c_fc.weight, block.mlp.c_fc.bias
            model.W_out[layer], model.b_out[layer] = block.mlp.c_proj.weight, block.mlp.c_proj.bias
        model.lnf_w.copy_(tr.ln_f.weight)
        model.lnf_b.copy_(tr.ln_f.bias)
        head = getattr(hf_model, "lm_head", None)
        model.W_U.copy_((head.weight if head is not None else tr.wte.weight).T)
        if head is not None and getattr(head, "bias", None) is not None:
            model.b_U.copy_(head.bias)
    return model
