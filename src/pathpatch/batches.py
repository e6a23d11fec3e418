"""Per-example values, batch by batch: the plan of a scoring pass, its units of work, and how they
are gathered back in example order.

A pass over ``pairs`` is planned once (:func:`plan_values`): the model placed, the hypotheses
grouped into chunks that fit the memory budget (:mod:`pathpatch.engine.budget`), and the mean
activations if the ablation is ``"mean"``. Its work is a list of :class:`Unit` (one batch of one
chunk), each computed by :func:`unit_values` from the plan alone, and :func:`gather` puts the
units' values back in example order.

A unit's values depend only on the plan and the unit, so units may be computed anywhere: here, one
after another (:func:`example_values`), or by a :class:`ShardBackend` on other processes from a
:class:`Job` (the inputs, with the budget resolved to bytes and the means computed here, so that
every worker plans the same chunks and ablates with the same means). With the same thread count per
process, every value is identical to one computed here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import Dataset, Pairs
from .engine.api import Engine, equal_inputs
from .engine.budget import Chunk, chunk_work, resolve_budget
from .engine.cache import mean_outputs
from .graph import Node
from .lang.hypothesis import Hypothesis
from .metrics import Delta, TargetDelta, loss, reads_targets_only, resolve_delta
from .model.residual import ResidualModel
from .options import Ablation, Options

__all__ = [
    "Job",
    "Plan",
    "Unit",
    "UnitValues",
    "ShardBackend",
    "plan_values",
    "unit_values",
    "gather",
    "example_values",
]

Values = dict[str, np.ndarray]  # name -> [batch] per-example values


@dataclass(frozen=True)
class Unit:
    """One batch of one chunk: examples ``start:stop`` for the hypotheses of chunk ``chunk``."""

    chunk: int
    start: int
    stop: int


@dataclass(frozen=True)
class UnitValues:
    """A unit's per-example values: ``own[i]`` for the chunk's i-th hypothesis; ``common`` (the
    values shared by every hypothesis: ``delta_empty``, ``loss_clean``, ``loss_new``) from chunk 0 only."""

    own: tuple[Values, ...]
    common: Values


@dataclass(frozen=True)
class Job:
    """What a worker needs to compute any unit of a pass: the inputs as given, the options with
    ``max_memory`` in bytes, and the means of a ``"mean"`` ablation (None otherwise)."""

    model: ResidualModel
    named: Mapping[str, Hypothesis]
    pairs: Pairs
    options: Options
    means: dict[Node, torch.Tensor] | None


@dataclass(frozen=True)
class Plan:
    """A planned pass (module docs): the placed model, the chunks and the means of ``job``."""

    job: Job
    model: ResidualModel
    chunks: tuple[Chunk[Engine], ...]

    @property
    def units(self) -> list[Unit]:
        """Every unit of the pass, chunk by chunk, in example order."""
        n = len(self.job.pairs)
        return [
            Unit(k, s, min(s + c.batch_size, n)) for k, c in enumerate(self.chunks) for s in range(0, n, c.batch_size)
        ]


class ShardBackend(Protocol):
    """Computes the units of a pass on other processes (e.g. :class:`~pathpatch.backends.RayBackend`):
    :meth:`map_units` returns each unit's values in the order given, calling ``done(k)`` as ``k``
    more units finish."""

    name: str

    def map_units(self, job: Job, units: Sequence[Unit], done: Callable[[int], object]) -> list[UnitValues]: ...


def plan_values(
    model: ResidualModel,
    named: Mapping[str, Hypothesis],
    pairs: Pairs,
    options: Options,
    means: dict[Node, torch.Tensor] | None = None,
) -> Plan:
    """The plan of a pass over ``pairs`` (hypotheses already checked: ``scoring.check_inputs``);
    ``means`` are computed here for a ``"mean"`` ablation unless given."""
    placed = model.placed(options.device, options.dtype)
    budget = resolve_budget(options.max_memory, placed.device)
    if options.ablation == "mean" and means is None:
        means = mean_outputs(placed, placed.check_tokens(pairs.new_tokens, "new_tokens"))
    mask = pairs.ref.target_mask
    only_targets = reads_targets_only(options.delta)
    rows = int(mask.sum(1).max()) if only_targets else None
    at = tuple(mask.any(0).nonzero().flatten().tolist()) if only_targets else None  # as the run plans them
    chunks = chunk_work(
        placed,
        Engine(placed, list(named.values())),
        pairs.ref.n_pos,
        rows,
        budget,
        options.batch_size,
        pairs.ref.names_at(0),
        equal_inputs(placed, options.ablation),
        at,
    )
    job = Job(model, named, pairs, options.replace(max_memory=budget, progress=False), means)
    return Plan(job, placed, tuple(chunks))


@torch.no_grad()
def unit_values(plan: Plan, unit: Unit) -> UnitValues:
    """The per-example values of one unit of ``plan``."""
    options = plan.job.options
    batch = plan.job.pairs[torch.arange(unit.start, unit.stop)]
    engine = plan.chunks[unit.chunk].engine
    own, common = _batch_values(engine, batch, options.delta, options.ablation, plan.job.means, unit.chunk == 0)
    return UnitValues(tuple(own), common)


def gather(plan: Plan, units: Sequence[Unit], values: Sequence[UnitValues]) -> dict[str, Values]:
    """The units' values as ``{hypothesis name: {value name: [examples]}}``, in example order
    (:func:`pathpatch.scoring.per_example`)."""
    names = list(plan.job.named)
    cols: dict[str, dict[str, list[np.ndarray]]] = {n: {} for n in names}
    shared: dict[str, list[np.ndarray]] = {"delta_empty": [], "loss_clean": [], "loss_new": []}
    for unit, value in sorted(zip(units, values), key=lambda uv: (uv[0].chunk, uv[0].start)):
        for i, own in zip(plan.chunks[unit.chunk].indices, value.own):
            for key, array in own.items():
                cols[names[i]].setdefault(key, []).append(array)
        for key, array in value.common.items():
            shared[key].append(array)
    common = {k: np.concatenate(v) for k, v in shared.items()}
    return {n: {**{k: np.concatenate(v) for k, v in c.items()}, **common} for n, c in cols.items()}


def example_values(
    model: ResidualModel,
    named: Mapping[str, Hypothesis],
    pairs: Pairs,
    options: Options,
    backend: ShardBackend | None = None,
) -> dict[str, Values]:
    """Per-example values of hypotheses already checked against ``model`` and ``pairs``
    (``scoring.check_inputs``): here, or on ``backend``'s workers with the same numbers."""
    plan = plan_values(model, named, pairs, options)
    units = plan.units
    bar = tqdm(total=len(units), desc="scoring", unit="batch", disable=not options.progress, leave=False)
    if backend is None:
        values = []
        for unit in units:
            values.append(unit_values(plan, unit))
            bar.update()
    else:
        values = backend.map_units(plan.job, units, bar.update)
    bar.close()
    return gather(plan, units, values)


def _batch_values(
    engine: Engine,
    batch: Pairs,
    delta: str | Delta,
    ablation: Ablation,
    means: dict[Node, torch.Tensor] | None,
    with_common: bool,
) -> tuple[list[Values], Values]:
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
    common: Values = {}
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
) -> tuple[list[Values], Values]:
    """:func:`_batch_values` of a built-in delta, from the target rows alone (the same numbers as
    the full-logits functions of :mod:`pathpatch.metrics`); hypotheses that share their rows (those
    equal to a run) share their values."""
    mask = data.target_mask.to(clean.device)
    common: Values = {}
    if with_common:
        empty, loss_new = metric.delta_and_loss(ablated[mask])
        loss_clean = metric.delta_and_loss(clean[mask])[1]
        common = {
            "delta_empty": empty.cpu().numpy(),
            "loss_clean": loss_clean.cpu().numpy(),
            "loss_new": loss_new.cpu().numpy(),
        }
    done: dict[int, Values] = {}
    for rows in patched:
        if id(rows) not in done:
            value, patched_loss = metric.delta_and_loss(rows)
            done[id(rows)] = {"delta_h": value.cpu().numpy(), "loss_h": patched_loss.cpu().numpy()}
    return [done[id(rows)] for rows in patched], common
