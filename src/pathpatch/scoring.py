"""Scoring hypotheses on a dataset: AUE, ATE, proportion explained and loss recovered, with CIs.

One pass over the pairs, in batches: per batch the clean and ablated runs are cached once and every
hypothesis is evaluated together (shared copies), then the per-example values are summarised with
paired bootstrap intervals (:mod:`pathpatch.estimates`).

>>> report = score(model, {"naive": h1, "refined": h2}, pair_derangement(data))   # doctest: +SKIP
>>> print(report)                                                                     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .batches import ShardBackend, example_values
from .data import Pairs, check_pairs
from .errors import ArgumentError, EmptyPathSetError, InputError, TokenOutOfRangeError
from .estimates import summarise
from .lang.hypothesis import Hypothesis, Patterns
from .metrics import Delta
from .model.residual import ResidualModel, check_model
from .options import Ablation, Intervals, Options
from .report import HypothesisScore, Report

__all__ = [
    "score",
    "per_example",
    "count_paths",
    "score_with",
    "example_values",
    "check_inputs",
    "check_data",
    "shard_backend",
]


def _named(hypotheses: Mapping[str, Hypothesis] | Sequence[Hypothesis]) -> dict[str, Hypothesis]:
    if isinstance(hypotheses, Hypothesis):
        hypotheses = [hypotheses]
    if isinstance(hypotheses, (str, bytes)) or not isinstance(hypotheses, (Mapping, Sequence, set, frozenset)):
        raise TypeError(
            f"hypotheses must be a dict {{name: Hypothesis}} or a list of Hypothesis objects, "
            f"got {type(hypotheses).__name__}"
        )
    named = dict(hypotheses) if isinstance(hypotheses, Mapping) else {str(h): h for h in hypotheses}
    if not named:
        raise InputError("no hypotheses to score; pass a dict {name: hypothesis} or a list")
    for name, h in named.items():
        if not isinstance(name, str):
            raise TypeError(f"hypothesis names must be strings, got {type(name).__name__} {name!r}")
        if not isinstance(h, Hypothesis):
            circuit = hasattr(h, "hypothesis") and hasattr(h, "found_by")
            raise TypeError(
                f"hypothesis {name!r} must be a Hypothesis (see pathpatch.paths), got {type(h).__name__}"
                + ("; wrap pattern strings in pathpatch.paths(...)" if isinstance(h, str) else "")
                + ("; to score a circuit, pass circuit.hypothesis" if circuit else "")
            )
    if len(named) != (len(hypotheses)):
        raise InputError("two hypotheses have the same name; pass a dict with distinct names")
    return named


def per_example(
    model: ResidualModel,
    hypotheses: Mapping[str, Hypothesis] | Sequence[Hypothesis],
    pairs: Pairs,
    delta: str | Delta = "kl",
    ablation: Ablation = "resample",
    batch_size: int = 32,
    progress: bool = True,
    max_memory: int | str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    backend: ShardBackend | str | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Per-example ``delta_h``, ``delta_empty`` and losses (``loss_h``, ``loss_clean``, ``loss_new``).

    See :func:`score` for ``max_memory``, ``device``, ``dtype`` and ``backend``.
    """
    options = Options(delta, ablation, batch_size, progress, max_memory, device, dtype)
    named = check_inputs(model, hypotheses, pairs, options, "per_example")
    return example_values(model, named, pairs, options, shard_backend(backend))


def shard_backend(backend: ShardBackend | str | None) -> ShardBackend | None:
    """``backend`` as :func:`score` takes it: None or ``"local"`` for this process, or an object
    that computes units of work elsewhere (``map_units``, :class:`pathpatch.batches.ShardBackend`)."""
    if backend is None or backend == "local":
        return None
    if isinstance(backend, str):
        raise ArgumentError(
            f"backend {backend!r}: pass None or 'local' for this process, or a backend object, e.g. "
            "pathpatch.backends.RayBackend(workers=2) (extra pathpatch[ray]), which shards the examples"
        )
    if not callable(getattr(backend, "map_units", None)):
        raise TypeError(
            f"backend must be None, 'local' or an object with map_units (e.g. pathpatch.backends.RayBackend), "
            f"got {type(backend).__name__}"
        )
    return backend


def check_inputs(
    model: ResidualModel,
    hypotheses: Mapping[str, Hypothesis] | Sequence[Hypothesis],
    pairs: Pairs,
    options: Options,
    where: str,
) -> dict[str, Hypothesis]:
    """The inputs of :func:`per_example` besides its options (checked when made), before any work
    (typed errors): the named hypotheses."""
    check_model(model, where)
    check_pairs(pairs, where)
    named = _named(hypotheses)
    for h in named.values():
        h.compile(model)  # unknown names fail now, not after the clean runs
    check_data(model, pairs, options)
    return named


