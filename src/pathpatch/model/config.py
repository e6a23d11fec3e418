"""Architecture description of a residual-graph model.

Dimension names used across pathpatch (in jaxtyping annotations):

- ``batch``: examples; ``pos`` (also ``qpos``/``kpos``): token positions;
- ``d_model``: residual stream width; ``head``/``d_head``: attention heads and their width;
- ``d_mlp``: MLP hidden width; ``vocab``: vocabulary; ``copy``: stacked tree copies of a node.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from ..errors import ConfigError

__all__ = ["ModelConfig", "NativeConfig"]

Positions = Literal["absolute", "shortformer", "none"]
Activation = Literal["gelu", "gelu_new", "relu"]


@dataclass(frozen=True)
class ModelConfig:
    """The shape and kind of a transformer, enough to build its computational graph.

    ``positions``: ``"absolute"`` adds a learned position embedding to the residual stream
    (GPT-2); ``"shortformer"`` adds it only to the query and key inputs of every head, at every
    layer; ``"none"`` has no position input. ``d_mlp=None`` makes an attention-only model.
    """

    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    d_vocab: int
    n_ctx: int
    d_mlp: int | None = None
    positions: Positions = "absolute"
    norm: bool = True
    act: Activation = "gelu"
    eps: float = 1e-5
    attn_scale: float | None = None

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "d_model", "d_head", "d_vocab", "n_ctx"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        if self.d_mlp is not None and (not isinstance(self.d_mlp, int) or self.d_mlp < 1):
            raise ConfigError(f"d_mlp must be a positive int or None (attention-only), got {self.d_mlp!r}")
        if self.positions not in ("absolute", "shortformer", "none"):
            raise ConfigError(f"positions must be 'absolute', 'shortformer' or 'none', got {self.positions!r}")
        if self.act not in ("gelu", "gelu_new", "relu"):
            raise ConfigError(f"act must be 'gelu', 'gelu_new' or 'relu', got {self.act!r}")

    @property
    def has_mlp(self) -> bool:
        return self.d_mlp is not None

    @property
    def scale(self) -> float:
        """Multiplier of q·k before the softmax."""
        return self.attn_scale if self.attn_scale is not None else 1.0 / math.sqrt(self.d_head)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class NativeConfig(ModelConfig):
    """A :class:`ModelConfig` plus how to initialise pathpatch's own (native) models."""

    seed: int = 0
    init_std: float = 0.02

    def architecture(self) -> ModelConfig:
        """The architecture alone, without the initialisation fields."""
        data = {f.name: getattr(self, f.name) for f in fields(ModelConfig)}
        return ModelConfig(**data)
