"""Summary metrics over examples, with paired percentile-bootstrap intervals (docs/design.md §1).

From per-example arrays (numpy, one value per example):

- AUE = mean δ(G(x_ref), G_H); ATE = mean δ(G(x_ref), G(x_new)) (the AUE of H = ∅);
- proportion explained = 1 − AUE / ATE;
- loss recovered = (L_new − L_H) / (L_new − L_clean), the causal-scrubbing convention.

:func:`summarise` gives each as an :class:`Estimate` with a paired percentile-bootstrap interval
over examples (:func:`bootstrap`). Zero denominators: on the full data they raise
:class:`~pathpatch.errors.InputError` (the ratio is undefined); a bootstrap resample whose
denominator is 0 has no value and is dropped from the interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from torch import Tensor

from .errors import EmptyDatasetError, InputError, ShapeMismatchError

__all__ = ["Estimate", "bootstrap", "aue", "ate", "proportion_explained", "loss_recovered", "summarise"]


def _fmt(x: float) -> str:
    """Three decimals, or three significant digits for very small or large magnitudes."""
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0.000"  # never "-0.000"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.3f}"
    return f"{x:.3g}"


UNRELIABLE_MARK = " (!)"


@dataclass(frozen=True)
class Estimate:
    """A point value with a confidence interval ``[low, high]`` at ``level`` (default 95%).

    ``unreliable``: for a ratio (proportion explained, loss recovered) whose denominator's interval
    includes 0, why the ratio means nothing (it can take any value); ``None`` otherwise. Such an
    estimate prints with a trailing ``(!)``.
    """

    value: float
    low: float
    high: float
    level: float = 0.95
    unreliable: str | None = None

    @property
    def reliable(self) -> bool:
        return self.unreliable is None

    def __str__(self) -> str:
        mark = UNRELIABLE_MARK if self.unreliable else ""
        return f"{_fmt(self.value)} [{_fmt(self.low)}, {_fmt(self.high)}]{mark}"

    def to_dict(self) -> dict[str, float | str]:
        """``{"value", "low", "high", "level"}`` (plus ``"unreliable"``: the reason, when flagged);
        :meth:`from_dict` reads it back."""
        d: dict[str, float | str] = {"value": self.value, "low": self.low, "high": self.high, "level": self.level}
        if self.unreliable:
            d["unreliable"] = self.unreliable
        return d

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> Estimate:
        """The estimate :meth:`to_dict` wrote."""
        reason = d.get("unreliable")
        return cls(
            value=float(d["value"]),
            low=float(d["low"]),
            high=float(d["high"]),
            level=float(d.get("level", 0.95)),
            unreliable=str(reason) if reason else None,
        )


def _as_array(name: str, x: object) -> np.ndarray:
    """A per-example 1-D float64 numpy array (torch tensors are detached and moved to CPU)."""
    if isinstance(x, Tensor):
        x = x.detach().cpu().double().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise InputError(f"{name} must be 1-D with one value per example, got shape {a.shape}")
    if a.size == 0:
        raise EmptyDatasetError(f"{name} is empty; metrics need at least one example")
    if not np.isfinite(a).all():
        raise InputError(f"{name} contains NaN or infinite values; every example needs a finite value")
    return a


def _same_length(arrays: dict[str, np.ndarray]) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ShapeMismatchError(f"per-example arrays must all have one value per example, got lengths {lengths}")


_BOOT_CHUNK = 1 << 22  # index-matrix entries per chunk of resamples (32 MiB of int64)


def bootstrap(
    stat: Callable[..., float | np.ndarray],
    *per_example: np.ndarray,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    vectorised: bool = False,
) -> Estimate:
    """``stat`` on the data with a paired percentile-bootstrap interval over examples.

    ``per_example`` are 1-D arrays of equal length n (one value per example). Each of the
    ``n_boot`` resamples draws n example indices with replacement (``np.random.default_rng(seed)``)
    and applies the *same* indices to every array (paired). With ``vectorised=True`` ``stat``
    receives arrays of shape ``[n_boot, n]`` at once and must reduce over the last axis, returning
    ``[n_boot]``; otherwise it is called once per resample with 1-D arrays.

    Resamples where ``stat`` is not finite (e.g. a ratio whose denominator is 0 on that resample)
    are dropped; if none is finite, or ``stat`` on the full data is not, :class:`InputError`.
    """
    arrays = {f"array {i}": _as_array(f"array {i}", a) for i, a in enumerate(per_example)}
    if not arrays:
        raise InputError("bootstrap needs at least one per-example array after stat")
    _same_length(arrays)
    if not isinstance(n_boot, int) or n_boot < 1:
        raise InputError(f"n_boot must be a positive int, got {n_boot!r}")
    if not 0 < level < 1:
        raise InputError(f"level must lie strictly between 0 and 1 (e.g. 0.95), got {level!r}")
    data = list(arrays.values())
    with np.errstate(divide="ignore", invalid="ignore"):
        value = float(stat(*data))
        if not np.isfinite(value):
            raise InputError(f"stat on the full data is {value}; it must be finite")
        rng, n = np.random.default_rng(seed), len(data[0])
        chunk = max(1, _BOOT_CHUNK // n)  # resamples per index matrix, to bound memory
        parts = []
        for start in range(0, n_boot, chunk):
            idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
            if vectorised:
                part = np.asarray(stat(*(a[idx] for a in data)), dtype=np.float64)
                if part.shape != (len(idx),):
                    raise InputError(
                        f"a vectorised stat must return one value per resample, shape "
                        f"({len(idx)},), got {part.shape}; reduce over the last axis (axis=-1)"
                    )
            else:
                part = np.array([float(stat(*(a[row] for a in data))) for row in idx])
            parts.append(part)
        stats = np.concatenate(parts)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        raise InputError("stat is not finite on any bootstrap resample; the interval is undefined")
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return Estimate(value=value, low=float(low), high=float(high), level=level)


# ---------------------------------------------------------------- summary metrics


def _aue(delta_h: np.ndarray) -> np.ndarray:
    return delta_h.mean(axis=-1)


def _proportion(delta_h: np.ndarray, delta_empty: np.ndarray) -> np.ndarray:
    return 1.0 - delta_h.mean(axis=-1) / delta_empty.mean(axis=-1)


def _recovered(loss_h: np.ndarray, loss_clean: np.ndarray, loss_new: np.ndarray) -> np.ndarray:
    new = loss_new.mean(axis=-1)
    return (new - loss_h.mean(axis=-1)) / (new - loss_clean.mean(axis=-1))


def _check_denominators(arrays: dict[str, np.ndarray]) -> None:
    if "delta_empty" in arrays and arrays["delta_empty"].mean() == 0:
        raise InputError(
            "the average total effect (mean of delta_empty) is 0: x_ref and x_new give identical "
            "outputs; proportion explained is undefined. Pair examples with different x_new"
        )
    if "loss_new" in arrays and arrays["loss_new"].mean() == arrays["loss_clean"].mean():
        raise InputError(
            "the mean loss of the x_new run equals the clean loss; loss recovered is undefined. "
            "Pair examples with different x_new"
        )


def aue(delta_h: np.ndarray) -> float:
    """Average unexplained effect: the mean of δ(G(x_ref), G_H(x_ref, x_new)) over examples."""
    return float(_aue(_as_array("delta_h", delta_h)))


def ate(delta_empty: np.ndarray) -> float:
    """Average total effect: the mean of δ(G(x_ref), G(x_new)) over examples (the AUE of H = ∅)."""
    return float(_aue(_as_array("delta_empty", delta_empty)))


def proportion_explained(delta_h: np.ndarray, delta_empty: np.ndarray) -> float:
    """1 − AUE / ATE. :class:`InputError` if ATE is 0 (x_ref and x_new give identical outputs)."""
    arrays = {"delta_h": _as_array("delta_h", delta_h), "delta_empty": _as_array("delta_empty", delta_empty)}
    _same_length(arrays)
    _check_denominators(arrays)
    return float(_proportion(**arrays))


def loss_recovered(loss_h: np.ndarray, loss_clean: np.ndarray, loss_new: np.ndarray) -> float:
    """(mean L_new − mean L_H) / (mean L_new − mean L_clean): 1 = all of the loss gap recovered.

    :class:`InputError` if the clean and x_new losses have the same mean.
    """
    arrays = {k: _as_array(k, v) for k, v in {"loss_h": loss_h, "loss_clean": loss_clean, "loss_new": loss_new}.items()}
    _same_length(arrays)
    _check_denominators(arrays)
    return float(_recovered(**arrays))


_REQUIRED = ("delta_h", "delta_empty")
_LOSSES = ("loss_h", "loss_clean", "loss_new")


def summarise(
    per_example: dict[str, np.ndarray], n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> dict[str, Estimate]:
    """Estimates with bootstrap intervals of ``aue``, ``ate``, ``proportion_explained`` and,
    when the three losses are given, ``loss_recovered``.

    ``per_example`` has keys ``delta_h``, ``delta_empty`` and optionally all of ``loss_h``,
    ``loss_clean``, ``loss_new``: 1-D arrays (numpy or torch) with one value per example. All
    metrics share the resample indices (same ``seed``), so intervals are paired across metrics.
    Resamples whose ratio denominator is 0 are dropped (see :func:`bootstrap`).
    """
    keys = set(per_example)
    unknown = keys - set(_REQUIRED) - set(_LOSSES)
    missing = [k for k in _REQUIRED if k not in keys]
    if unknown or missing:
        raise InputError(
            f"per_example needs keys {list(_REQUIRED)} and optionally all of {list(_LOSSES)}; "
            f"missing {missing}, unknown {sorted(unknown)}"
        )
    has_losses = [k for k in _LOSSES if k in keys]
    if has_losses and len(has_losses) != len(_LOSSES):
        raise InputError(f"loss recovered needs all of {list(_LOSSES)}, got only {has_losses}; pass all three or none")
    arrays = {k: _as_array(k, v) for k, v in per_example.items()}
    _same_length(arrays)
    _check_denominators(arrays)
    boot = partial(bootstrap, n_boot=n_boot, level=level, seed=seed, vectorised=True)
    out = {
        "aue": boot(_aue, arrays["delta_h"]),
        "ate": boot(_aue, arrays["delta_empty"]),
        "proportion_explained": boot(_proportion, arrays["delta_h"], arrays["delta_empty"]),
    }
    if has_losses:
        out["loss_recovered"] = boot(_recovered, *(arrays[k] for k in _LOSSES))
    return _flag_unreliable(out, arrays, boot)


def _includes_zero(e: Estimate) -> bool:
    return e.low <= 0.0 <= e.high


def _flag_unreliable(
    out: dict[str, Estimate], arrays: dict[str, np.ndarray], boot: Callable[..., Estimate]
) -> dict[str, Estimate]:
    """Mark each ratio whose denominator's interval includes 0 (the ATE for every ratio; the loss
    gap L_new − L_clean for loss recovered): its value and interval can then be anything."""
    from dataclasses import replace

    reasons: dict[str, str] = {}
    if _includes_zero(out["ate"]):
        why = f"the ATE's interval {out['ate']} includes 0"
        reasons = {"proportion_explained": why, "loss_recovered": why}
    elif "loss_recovered" in out:
        gap = boot(_aue, arrays["loss_new"] - arrays["loss_clean"])
        if _includes_zero(gap):
            reasons["loss_recovered"] = f"the loss gap L_new - L_clean, {gap}, has an interval that includes 0"
    # a ratio whose numerator is, in every example, exactly 0 or exactly its denominator is exactly 0
    # or 1 whatever the denominator (all paths, no paths): nothing to flag
    h, empty = arrays["delta_h"], arrays["delta_empty"]
    if not h.any() or np.array_equal(h, empty):
        reasons.pop("proportion_explained", None)
    if "loss_h" in arrays and (
        np.array_equal(arrays["loss_h"], arrays["loss_clean"]) or np.array_equal(arrays["loss_h"], arrays["loss_new"])
    ):
        reasons.pop("loss_recovered", None)
    return {k: replace(e, unreliable=reasons[k]) if k in reasons else e for k, e in out.items()}
