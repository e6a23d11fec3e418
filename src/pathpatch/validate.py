"""Argument checks at the edge of the public API: validate once, before any work.

Every public function calls these on its arguments first, so that a bad input becomes a typed
error naming the argument, what was wrong and what to pass, instead of a crash deep inside torch,
numpy or json, or a silent wrong number. Wrong Python types raise :class:`TypeError` saying what
was expected; wrong values raise a :class:`~pathpatch.errors.PathPatchError` subclass.

This module sits at the bottom of the package (it imports only :mod:`pathpatch.errors`), so it
checks plain values: tokens, devices, dtypes, numbers, choices and memory sizes
(:func:`parse_bytes`). The checks of pathpatch's own types live with those types:
:func:`~pathpatch.model.residual.check_model`, :func:`~pathpatch.lang.hypothesis.check_hypotheses`,
:func:`~pathpatch.data.check_pairs` and :func:`~pathpatch.metrics.check_delta`.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Collection, Mapping
from typing import cast

import torch
from torch import Tensor

from .errors import ArgumentError, DeviceError, EmptyDatasetError, InputError, UnreliableIntervalWarning

__all__ = [
    "check_tokens",
    "check_device",
    "check_dtype",
    "check_int",
    "check_level",
    "check_n_boot",
    "check_ablation",
    "check_max_memory",
    "parse_bytes",
    "is_auto",
    "check_seed",
    "check_metric",
    "check_finite_logits",
    "check_positions",
    "check_progress",
    "check_run_args",
    "METRICS",
]

METRICS = ("aue", "ate", "proportion_explained", "loss_recovered")
ABLATIONS = ("resample", "mean", "zero")
DTYPE_NAMES = ("float32", "float64", "bfloat16", "float16")


def _type_name(x: object) -> str:
    return type(x).__name__


def check_tokens(tokens: object, name: str) -> Tensor:
    """A 2-D ``[batch, pos]`` integer tensor with at least one token (ids are checked by the model)."""
    if not isinstance(tokens, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of token ids [batch, pos], got {_type_name(tokens)}; "
            f"wrap it with torch.tensor(..., dtype=torch.long)"
        )
    if tokens.ndim != 2:
        hint = f"; add a batch dimension with {name}.unsqueeze(0) for one sequence" if tokens.ndim == 1 else ""
        raise InputError(f"{name} must be 2-D [batch, pos], got shape {tuple(tokens.shape)}{hint}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise InputError(
            f"{name} must be an integer tensor of token ids, got dtype {tokens.dtype}; convert with {name}.long()"
        )
    if tokens.numel() == 0:
        raise EmptyDatasetError(f"{name} is empty (shape {tuple(tokens.shape)}); pass at least one token")
    return tokens


def check_device(device: object) -> torch.device | None:
    """None, or a device torch knows and this machine has."""
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', or a torch.device, got {_type_name(device)}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise DeviceError(
            f"device={device!r} is not a device torch knows; use 'cpu', 'cuda', 'cuda:1' or 'mps'"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device={device!r} was asked for, but torch sees no CUDA device here; use device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device={device!r} was asked for, but MPS is not available here; use device='cpu'")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device={device!r}: pathpatch runs on 'cpu', 'cuda' or 'mps', not {dev.type!r}")
    return dev


def check_dtype(dtype: object) -> torch.dtype | None:
    """None, or a floating-point ``torch.dtype``."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        hint = f"torch.{dtype}" if dtype in DTYPE_NAMES else "torch.float32, torch.bfloat16 or torch.float16"
        raise TypeError(f"dtype must be a torch.dtype, got the string {dtype!r}; pass {hint}")
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.bfloat16, got {_type_name(dtype)}")
    if not dtype.is_floating_point:
        raise DeviceError(
            f"dtype must be a floating-point torch dtype (torch.float32, torch.bfloat16, torch.float16), got {dtype}"
        )
    return dtype


def check_int(value: object, name: str, minimum: int = 1) -> int:
    """An int (numpy ints too, never bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_type_name(value)} {value!r}")
    if value < minimum:
        kind = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int of at least {minimum}")
        raise ArgumentError(f"{name} must be {kind}, got {value}")
    return int(value)


def check_level(level: object) -> float:
    """A confidence level strictly between 0 and 1."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise TypeError(f"level must be a number such as 0.95, got {_type_name(level)}")
    if not 0 < float(level) < 1:
        raise ArgumentError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def check_n_boot(n_boot: object, level: object, stacklevel: int = 3) -> int:
    """Enough bootstrap resamples for a ``level`` interval: refused when the interval's tails would
    hold less than half a resample each, warned about below one resample a tail (the warning's
    ``stacklevel`` counted from here: by default the caller of this function's caller)."""
    n = check_int(n_boot, "n_boot", 1)
    lvl = check_level(level)
    least = math.ceil(1.0 / (1.0 - lvl) - 1e-9)
    if n < least:
        raise ArgumentError(
            f"n_boot={n} is too small for a {lvl:g} interval: each tail would hold less than half "
            f"a resample, so the interval is meaningless (it may even exclude its own point); "
            f"use n_boot >= {least} (the default, 1000, is a sound choice)"
        )
    if n < 2 * least:
        warnings.warn(
            f"n_boot={n} gives a rough {lvl:g} interval (less than one resample in each tail); "
            f"use n_boot >= {2 * least} for one that means something",
            UnreliableIntervalWarning,
            stacklevel=stacklevel,
        )
    return n


