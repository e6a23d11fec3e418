"""Dissimilarities between model outputs, and the summary metrics with bootstrap intervals.

Per-example dissimilarities (DESIGN §1). Each takes logits ``Float[Tensor, "batch pos vocab"]``
and a :class:`~pathpatch.data.Dataset`, averages over each example's target positions and returns
``Float[Tensor, "batch"]`` in float64:

- :func:`kl` = KL(softmax(ref) ‖ softmax(patched)); :func:`abs_loss_diff` = |Δ loss| on the
  target tokens; :func:`abs_logit_diff_diff` = |Δ (logit[target] − logit[distractor])|.
- :data:`DELTAS` names them ``"kl"``, ``"loss"``, ``"logit_diff"``; :func:`resolve_delta`
  turns a name or a user callable into a checked δ(ref_logits, patched_logits, data).

Summaries of per-example arrays (numpy, one value per example):

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

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from .data import Dataset
from .errors import EmptyDatasetError, InputError, ShapeMismatchError, TokenOutOfRangeError, close_matches

__all__ = [
    "kl", "loss", "abs_loss_diff", "logit_diff", "abs_logit_diff_diff",
    "DELTAS", "Delta", "resolve_delta",
    "Estimate", "bootstrap", "aue", "ate", "proportion_explained", "loss_recovered", "summarise",
]

Delta = Callable[[Tensor, Tensor, Dataset], Tensor]
"""δ(ref_logits [batch pos vocab], patched_logits [batch pos vocab], data) -> [batch]."""


# ---------------------------------------------------------------- per-example dissimilarities

def _check_logits(name: str, logits: object, data: Dataset) -> Float[Tensor, "batch pos vocab"]:
    """Validate ``logits`` against ``data`` and return them as float64."""
    if not isinstance(logits, Tensor) or logits.ndim != 3 or not logits.is_floating_point():
        got = f"{logits.dtype} of shape {tuple(logits.shape)}" if isinstance(logits, Tensor) else type(logits).__name__
        raise InputError(f"{name} must be a float tensor [batch, pos, vocab], got {got}")
    if tuple(logits.shape[:2]) != tuple(data.tokens.shape):
        raise ShapeMismatchError(f"{name} has [batch, pos] = {tuple(logits.shape[:2])} but the dataset's "
                                 f"tokens are {tuple(data.tokens.shape)}; pass the logits of this dataset")
    if not bool(torch.isfinite(logits).all()):
        raise InputError(f"{name} contains NaN or infinite values; check the model run that produced them "
                         f"(overflow in half precision is a common cause)")
    return logits.double()


def _check_ids(name: str, ids: Tensor, data: Dataset, vocab: int) -> Tensor:
    """Token ids at target positions, made safe (0) elsewhere so they can be gathered."""
    ids = ids.to(data.target_mask.device)
    picked = ids[data.target_mask]
    if picked.numel() and (picked.min() < 0 or picked.max() >= vocab):
        raise TokenOutOfRangeError(f"{name} at target positions must lie in [0, {vocab}), got values in "
                                   f"[{int(picked.min())}, {int(picked.max())}]; the logits have vocab {vocab}")
    return torch.where(data.target_mask, ids, torch.zeros_like(ids))


def _mean_over_targets(values: Float[Tensor, "batch pos"], data: Dataset) -> Float[Tensor, " batch"]:
    mask = data.target_mask.to(values.device)
    return (values * mask).sum(dim=1) / mask.sum(dim=1)


def _gather(logits: Float[Tensor, "batch pos vocab"], ids: Tensor) -> Float[Tensor, "batch pos"]:
    return logits.gather(-1, ids.to(logits.device).unsqueeze(-1)).squeeze(-1)


def kl(ref_logits: Float[Tensor, "batch pos vocab"], patched_logits: Float[Tensor, "batch pos vocab"],
       data: Dataset) -> Float[Tensor, " batch"]:
    """KL(softmax(ref) ‖ softmax(patched)) in nats, averaged over each example's target positions."""
    ref = _check_logits("ref_logits", ref_logits, data)
    new = _check_logits("patched_logits", patched_logits, data)
    if ref.shape != new.shape:
        raise ShapeMismatchError(f"ref_logits {tuple(ref.shape)} and patched_logits {tuple(new.shape)} "
                                 f"must have the same shape")
    log_p, log_q = ref.log_softmax(-1), new.log_softmax(-1)
    per_pos = (log_p.exp() * (log_p - log_q)).sum(-1).clamp_min(0.0)  # rounding can give -1e-17
    return _mean_over_targets(per_pos, data)


