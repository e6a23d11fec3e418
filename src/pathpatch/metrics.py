"""Dissimilarities δ between model outputs (docs/design.md §1).

Each takes logits ``Float[Tensor, "batch pos vocab"]`` and a :class:`~pathpatch.data.Dataset`,
averages over each example's target positions and returns ``Float[Tensor, "batch"]`` in float64:

- :func:`kl` = KL(softmax(ref) ‖ softmax(patched)); :func:`abs_loss_diff` = |Δ loss| on the
  target tokens; :func:`abs_logit_diff_diff` = |Δ (logit[target] − logit[distractor])|.
- :data:`DELTAS` names them ``"kl"``, ``"loss"``, ``"logit_diff"``; :func:`resolve_delta`
  turns a name or a user callable into a checked δ(ref_logits, patched_logits, data).

The summaries (AUE, ATE, proportion explained, loss recovered) and their bootstrap intervals
live in :mod:`pathpatch.estimates`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from .data import Dataset
from .errors import InputError, ShapeMismatchError, TokenOutOfRangeError, close_matches

__all__ = [
    "kl",
    "loss",
    "abs_loss_diff",
    "logit_diff",
    "abs_logit_diff_diff",
    "DELTAS",
    "Delta",
    "resolve_delta",
    "check_delta",
    "kl_rows",
    "mean_over_targets",
    "TargetDelta",
    "reads_targets_only",
    "targets_only",
]

Delta = Callable[[Tensor, Tensor, Dataset], Tensor]
"""δ(ref_logits [batch pos vocab], patched_logits [batch pos vocab], data) -> [batch]."""


# ---------------------------------------------------------------- per-example dissimilarities


def _check_logits(name: str, logits: object, data: Dataset) -> Float[Tensor, "target vocab"]:
    """Validate ``logits`` against ``data``; return the rows at target positions, as float64.

    Only the target positions are read (and checked for NaN): the metric never looks elsewhere.
    """
    if not isinstance(logits, Tensor) or logits.ndim != 3 or not logits.is_floating_point():
        got = f"{logits.dtype} of shape {tuple(logits.shape)}" if isinstance(logits, Tensor) else type(logits).__name__
        raise InputError(f"{name} must be a float tensor [batch, pos, vocab], got {got}")
    if tuple(logits.shape[:2]) != tuple(data.tokens.shape):
        raise ShapeMismatchError(
            f"{name} has [batch, pos] = {tuple(logits.shape[:2])} but the dataset's "
            f"tokens are {tuple(data.tokens.shape)}; pass the logits of this dataset"
        )
    return _finite_rows(name, logits[data.target_mask.to(logits.device)])


def _finite_rows(name: str, rows: Float[Tensor, "target vocab"]) -> Float[Tensor, "target vocab"]:
    """Target rows as float64, refused if any is NaN or infinite (as :func:`_check_logits` does)."""
    if not bool(torch.isfinite(rows).all()):
        raise InputError(
            f"{name} contains NaN or infinite values; check the model run that produced them "
            f"(overflow in half precision is a common cause)"
        )
    return rows.double()


def _check_ids(name: str, ids: Tensor, data: Dataset, vocab: int) -> Int[Tensor, " target"]:
    """Token ids at the target positions (row order of :func:`_check_logits`)."""
    picked = ids.to(data.target_mask.device)[data.target_mask]
    if picked.numel() and (picked.min() < 0 or picked.max() >= vocab):
        raise TokenOutOfRangeError(
            f"{name} at target positions must lie in [0, {vocab}), got values in "
            f"[{int(picked.min())}, {int(picked.max())}]; the logits have vocab {vocab}"
        )
    return picked


def mean_over_targets(values: Float[Tensor, " target"], mask: Bool[Tensor, "batch pos"]) -> Float[Tensor, " batch"]:
    """Average the per-target values (the rows of ``mask``, in order) of each example."""
    mask = mask.to(values.device)
    example = mask.nonzero()[:, 0]
    totals = torch.zeros(mask.shape[0], dtype=values.dtype, device=values.device).index_add_(0, example, values)
    return totals / mask.sum(dim=1)


def _mean_over_targets(values: Float[Tensor, " target"], data: Dataset) -> Float[Tensor, " batch"]:
    return mean_over_targets(values, data.target_mask)


def kl_rows(log_p: Float[Tensor, "target vocab"], log_q: Float[Tensor, "target vocab"]) -> Float[Tensor, " target"]:
    """KL(p ‖ q) per row from log-probabilities (clamped at 0: rounding can give -1e-17)."""
    return (log_p.exp() * (log_p - log_q)).sum(-1).clamp_min(0.0)


def _gather(rows: Float[Tensor, "target vocab"], ids: Tensor) -> Float[Tensor, " target"]:
    return rows.gather(-1, ids.to(rows.device).unsqueeze(-1)).squeeze(-1)


def kl(
    ref_logits: Float[Tensor, "batch pos vocab"], patched_logits: Float[Tensor, "batch pos vocab"], data: Dataset
) -> Float[Tensor, " batch"]:
    """KL(softmax(ref) ‖ softmax(patched)) in nats, averaged over each example's target positions."""
    if (
        isinstance(ref_logits, Tensor)
        and isinstance(patched_logits, Tensor)
        and ref_logits.shape != patched_logits.shape
    ):
        raise ShapeMismatchError(
            f"ref_logits {tuple(ref_logits.shape)} and patched_logits "
            f"{tuple(patched_logits.shape)} must have the same shape"
        )
    ref = _check_logits("ref_logits", ref_logits, data)
    new = _check_logits("patched_logits", patched_logits, data)
    return _mean_over_targets(kl_rows(ref.log_softmax(-1), new.log_softmax(-1)), data)


