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
from tqdm.auto import tqdm

from .data import Dataset, Pairs, check_pairs
from .engine.api import Engine, equal_inputs
from .engine.budget import Chunk, chunk_work, resolve_budget
from .engine.cache import mean_outputs
from .errors import EmptyPathSetError, InputError, TokenOutOfRangeError
from .estimates import summarise
from .graph import Node
from .lang.hypothesis import Hypothesis, Patterns
from .metrics import Delta, TargetDelta, loss, reads_targets_only, resolve_delta
from .model.residual import ResidualModel, check_model
from .options import Ablation, Intervals, Options
from .report import HypothesisScore, Report

__all__ = ["score", "per_example", "count_paths", "score_with", "example_values", "check_inputs", "check_data"]


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
) -> dict[str, dict[str, np.ndarray]]:
    """Per-example ``delta_h``, ``delta_empty`` and losses (``loss_h``, ``loss_clean``, ``loss_new``).

    See :func:`score` for ``max_memory``, ``device`` and ``dtype``.
    """
    options = Options(delta, ablation, batch_size, progress, max_memory, device, dtype)
    return example_values(model, check_inputs(model, hypotheses, pairs, options, "per_example"), pairs, options)


@torch.no_grad()
def example_values(
    model: ResidualModel, named: Mapping[str, Hypothesis], pairs: Pairs, options: Options
) -> dict[str, dict[str, np.ndarray]]:
    """:func:`per_example` of hypotheses already checked against ``model`` and ``pairs``
    (:func:`check_inputs`)."""
    delta, ablation = options.delta, options.ablation
    model = model.placed(options.device, options.dtype)
    hyps, names = list(named.values()), list(named)
    chunks = _chunks(
        model,
        hyps,
        pairs,
        reads_targets_only(delta),
        options.batch_size,
        options.max_memory,
        equal_inputs(model, ablation),
    )
    means = mean_outputs(model, model.check_tokens(pairs.new_tokens, "new_tokens")) if ablation == "mean" else None
    cols: dict[str, dict[str, list[np.ndarray]]] = {n: {} for n in named}
    shared: dict[str, list[np.ndarray]] = {"delta_empty": [], "loss_clean": [], "loss_new": []}
    bar = tqdm(
        total=sum(-(-len(pairs) // c.batch_size) for c in chunks),
        desc="scoring",
        unit="batch",
        disable=not options.progress,
        leave=False,
    )
    for k, chunk in enumerate(chunks):
        for _, batch in pairs.batches(chunk.batch_size):
            own, both_runs = _batch_values(chunk.engine, batch, delta, ablation, means, k == 0)
            for i, values in zip(chunk.indices, own):
                for key, value in values.items():
                    cols[names[i]].setdefault(key, []).append(value)
            for key, value in both_runs.items():
                shared[key].append(value)
            bar.update()
    bar.close()
    common = {k: np.concatenate(v) for k, v in shared.items()}
    return {n: {**{k: np.concatenate(v) for k, v in c.items()}, **common} for n, c in cols.items()}


def _batch_values(
    engine: Engine,
    batch: Pairs,
    delta: str | Delta,
    ablation: Ablation,
    means: dict[Node, torch.Tensor] | None,
    with_common: bool,
) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per-example ``delta_h`` and ``loss_h`` of every hypothesis of ``engine`` on one batch (and,
    if ``with_common``, the values shared by all: ``delta_empty``, ``loss_clean``, ``loss_new``).
    A function of its own so that the batch's patched logits are freed before the next batch."""
    data = batch.ref
    only_targets = reads_targets_only(delta)
    run = engine.run_batch(
        data.tokens,
        batch.new_tokens,
        ablation,
        means,
        data.positions,
        targets=data.target_mask if only_targets else None,
    )
    clean, ablated, patched = run.clean, run.ablated, run.logits
    if isinstance(delta, str):
        return _target_values(
            TargetDelta(delta, clean.logits[data.target_mask.to(clean.device)], data),
            clean.logits,
            ablated.logits,
            patched,
            data,
            with_common,
        )
    delta_fn = resolve_delta(delta)
    clean_logits = clean.logits.float()
    common: dict[str, np.ndarray] = {}
    if with_common:
        ablated_logits = ablated.logits.float()
        common = {
            "delta_empty": delta_fn(clean_logits, ablated_logits, data).cpu().numpy(),
            "loss_clean": loss(clean_logits, data).cpu().numpy(),
            "loss_new": loss(ablated_logits, data).cpu().numpy(),
        }
    buffer = clean_logits.clone()  # each hypothesis' target rows are written into it in turn
    mask = data.target_mask.to(buffer.device)
    own = []
    for rows in patched:
        if only_targets:
            buffer[mask] = rows.float()
        else:
            buffer = rows.float()
        own.append(
            {"delta_h": delta_fn(clean_logits, buffer, data).cpu().numpy(), "loss_h": loss(buffer, data).cpu().numpy()}
        )
    return own, common


def _target_values(
    metric: TargetDelta,
    clean: torch.Tensor,
    ablated: torch.Tensor,
    patched: list[torch.Tensor],
    data: Dataset,
    with_common: bool,
) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """:func:`_batch_values` of a built-in delta, from the target rows alone (the same numbers as
    the full-logits functions of :mod:`pathpatch.metrics`); hypotheses that share their rows (those
    equal to a run) share their values."""
    mask = data.target_mask.to(clean.device)
    common: dict[str, np.ndarray] = {}
    if with_common:
        empty, loss_new = metric.delta_and_loss(ablated[mask])
        loss_clean = metric.delta_and_loss(clean[mask])[1]
        common = {
            "delta_empty": empty.cpu().numpy(),
            "loss_clean": loss_clean.cpu().numpy(),
            "loss_new": loss_new.cpu().numpy(),
        }
    done: dict[int, dict[str, np.ndarray]] = {}
    for rows in patched:
        if id(rows) not in done:
            value, patched_loss = metric.delta_and_loss(rows)
            done[id(rows)] = {"delta_h": value.cpu().numpy(), "loss_h": patched_loss.cpu().numpy()}
    return [done[id(rows)] for rows in patched], common


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


def _chunks(
    model: ResidualModel,
    hyps: list[Hypothesis],
    pairs: Pairs,
    only_targets: bool,
    batch_size: int,
    max_memory: int | str | None,
    both: frozenset[Node],
) -> list[Chunk]:
    """The groups of hypotheses and batch sizes that keep one evaluation within ``max_memory``
    (default: three quarters of the free memory of the model's device; :mod:`pathpatch.engine.budget`)."""
    mask = pairs.ref.target_mask
    rows = int(mask.sum(1).max()) if only_targets else None
    at = tuple(mask.any(0).nonzero().flatten().tolist()) if only_targets else None  # as the run plans them
    return chunk_work(
        model,
        Engine(model, hyps),
        pairs.ref.n_pos,
        rows,
        resolve_budget(max_memory, model.device),
        batch_size,
        pairs.ref.names_at(0),
        both,
        at,
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
    """
    options = Options(delta, ablation, batch_size, progress, max_memory, device, dtype)
    return score_with(model, hypotheses, pairs, options, Intervals(n_boot=n_boot, level=level, seed=seed), meta)


def score_with(
    model: ResidualModel,
    hypotheses: Mapping[str, Hypothesis] | Sequence[Hypothesis],
    pairs: Pairs,
    options: Options,
    intervals: Intervals,
    meta: dict[str, Any] | None = None,
) -> Report:
    """:func:`score` with its settings as values (checked when made)."""
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
    values = example_values(model, named, pairs, options)
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