def _check_choice(value: object, name: str, choices: Collection[str], bad: str) -> str:
    """A string among ``choices``: a TypeError for a non-string, ``bad`` (an ArgumentError) for others."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {choices}, got {_type_name(value)}")
    if value not in choices:
        raise ArgumentError(bad)
    return value


def check_ablation(ablation: object) -> str:
    return _check_choice(
        ablation, "ablation", ABLATIONS, f"ablation must be 'resample', 'mean' or 'zero', got {ablation!r}"
    )


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 1 << 40,
    "tib": 1 << 40,
}


def parse_bytes(value: int | float | str) -> int:
    """``max_memory`` as bytes: a number, or a string like ``"2GB"``, ``"512 MiB"`` (powers of 1024)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise InputError(f"max_memory must be positive, got {value}")
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        number = text.rstrip("kmgtib")
        unit = text[len(number) :]
        try:
            amount = float(number)
        except ValueError:
            amount = -1.0
        if unit in _UNITS and amount > 0:
            return int(amount * _UNITS[unit])
    raise InputError(f"max_memory must be a number of bytes or a size like '2GB' or '512MiB', got {value!r}")


def is_auto(max_memory: object) -> bool:
    """Whether ``max_memory`` asks for the default budget (None or ``"auto"``)."""
    return max_memory is None or (isinstance(max_memory, str) and max_memory.strip().lower() == "auto")


def check_max_memory(max_memory: object) -> None:
    """None or ``"auto"`` (a share of the free memory), a positive finite number of bytes, or a size
    like ``"2GB"``."""
    if is_auto(max_memory):
        return
    if isinstance(max_memory, bool) or not isinstance(max_memory, (numbers.Real, str)):
        raise TypeError(f"max_memory must be a number of bytes or a size like '2GB', got {_type_name(max_memory)}")
    if isinstance(max_memory, numbers.Real) and not math.isfinite(max_memory):
        raise ArgumentError(
            f"max_memory must be a finite size, got {max_memory!r}; "
            "pass None for the default (a share of the free memory)"
        )
    try:
        parse_bytes(cast("int | float | str", max_memory))  # a real number or a string, checked above
    except OverflowError:
        raise ArgumentError(
            f"max_memory={max_memory!r} is too large; pass None for the default (a share of the free memory)"
        ) from None


def check_seed(seed: object) -> int:
    return check_int(seed, "seed", 0)


def check_metric(metric: object) -> str:
    return _check_choice(metric, "metric", list(METRICS), f"unknown metric {metric!r}; choose one of {sorted(METRICS)}")


def check_positions(positions: object) -> None:
    if positions is not None and not isinstance(positions, Mapping):
        raise TypeError(f"positions must be a dict {{name: one position per example}}, got {_type_name(positions)}")


def check_progress(progress: object) -> None:
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {_type_name(progress)}")


def check_finite_logits(logits: Tensor, where: str) -> Tensor:
    """The logits, unless some are NaN or infinite (broken weights, or overflow in half precision)."""
    # the smallest and largest value, in one pass: NaN propagates to both and an infinity is one of
    # them, and no logits-sized temporary is made (a scan's logits can take gigabytes)
    if logits.numel() and not bool(torch.isfinite(torch.stack(torch.aminmax(logits))).all()):
        raise InputError(
            f"{where} produced NaN or infinite logits; check the model's weights for NaN/inf "
            f"(torch.isfinite(p).all() for p in model.parameters()), or use a wider dtype "
            f"(overflow in half precision is a common cause)"
        )
    return logits


def check_run_args(ref_tokens: object, new_tokens: object, ablation: object, positions: object) -> None:
    """The arguments of ``evaluate`` / ``Engine.run`` that need no model."""
    check_tokens(ref_tokens, "ref_tokens")
    if new_tokens is not None:
        check_tokens(new_tokens, "new_tokens")
    check_ablation(ablation)
    check_positions(positions)