def loss(logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Float[Tensor, " batch"]:
    """Cross-entropy of ``data.target_tokens``, averaged over each example's target positions."""
    x = _check_logits("logits", logits, data)
    ids = _check_ids("target_tokens", data.target_tokens, data, x.shape[-1])
    return _mean_over_targets(-_gather(x.log_softmax(-1), ids), data)


def logit_diff(logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Float[Tensor, " batch"]:
    """logit[target] − logit[distractor], averaged over each example's target positions."""
    if data.distractor_tokens is None:
        raise InputError(
            "logit difference needs an incorrect token per target position, but the dataset "
            "has distractor_tokens=None; pass distractor_tokens to Dataset(...)"
        )
    x = _check_logits("logits", logits, data)
    good = _check_ids("target_tokens", data.target_tokens, data, x.shape[-1])
    bad = _check_ids("distractor_tokens", data.distractor_tokens, data, x.shape[-1])
    return _mean_over_targets(_gather(x, good) - _gather(x, bad), data)


def abs_loss_diff(
    ref_logits: Float[Tensor, "batch pos vocab"], patched_logits: Float[Tensor, "batch pos vocab"], data: Dataset
) -> Float[Tensor, " batch"]:
    """|loss(patched) − loss(ref)| per example."""
    return (loss(patched_logits, data) - loss(ref_logits, data)).abs()


def abs_logit_diff_diff(
    ref_logits: Float[Tensor, "batch pos vocab"], patched_logits: Float[Tensor, "batch pos vocab"], data: Dataset
) -> Float[Tensor, " batch"]:
    """|logit_diff(patched) − logit_diff(ref)| per example."""
    return (logit_diff(patched_logits, data) - logit_diff(ref_logits, data)).abs()


DELTAS: dict[str, Delta] = {"kl": kl, "loss": abs_loss_diff, "logit_diff": abs_logit_diff_diff}


class TargetDelta:
    """A built-in δ (a key of :data:`DELTAS`) and the loss, from the target rows alone, with the
    reference side prepared once: what scoring many hypotheses on one batch needs.

    ``ref_rows`` and the rows passed later are ``logits[data.target_mask]`` (row-major order);
    :meth:`delta_and_loss` gives the same numbers as ``DELTAS[name](ref, patched, data)`` and
    ``loss(patched, data)`` (the same float64 operations), without a full ``[batch, pos, vocab]``
    buffer, a boolean gather or the reference's log-softmax per hypothesis.
    """

    def __init__(self, name: str, ref_rows: Float[Tensor, "target vocab"], data: Dataset) -> None:
        if name not in DELTAS:
            raise InputError(f"unknown delta {name!r}; valid names are {', '.join(map(repr, DELTAS))}")
        if name == "logit_diff" and data.distractor_tokens is None:
            raise InputError(
                "logit difference needs an incorrect token per target position, but the dataset "
                "has distractor_tokens=None; pass distractor_tokens to Dataset(...)"
            )
        mask = data.target_mask.to(ref_rows.device)
        self.name, self.example, self.count = name, mask.nonzero()[:, 0], mask.sum(dim=1)
        vocab = ref_rows.shape[-1]
        self.good = _check_ids("target_tokens", data.target_tokens, data, vocab).to(ref_rows.device)
        self.bad: Tensor | None = None
        if data.distractor_tokens is not None and name == "logit_diff":
            self.bad = _check_ids("distractor_tokens", data.distractor_tokens, data, vocab).to(ref_rows.device)
        ref = _finite_rows("ref_logits", ref_rows)
        self.ref_log_p = ref.log_softmax(-1)
        self.ref_side = self._loss(self.ref_log_p) if name == "loss" else self._logit_diff(ref)

    def _mean(self, values: Float[Tensor, " target"]) -> Float[Tensor, " batch"]:
        totals = torch.zeros(len(self.count), dtype=values.dtype, device=values.device)
        return totals.index_add_(0, self.example, values) / self.count

    def _loss(self, log_p: Float[Tensor, "target vocab"]) -> Float[Tensor, " batch"]:
        return self._mean(-_gather(log_p, self.good))

    def _logit_diff(self, x: Float[Tensor, "target vocab"]) -> Float[Tensor, " batch"]:
        """Per example, the mean logit difference (zeros when the δ is not ``logit_diff``)."""
        if self.bad is None:
            return x.new_zeros(len(self.count))
        return self._mean(_gather(x, self.good) - _gather(x, self.bad))

    def delta(self, rows: Float[Tensor, "target vocab"]) -> Float[Tensor, " batch"]:
        """δ(reference, patched) per example from the patched target rows."""
        x = _finite_rows("patched_logits", rows)
        if self.name == "logit_diff":
            return (self._logit_diff(x) - self.ref_side).abs()
        log_p = x.log_softmax(-1)
        if self.name == "loss":
            return (self._loss(log_p) - self.ref_side).abs()
        return self._mean(kl_rows(self.ref_log_p, log_p))

    def delta_and_loss(
        self, rows: Float[Tensor, "target vocab"]
    ) -> tuple[Float[Tensor, " batch"], Float[Tensor, " batch"]]:
        """δ(reference, patched) and the patched loss per example."""
        x = _finite_rows("patched_logits", rows)
        log_p = x.log_softmax(-1)
        patched_loss = self._loss(log_p)
        if self.name == "logit_diff":
            return (self._logit_diff(x) - self.ref_side).abs(), patched_loss
        if self.name == "loss":
            return (patched_loss - self.ref_side).abs(), patched_loss
        return self._mean(kl_rows(self.ref_log_p, log_p)), patched_loss


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
        raise InputError(
            f"unknown delta {delta!r}; valid names are {', '.join(map(repr, DELTAS))}, "
            f"or pass a callable (ref_logits, patched_logits, data) -> [batch]{hint_text}"
        )
    if not callable(delta):
        raise InputError(
            f"delta must be one of {', '.join(map(repr, DELTAS))} or a callable, got {type(delta).__name__}"
        )
    if delta in DELTAS.values():
        return delta
    name = getattr(delta, "__name__", repr(delta))

    def checked(ref_logits: Tensor, patched_logits: Tensor, data: Dataset) -> Float[Tensor, " batch"]:
        out = delta(ref_logits, patched_logits, data)
        if not isinstance(out, Tensor) or tuple(out.shape) != (len(data),):
            got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
            raise InputError(
                f"delta {name} must return a tensor of shape [batch] = ({len(data)},), got {got}; "
                f"reduce over positions (e.g. .mean(dim=1)) but keep one value per example"
            )
        if not bool(torch.isfinite(out).all()):
            raise InputError(f"delta {name} returned NaN or infinite values; it must be finite for every example")
        return out

    checked.__name__ = name
    checked.__doc__ = delta.__doc__
    return checked


def check_delta(delta: object) -> None:
    """A built-in δ name or a callable (resolved early so a typo fails before any work)."""
    if not isinstance(delta, str) and not callable(delta):
        raise TypeError(f"delta must be 'kl', 'loss', 'logit_diff' or a callable, got {type(delta).__name__}")
    resolve_delta(delta)


def targets_only(delta: Delta) -> Delta:
    """Mark a callable δ as reading the logits only at ``data.target_mask``: scoring then computes
    patched values only at those rows (the others are left unset). Returns ``delta`` itself."""
    setattr(delta, "reads_targets_only", True)  # noqa: B010 (the one place this attribute is set)
    return delta


def reads_targets_only(delta: str | Delta) -> bool:
    """Whether δ reads only the target rows: every built-in one, and callables marked by
    :func:`targets_only` (or carrying ``reads_targets_only = True`` themselves)."""
    return isinstance(delta, str) or bool(getattr(delta, "reads_targets_only", False))
