"""Architecture description of a residual-graph model.

Dimension names used across pathpatch (in jaxtyping annotations):

- ``batch``: examples; ``pos`` (also ``qpos``/``kpos``): token positions;
- ``d_model``: residual stream width; ``head``/``d_head``: attention heads and their width;
- ``d_mlp``: MLP hidden width; ``vocab``: vocabulary; ``copy``: stacked tree copies of a node.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Literal, TypeVar

from ..errors import ConfigError

__all__ = ["ModelConfig", "NativeConfig"]

# How token positions enter the model (ModelConfig.positions); named positions in examples are
# pathpatch.positions.Positions.
PositionEncoding = Literal["absolute", "shortformer", "rotary", "none"]
Activation = Literal["gelu", "gelu_new", "relu", "silu"]
Norm = Literal["layernorm", "rmsnorm"]

_Config = TypeVar("_Config", bound="ModelConfig")


@dataclass(frozen=True)
class ModelConfig:
    """The shape and kind of a transformer, enough to build its computational graph.

    ``positions``: ``"absolute"`` adds a learned position embedding to the residual stream
    (GPT-2); ``"shortformer"`` adds it only to the query and key inputs of every head, at every
    layer; ``"rotary"`` rotates the first ``rotary_dim`` dimensions of each query and key (no
    position node); ``"none"`` has no position input. ``d_mlp=None`` makes an attention-only
    model; ``gated`` MLPs compute ``W_out(act(W_gate x) * W_in x)``. ``parallel``: attention and
    MLP of a layer read the same residual (GPT-NeoX). ``n_kv_heads`` < ``n_heads``: grouped-query
    attention, query head ``h`` uses key/value head ``h // (n_heads // n_kv_heads)``.
    """

    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    d_vocab: int
    n_ctx: int
    d_mlp: int | None = None
    positions: PositionEncoding = "absolute"
    norm: bool = True
    act: Activation = "gelu"
    eps: float = 1e-5
    attn_scale: float | None = None
    norm_kind: Norm = "layernorm"
    gated: bool = False
    parallel: bool = False
    n_kv_heads: int | None = None
    rotary_dim: int | None = None
    rotary_base: float = 10000.0

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "d_model", "d_head", "d_vocab", "n_ctx"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive int, got {value!r}")
        if self.d_mlp is not None and (not isinstance(self.d_mlp, int) or self.d_mlp < 1):
            raise ConfigError(f"d_mlp must be a positive int or None (attention-only), got {self.d_mlp!r}")
        if self.positions not in ("absolute", "shortformer", "rotary", "none"):
            raise ConfigError(
                f"positions must be 'absolute', 'shortformer', 'rotary' or 'none', got {self.positions!r}"
            )
        if self.act not in ("gelu", "gelu_new", "relu", "silu"):
            raise ConfigError(f"act must be 'gelu', 'gelu_new', 'relu' or 'silu', got {self.act!r}")
        if self.norm_kind not in ("layernorm", "rmsnorm"):
            raise ConfigError(f"norm_kind must be 'layernorm' or 'rmsnorm', got {self.norm_kind!r}")
        for name in ("norm", "gated", "parallel"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, optional in (("eps", False), ("rotary_base", False), ("attn_scale", True)):
            value = getattr(self, name)
            if optional and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(
                    f"{name} must be a positive finite number{' or None' if optional else ''}, got {value!r}"
                )
        for name in ("n_kv_heads", "rotary_dim"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"{name} must be an int or None, got {value!r}")
        if self.n_kv_heads is not None and (self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads):
            raise ConfigError(f"n_kv_heads={self.n_kv_heads} must divide n_heads={self.n_heads}")
        if self.rotary_dim is not None and (self.rotary_dim % 2 or not 0 < self.rotary_dim <= self.d_head):
            raise ConfigError(f"rotary_dim={self.rotary_dim} must be even and in (0, d_head={self.d_head}]")

    @property
    def has_mlp(self) -> bool:
        return self.d_mlp is not None

    @property
    def has_pos_node(self) -> bool:
        """Whether positions enter as a graph node (``pos``): absolute and shortformer."""
        return self.positions in ("absolute", "shortformer")

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def rotary_dims(self) -> int:
        return self.rotary_dim or self.d_head

    @property
    def scale(self) -> float:
        """Multiplier of q·k before the softmax."""
        return self.attn_scale if self.attn_scale is not None else 1.0 / math.sqrt(self.d_head)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[_Config], data: dict[str, Any]) -> _Config:
        """The config these fields describe; unknown or missing fields are a :class:`ConfigError`."""
        if not isinstance(data, dict):
            raise ConfigError(f"a config is a dict of fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; expected some of {sorted(known)}")
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        lacking = [k for k in required if k not in data]
        if lacking:
            raise ConfigError(f"the config lacks required keys {lacking}")
        return cls(**data)


@dataclass(frozen=True)
class NativeConfig(ModelConfig):
    """A :class:`ModelConfig` plus how to initialise pathpatch's own (native) models."""

    seed: int = 0
    init_std: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative int, got {self.seed!r}")
        std = self.init_std
        if isinstance(std, bool) or not isinstance(std, (int, float)) or not math.isfinite(std) or std < 0:
            raise ConfigError(f"init_std must be a non-negative finite number, got {std!r}")

    def architecture(self) -> ModelConfig:
        """The architecture alone, without the initialisation fields."""
        data = {f.name: getattr(self, f.name) for f in fields(ModelConfig)}
        return ModelConfig(**data)
