"""pathpatch's own (native) models: built from a :class:`NativeConfig`, stored as safetensors + JSON.

A saved model is a directory holding ``model.safetensors`` (the parameters of
:class:`ResidualModel`) and ``config.json`` (the :class:`NativeConfig`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import ConfigError, ModelLoadError
from .config import NativeConfig
from .residual import ResidualModel, check_model

__all__ = ["native_model", "save_model", "load_model_dir", "read_config"]

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def native_model(config: NativeConfig, dtype: torch.dtype = torch.float32) -> ResidualModel:
    """A model with seeded random weights: N(0, init_std) matrices, small random biases and norms.

    Biases and norm gains are random (not 0/1) so that tests exercise every term.
    """
    from ..validate import check_dtype

    if not isinstance(config, NativeConfig):
        raise ConfigError(f"native_model needs a NativeConfig, got {type(config).__name__}")
    if check_dtype(dtype) is None:
        raise TypeError("dtype must be a floating-point torch.dtype such as torch.float32, got None")
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
    model.native_config = config
    model.name = "native"
    return model


def save_model(model: ResidualModel, directory: str | Path, config: NativeConfig | None = None) -> Path:
    """Write ``model`` to ``directory`` (created if needed); returns the directory."""
    check_model(model, "save_model")
    if not isinstance(directory, (str, Path)):
        raise TypeError(f"directory must be a path (str or pathlib.Path), got {type(directory).__name__}")
    if config is not None and not isinstance(config, NativeConfig):
        raise TypeError(f"config must be a NativeConfig or None, got {type(config).__name__}")
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ModelLoadError(f"{directory} is a file; save_model needs a directory to write into")
    directory.mkdir(parents=True, exist_ok=True)
    config = config or getattr(model, "native_config", None) or NativeConfig(**model.config.to_dict())
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS), metadata={"format": "pathpatch-residual-v1"})
    (directory / CONFIG).write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return directory


def read_config(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or a :class:`ModelLoadError` naming the file and the fault."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ModelLoadError(f"{path} is not text ({err}); it should hold the model's JSON config") from None
    except json.JSONDecodeError as err:
        raise ModelLoadError(
            f"{path} is not valid JSON ({err}); rewrite it (pathpatch.save_model writes one)"
        ) from None
    except OSError as err:
        raise ModelLoadError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} must hold a JSON object of config fields, got a {type(data).__name__}")
    return data


def load_model_dir(directory: str | Path, dtype: torch.dtype | None = None) -> ResidualModel:
    """Load a model saved by :func:`save_model`: every file, tensor and shape is checked against
    ``config.json`` first, and a fault is a :class:`ModelLoadError` naming the file."""
    from ..validate import check_dtype

    if not isinstance(directory, (str, Path)):
        raise TypeError(f"directory must be a path (str or pathlib.Path), got {type(directory).__name__}")
    check_dtype(dtype)
    directory = Path(directory)
    lacking = [name for name in (WEIGHTS, CONFIG) if not (directory / name).is_file()]
    if lacking:
        raise ModelLoadError(
            f"{directory} is not a pathpatch model directory: it lacks {' and '.join(lacking)}; it needs "
            f"{WEIGHTS} and {CONFIG} (write one with pathpatch.save_model)"
        )
    data = read_config(directory / CONFIG)
    try:
        config = NativeConfig.from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{directory / CONFIG}: {err}") from None
    try:
        tensors = load_file(str(directory / WEIGHTS))
    except (ValueError, OSError, SafetensorError) as err:
        raise ModelLoadError(
            f"cannot read the model in {directory}: the weights {WEIGHTS} are truncated or not "
            f"safetensors ({err}); "
            f"write them again with pathpatch.save_model"
        ) from None
    model = ResidualModel(config.architecture(), dtype=torch.float32)
    _check_tensors(directory, model.state_dict(), tensors)
    if dtype is None:
        dtype = tensors["W_E"].dtype
        if not dtype.is_floating_point:
            raise ModelLoadError(f"{directory / WEIGHTS} holds {dtype} weights; pathpatch models are floating point")
    model = model.to(dtype)
    model.load_state_dict({k: v.to(model.dtype) for k, v in tensors.items()}, strict=True)
    model.native_config = config
    model.name = directory.resolve().name
    return model


def _check_tensors(directory: Path, want: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> None:
    """The saved tensors must be exactly those the config describes, with the same shapes."""
    where = directory / WEIGHTS
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    if missing:
        raise ModelLoadError(
            f"{where} lacks tensors {missing} that {directory / CONFIG} needs; the config "
            f"does not match the weights (write both with pathpatch.save_model)"
        )
    if extra:
        raise ModelLoadError(
            f"{where} holds tensors {extra} that {directory / CONFIG} has no place for; the "
            f"config does not match the weights (write both with pathpatch.save_model)"
        )
    for name, t in want.items():
        if tuple(got[name].shape) != tuple(t.shape):
            raise ModelLoadError(
                f"{where}: tensor {name} has shape {tuple(got[name].shape)}, but {directory / CONFIG} "
                f"implies {tuple(t.shape)}; the config does not match the weights (write both "
                f"with pathpatch.save_model)"
            )