def check_data(model: ResidualModel, pairs: Pairs, options: Options) -> None:
    """The data the options need, with token ids at the target positions in the model's vocabulary."""
    options.check_pairs(pairs)
    vocab, mask = model.config.d_vocab, pairs.ref.target_mask
    for what in ("target_tokens", "distractor_tokens"):
        ids = getattr(pairs.ref, what)
        if ids is not None and bool(((ids[mask] < 0) | (ids[mask] >= vocab)).any()):
            raise TokenOutOfRangeError(
                f"{what} at the target positions holds ids outside the model's vocabulary "
                f"[0, {vocab}); check that the tokenizer matches the model"
            )


def count_paths(hyp: Hypothesis, model: ResidualModel, pairs: Pairs) -> int:
    """The paths ``hyp`` holds; position-resolved paths (with the first example's named
    positions) if it names positions."""
    if not hyp.positional:
        return hyp.count(model)
    return hyp.count(model, n_pos=pairs.ref.n_pos, positions=pairs.ref.names_at(0))


def score(
    model: ResidualModel,
    hypotheses: Mapping[str, Hypothesis] | Sequence[Hypothesis],
    pairs: Pairs,
    delta: str | Delta = "kl",
    ablation: Ablation = "resample",
    batch_size: int = 32,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    progress: bool = True,
    meta: dict[str, Any] | None = None,
    max_memory: int | str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    backend: ShardBackend | str | None = None,
) -> Report:
    """Score each hypothesis on ``pairs``: AUE, ATE, proportion explained, loss recovered, with CIs.

    ``delta``: ``"kl"`` (default), ``"loss"``, ``"logit_diff"`` or a callable
    ``(ref_logits, patched_logits, data) -> [batch]``; a callable gets the logits at every
    position unless it is marked by :func:`pathpatch.metrics.targets_only` (the attribute
    ``reads_targets_only = True``; then only the rows at
    ``data.target_mask`` hold patched values, and only those are computed). ``ablation``: ``"resample"`` uses
    ``pairs.new_tokens`` as x_new; ``"mean"`` uses the mean activations over ``pairs.new_tokens``;
    ``"zero"`` uses zeros.

    ``max_memory`` (bytes, or a size like ``"4GB"``; default ``None``: three quarters of the memory free on
    the device): evaluate in batches of examples, and if needed in groups of hypotheses, whose
    engine tensors stay within it (an estimate, see :mod:`pathpatch.engine.budget`); the numbers
    are those of one unbounded pass. ``device``
    (``"cuda"``, ``"cpu"``, ...) and ``dtype`` (``torch.bfloat16``, ``torch.float16``, ...) run the
    evaluation on a copy of ``model`` placed there (the model passed in is not changed); metrics
    are always computed in float64 from the logits.

    ``backend`` (default None: this process): an object that computes the batches elsewhere, e.g.
    ``pathpatch.backends.RayBackend(workers=2)``, which shards the examples over its workers; the
    driver gathers the per-example values in example order and computes the intervals itself, so
    every number is that of this process with the workers' thread count (one by default).
    """
    options = Options(delta, ablation, batch_size, progress, max_memory, device, dtype)
    intervals = Intervals(n_boot=n_boot, level=level, seed=seed)
    return score_with(model, hypotheses, pairs, options, intervals, meta, shard_backend(backend))


def score_with(
    model: ResidualModel,
    hypotheses: Mapping[str, Hypothesis] | Sequence[Hypothesis],
    pairs: Pairs,
    options: Options,
    intervals: Intervals,
    meta: dict[str, Any] | None = None,
    backend: ShardBackend | None = None,
) -> Report:
    """:func:`score` with its settings as values (checked when made); ``backend`` as
    :func:`shard_backend` returns it."""
    named = check_inputs(model, hypotheses, pairs, options, "score")
    if meta is not None and not isinstance(meta, Mapping):
        raise TypeError(f"meta must be a dict of JSON values, got {type(meta).__name__}")
    counts = {name: count_paths(hyp, model, pairs) for name, hyp in named.items()}
    for name, hyp in named.items():
        if counts[name] == 0 and isinstance(hyp, Patterns):
            text = str(hyp)
            raise EmptyPathSetError(
                f"hypothesis {name!r} names no path of this model ({model.graph.describe()}"
                f"{f', on {pairs.ref.n_pos}-token sequences' if hyp.positional else ''}): "
                "a sender must come before its receiver, and an edge into k or v from a position "
                "at or before the receiver's, any other at the same position; for the empty "
                "hypothesis on purpose, use pathpatch.no_paths()",
                text,
                text,
                0,
            )
    values = example_values(model, named, pairs, options, backend)
    scores = []
    for name in named:
        metrics = summarise(values[name], n_boot=intervals.n_boot, level=intervals.level, seed=intervals.seed)
        scores.append(HypothesisScore(name, counts[name], metrics))
    info = {
        "delta": options.delta_name,
        "ablation": options.ablation,
        "examples": len(pairs),
        "model": model.graph.describe(),
        "level": intervals.level,
        "n_boot": intervals.n_boot,
        "seed": intervals.seed,
        "dtype": str(options.dtype or model.dtype).replace("torch.", ""),
        "device": str(options.device or model.device),
    }
    info.update(meta or {})
    return Report(tuple(scores), info)
