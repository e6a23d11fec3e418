"""Reading rotary-embedding settings from a Hugging Face config (transformers 4.x and 5.x)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError

__all__ = ["rope_settings"]


def rope_settings(hf_config: Any, d_head: int, default_fraction: float = 1.0) -> tuple[int, float]:
    """``(rotary_dim, base)``; only the default (unscaled) rotary embedding is supported."""
    params = getattr(hf_config, "rope_parameters", None) or {}
    scaling = getattr(hf_config, "rope_scaling", None) or {}
    rope_type = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    if rope_type != "default":
        raise ConfigError(f"rotary scaling {rope_type!r} is not supported (only the default rotary embedding)")
    base = (
        params.get("rope_theta")
        or getattr(hf_config, "rope_theta", None)
        or getattr(hf_config, "rotary_emb_base", None)
        or 10000.0
    )
    fraction = (
        params.get("partial_rotary_factor")
        or getattr(hf_config, "partial_rotary_factor", None)
        or getattr(hf_config, "rotary_pct", None)
        or default_fraction
    )
    return int(d_head * fraction), float(base)