def loss(logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Float[Tensor, " batch"]:
    """Cross-entropy of ``data.target_tokens``, averaged over each example's target positions."""
    x = _check_logits("logits", logits, data)
    ids = _check_ids("target_tokens", data.target_tokens, data, x.shape[-1])
    return _mean_over_targets(-_gather(x.log_softmax(-1), ids), data)


def logit_diff(logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Float[Tensor, " batch"]:
    """logit[target] − logit[distractor], averaged over each example's target positions."""
    if data.distractor_tokens is None:
        raise InputError("logit difference needs an incorrect token per target position, but the dataset "
                         "has distractor_tokens=None; pass distractor_tokens to Dataset(...)")
    x = _check_logits("logits", logits, data)
    good = _check_ids("target_tokens", data.target_tokens, data, x.shape[-1])
    bad = _check_ids("distractor_tokens", data.distractor_tokens, data, x.shape[-1])
    return _mean_over_targets(_gather(x, good) - _gather(x, bad), data)


def abs_loss_diff(ref_logits: Float[Tensor, "batch pos vocab"], patched_logits: Float[Tensor, "batch pos vocab"],
                  data: Dataset) -> Float[Tensor, " batch"]:
    """|loss(patched) − loss(ref)| per example."""
    return (loss(patched_logits, data) - loss(ref_logits, data)).abs()


def abs_logit_diff_diff(ref_logits: Float[Tensor, "batch pos vocab"],
                        patched_logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Float[Tensor, " batch"]:
    """|logit_diff(patched) − logit_diff(ref)| per example."""
    return (logit_diff(patched_logits, data) - logit_diff(ref_logits, data)).abs()


DELTAS: dict[str, Delta] = {"kl": kl, "loss": abs_loss_diff, "logit_diff": abs_logit_diff_diff}


def resolve_delta(delta: str | Delta) -> Delta:
    """The δ named by ``delta`` (a key of :data:`DELTAS`), or a user callable wrapped with checks.

    A user callable ``f(ref_logits, patched_logits, data)`` must return one finite value per
    example, shape ``[batch]``; otherwise the wrapper raises :class:`InputError`.
    """
    if isinstance(delta, str):
        if delta in DELTAS:
            return DELTAS[delta]
        hint = close_matches(delta, DELTAS)
        hint_text = f"; did you mean {hint[0]!r}?" if hint else ""
        raise InputError(f"unknown delta {delta!r}; valid names are {', '.join(map(repr, DELTAS))}, "
                         f"or pass a callable (ref_logits, patched_logits, data) -> [batch]{hint_text}")
    if not callable(delta):
        raise InputError(f"delta must be one of {', '.join(map(repr, DELTAS))} or a callable, "
                         f"got {type(delta).__name__}")
    if delta in DELTAS.values():
        return delta
    name = getattr(delta, "__name__", repr(delta))

    def checked(ref_logits: Tensor, patched_logits: Tensor, data: Dataset) -> Float[Tensor, " batch"]:
        out = delta(ref_logits, patched_logits, data)
        if not isinstance(out, Tensor) or tuple(out.shape) != (len(data),):
            got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
            raise InputError(f"delta {name} must return a tensor of shape [batch] = ({len(data)},), got {got}; "
                             f"reduce over positions (e.g. .mean(dim=1)) but keep one value per example")
        if not bool(torch.isfinite(out).all()):
            raise InputError(f"delta {name} returned NaN or infinite values; it must be finite for every example")
        return out

    checked.__name__ = name
    checked.__doc__ = delta.__doc__
    return checked


# ---------------------------------------------------------------- estimates and the bootstrap

def _fmt(x: float) -> str:
    """Three decimals, or three significant digits for very small or large magnitudes."""
    if not math.isfinite(x):
        return str(x)
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.3f}"
    return f"{x:.3g}"


@dataclass(frozen=True)
class Estimate:
    """A point value with a confidence interval ``[low, high]`` at ``level`` (default 95%)."""

    value: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{_fmt(self.value)} [{_fmt(self.low)}, {_fmt(self.high)}]"

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high, "level": self.level}

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> Estimate:
        return cls(value=float(d["value"]), low=float(d["low"]), high=float(d["high"]),
                   level=float(d.get("level", 0.95)))


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


def bootstrap(stat: Callable[..., float | np.ndarray], *per_example: np.ndarray, n_boot: int = 1000,
              level: float = 0.95, seed: int = 0, vectorised: bool = False) -> Estimate:
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
                    raise InputError(f"a vectorised stat must return one value per resample, shape "
                                     f"({len(idx)},), got {part.shape}; reduce over the last axis (axis=-1)")
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
        raise InputError("the average total effect (mean of delta_empty) is 0: x_ref and x_new give identical "
                         "outputs; proportion explained is undefined. Pair examples with different x_new")
    if "loss_new" in arrays and arrays["loss_new"].mean() == arrays["loss_clean"].mean():
        raise InputError("the mean loss of the x_new run equals the clean loss; loss recovered is undefined. "
                         "Pair examples with different x_new")


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
    arrays = {k: _as_array(k, v) for k, v in
              {"loss_h": loss_h, "loss_clean": loss_clean, "loss_new": loss_new}.items()}
    _same_length(arrays)
    _check_denominators(arrays)
    return float(_recovered(**arrays))


_REQUIRED = ("delta_h", "delta_empty")
_LOSSES = ("loss_h", "loss_clean", "loss_new")


def summarise(per_example: dict[str, np.ndarray], n_boot: int = 1000, level: float = 0.95,
              seed: int = 0) -> dict[str, Estimate]:
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
        raise InputError(f"per_example needs keys {list(_REQUIRED)} and optionally all of {list(_LOSSES)}; "
                         f"missing {missing}, unknown {sorted(unknown)}")
    has_losses = [k for k in _LOSSES if k in keys]
    if has_losses and len(has_losses) != len(_LOSSES):
        raise InputError(f"loss recovered needs all of {list(_LOSSES)}, got only {has_losses}; "
                         f"pass all three or none")
    arrays = {k: _as_array(k, v) for k, v in per_example.items()}
    _same_length(arrays)
    _check_denominators(arrays)
    kw = dict(n_boot=n_boot, level=level, seed=seed, vectorised=True)
    out = {
        "aue": bootstrap(_aue, arrays["delta_h"], **kw),
        "ate": bootstrap(_aue, arrays["delta_empty"], **kw),
        "proportion_explained": bootstrap(_proportion, arrays["delta_h"], arrays["delta_empty"], **kw),
    }
    if has_losses:
        out["loss_recovered"] = bootstrap(_recovered, *(arrays[k] for k in _LOSSES), **kw)
    return out
