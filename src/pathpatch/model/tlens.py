"""Adapter: a TransformerLens ``HookedTransformer`` (``pip install 'pathpatch[transformer-lens]'``).

TransformerLens already stores weights per head (``W_Q [head, d_model, d_head]``, ...), so this is a
copy plus a translation of its config. Folded or centred weights (``from_pretrained``'s default
processing) work as they are: ``LNPre``/``RMSPre`` norms have no parameters and become unit gains.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from .config import Activation, ModelConfig, Norm, PositionEncoding
from .residual import ResidualModel

__all__ = ["from_transformer_lens"]

# TransformerLens adds shortformer positions *after* ln1; pathpatch's shortformer adds them before
# the norm (the reading node normalises its whole summed input), so the two are different functions.
_POSITIONS: dict[str, PositionEncoding] = {"standard": "absolute", "rotary": "rotary"}
_ACTS: dict[str, Activation] = {
    "gelu": "gelu",
    "gelu_new": "gelu_new",
    "gelu_fast": "gelu_new",
    "gelu_pytorch_tanh": "gelu_new",
    "relu": "relu",
    "silu": "silu",
}
_NORMS: dict[str, Norm] = {"LN": "layernorm", "LNPre": "layernorm", "RMS": "rmsnorm", "RMSPre": "rmsnorm"}


def _config(c: Any) -> ModelConfig:
    problems = []
    if c.positional_embedding_type not in _POSITIONS:
        problems.append(f"positional_embedding_type={c.positional_embedding_type!r}")
    if not c.attn_only and c.act_fn not in _ACTS:
        problems.append(f"act_fn={c.act_fn!r}")
    if c.normalization_type is not None and c.normalization_type not in _NORMS:
        problems.append(f"normalization_type={c.normalization_type!r}")
    for flag in ("scale_attn_by_inverse_layer_idx", "rotary_adjacent_pairs", "use_local_attn", "use_qk_norm"):
        if getattr(c, flag, False):
            problems.append(f"{flag}=True")
    if getattr(c, "attention_dir", "causal") != "causal":
        problems.append(f"attention_dir={c.attention_dir!r}")
    if problems:
        raise ConfigError(f"TransformerLens options {problems} are not supported by pathpatch's adapter")
    scale = 1.0 / float(c.attn_scale) if c.use_attn_scale else 1.0
    return ModelConfig(
        n_layers=c.n_layers,
        n_heads=c.n_heads,
        d_model=c.d_model,
        d_head=c.d_head,
        d_vocab=c.d_vocab,
        n_ctx=c.n_ctx,
        d_mlp=None if c.attn_only else c.d_mlp,
        positions=_POSITIONS[c.positional_embedding_type],
        norm=c.normalization_type is not None,
        norm_kind=_NORMS.get(c.normalization_type, "layernorm"),
        act=_ACTS.get(c.act_fn, "gelu"),
        eps=c.eps,
        attn_scale=scale,
        gated=bool(c.gated_mlp),
        parallel=bool(c.parallel_attn_mlp),
        n_kv_heads=getattr(c, "n_key_value_heads", None),
        rotary_dim=c.rotary_dim if c.positional_embedding_type == "rotary" else None,
        rotary_base=float(getattr(c, "rotary_base", 10000)),
    )


def _norm(dst_w: torch.Tensor, dst_b: torch.Tensor, ln: Any) -> None:
    """Copy a TransformerLens norm's gain and bias; parameter-free norms become 1 and 0."""
    dst_w.copy_(getattr(ln, "w", torch.ones_like(dst_w)))
    dst_b.copy_(getattr(ln, "b", torch.zeros_like(dst_b)))


def from_transformer_lens(ht: Any, dtype: torch.dtype | None = None) -> ResidualModel:
    """Build a :class:`ResidualModel` from a ``HookedTransformer`` (not mutated)."""
    if type(ht).__name__ != "HookedTransformer":
        raise ConfigError(f"from_transformer_lens needs a transformer_lens.HookedTransformer, got {type(ht).__name__}")
    cfg = _config(ht.cfg)
    model = ResidualModel(cfg, dtype=dtype or ht.W_E.dtype)
    with torch.no_grad():
        model.W_E.copy_(ht.W_E)
        if cfg.has_pos_node:
            assert model.W_pos is not None  # the config has a pos node
            model.W_pos.copy_(ht.W_pos)
        for i, block in enumerate(ht.blocks):
            att = block.attn
            for name in ("W_Q", "b_Q", "W_O"):
                getattr(model, name)[i] = getattr(att, name)
            for name in ("W_K", "W_V", "b_K", "b_V"):  # grouped-query attention stores one per k/v head
                getattr(model, name)[i] = (
                    getattr(att, "_" + name, None) if hasattr(att, "_" + name) else getattr(att, name)
                )
            model.b_O[i] = att.b_O
            if cfg.norm:
                _norm(model.ln1_w[i], model.ln1_b[i], block.ln1)
            if cfg.has_mlp:
                mlp = block.mlp
                model.W_in[i], model.b_in[i], model.W_out[i], model.b_out[i] = mlp.W_in, mlp.b_in, mlp.W_out, mlp.b_out
                if cfg.gated:
                    if bool(mlp.b_in.abs().max() > 0):
                        raise ConfigError(
                            "TransformerLens' gated MLP adds b_in after the gate product, which pathpatch's "
                            "gated MLP (HF convention) cannot express; only b_in = 0 is supported"
                        )
                    model.W_gate[i] = mlp.W_gate
                if cfg.norm:
                    _norm(model.ln2_w[i], model.ln2_b[i], block.ln2)
        if cfg.norm:
            _norm(model.lnf_w, model.lnf_b, ht.ln_final)
        model.W_U.copy_(ht.W_U)
        model.b_U.copy_(ht.b_U)
    return model
