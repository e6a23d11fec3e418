"""What both auto-circuit comparisons share: the TransformerLens import shim, one random
HookedTransformer, and auto-circuit's edges named as pathpatch's.

Import it before auto_circuit: auto-circuit 1.0.1 imports the key-value cache class under its
TransformerLens 1.x/2.x name; 3.x renamed it (TransformerLensKeyValueCache). It is only a type
there (no kv caches are used), so it is aliased here.
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from typing import Any

os.environ.setdefault("TQDM_DISABLE", "1")  # auto-circuit's progress bars
warnings.filterwarnings("ignore", "HookedTransformer is deprecated", DeprecationWarning)

import torch  # noqa: E402
import transformer_lens  # noqa: E402
from transformer_lens import HookedTransformer, HookedTransformerConfig  # noqa: E402

if not hasattr(transformer_lens, "HookedTransformerKeyValueCache"):
    transformer_lens.HookedTransformerKeyValueCache = transformer_lens.TransformerLensKeyValueCache
    _shim = types.ModuleType("transformer_lens.past_key_value_caching")
    _shim.HookedTransformerKeyValueCache = transformer_lens.TransformerLensKeyValueCache  # type: ignore
    sys.modules["transformer_lens.past_key_value_caching"] = _shim

GPT2_SMALL = dict(layers=12, heads=12, d_model=768, d_mlp=3072, vocab=50257, n_ctx=1024)
TINY = dict(layers=2, heads=4, d_model=64, d_mlp=256, vocab=500, n_ctx=64)


def random_hooked(layers: int, heads: int, d_model: int, d_mlp: int, vocab: int, n_ctx: int) -> HookedTransformer:
    """A random GPT-2-style HookedTransformer whose biases and LayerNorm parameters are random too
    (TransformerLens initialises them to 0 and (1, 0), which would leave them untested)."""
    cfg = HookedTransformerConfig(
        n_layers=layers,
        n_heads=heads,
        d_model=d_model,
        d_head=d_model // heads,
        d_mlp=d_mlp,
        d_vocab=vocab,
        n_ctx=n_ctx,
        act_fn="gelu_new",
        normalization_type="LN",
        seed=0,
        device="cpu",
    )
    ht = HookedTransformer(cfg).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in ht.named_parameters():
            if name.split(".")[-1].startswith("b"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith((".w", "ln_final.w")):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
    return ht


def to_pathpatch_edges(edge: Any) -> list[str]:
    """One auto-circuit edge as pathpatch edge names ('Resid Start' is embed + pos)."""
    src = edge.src.name
    senders = (
        ["embed", "pos"] if src == "Resid Start" else ["m" + src.split()[1] if src.startswith("MLP") else "a" + src[1:]]
    )
    dest = edge.dest.name
    if dest == "Resid End":
        port = "out"
    elif dest.startswith("MLP"):
        port = "m" + dest.split()[1]
    else:  # "A3.7.Q"
        port = "a" + dest[1:-1] + dest[-1].lower()
    return [f"{s} -> {port}" for s in senders]
