"""``from_hf``: any supported Hugging Face causal LM object as a :class:`ResidualModel`.

Supported ``model_type``: ``gpt2``, ``gpt_neox`` (Pythia), and the Llama family (``llama``,
``qwen2``, ``mistral``). Weights are read from the given object; nothing is downloaded and the
object is not modified. Each adapter is checked against the source model's own forward.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import ConfigError
from .hf_gpt2 import from_hf as from_gpt2
from .hf_llama import LLAMA_FAMILY, from_llama_family
from .hf_neox import from_neox
from .residual import ResidualModel

__all__ = ["from_hf", "SUPPORTED"]

SUPPORTED = ("gpt2", "gpt_neox") + LLAMA_FAMILY


def from_hf(hf_model: Any, dtype: torch.dtype | None = None) -> ResidualModel:
    """Build a :class:`ResidualModel` from a Hugging Face model object (see module docs)."""
    model_type = getattr(getattr(hf_model, "config", None), "model_type", None)
    if model_type == "gpt2":
        return from_gpt2(hf_model, dtype)
    if model_type == "gpt_neox":
        return from_neox(hf_model, dtype)
    if model_type in LLAMA_FAMILY:
        return from_llama_family(hf_model, dtype)
    raise ConfigError(
        f"unsupported architecture {model_type!r} ({type(hf_model).__name__}); pathpatch supports Hugging Face "
        f"model types {', '.join(SUPPORTED)}"
    )
