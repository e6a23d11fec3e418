"""pathpatch's own (native) models: built from a :class:`NativeConfig`, stored as safetensors + JSON.

A saved model is a directory holding ``model.safetensors`` (the parameters of
:class:`ResidualModel`) and ``config.json`` (the :class:`NativeConfig`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import ConfigError, ModelLoadError
from .config import NativeConfig
from .residual import ResidualModel

__all__ = ["native_model", "save_model", "load_model_dir"]

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def native_model(config: NativeConfig, dtype: torch.dtype = torch.float32) -> ResidualModel:
    """A model with seeded random weights: N(0, init_std) matrices, small random biases and norms.

    Biases and norm gains are random (not 0/1) so that tests exercise every term.
    """
    if not isinstance(config, NativeConfig):
        raise ConfigError(f"native_model needs a NativeConfig, got {type(config).__name__}")
    model = ResidualModel(config.architecture(), dtype=dtype)
    gen = torch.Generator().manual_seed(config.seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen, dtype=torch.float64).to(dtype)
            if name.startswith("ln") and name.endswith("_w"):
                param.copy_(1.0 + 0.1 * noise)
            elif name.startswith("b_") or name.endswith("_b"):
                param.copy_(0.1 * config.init_std * noise)
            elif name in ("W_E", "W_pos"):
                param.copy_(noise)  # unit-scale inputs, as after training
            else:
                param.copy_(config.init_std * noise)
    model.native_config = config  # type: ignore[assignment]
    return model


def save_model(model: ResidualModel, directory: str | Path, config: NativeConfig | None = None) -> Path:
    """Write ``model`` to ``directory`` (created if needed); returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = config or getattr(model, "native_config", None) or NativeConfig(**model.config.to_dict())
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS), metadata={"format": "pathpatch-residual-v1"})
    (directory / CONFIG).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return directory


def load_model_dir(directory: str | Path, dtype: torch.dtype | None = None) -> ResidualModel:
    """Load a model saved by :func:`save_model`."""
    directory = Path(directory)
    if not (directory / WEIGHTS).is_file() or not (directory / CONFIG).is_file():
        raise ModelLoadError(
            f"{directory} is not a pathpatch model directory: it needs {WEIGHTS} and {CONFIG} "
            "(write one with pathpatch.save_model)"
        )
    try:
        config = NativeConfig.from_dict(json.loads((directory / CONFIG).read_text()))
        tensors = load_file(str(directory / WEIGHTS))
    except (ValueError, OSError, SafetensorError) as err:
        raise ModelLoadError(f"cannot read the model in {directory}: {err}") from err
    model = ResidualModel(config.architecture(), dtype=dtype or tensors["W_E"].dtype)
    missing = set(model.state_dict()) - set(tensors)
    if missing:
        raise ModelLoadError(f"{directory / WEIGHTS} lacks tensors {sorted(missing)} for config {config}")
    model.load_state_dict({k: v.to(model.dtype) for k, v in tensors.items()}, strict=True)
    model.native_config = config  # type: ignore[assignment]
    return model
