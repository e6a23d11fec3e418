"""Scoring many hypotheses call after call on the same pairs, as searches do, on cached runs.

:func:`pathpatch.per_example` recomputes the clean and ablated runs on every call, and the loss
of every hypothesis besides its delta. A search makes tens of calls on one set of pairs and needs
only each hypothesis' mean delta, so :class:`CachedScorer` keeps the clean and ablated runs across
calls (when they fit in a quarter of the memory budget) with the clean side of the delta prepared
(:class:`pathpatch.metrics.TargetDelta`, as ``per_example`` uses), and computes only the target
rows' logits of each hypothesis. The values are those of ``per_example`` (same engine, same
formulas; tested to 1e-9). A callable delta goes through ``per_example``'s own evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from ..data import Pairs
from ..engine.api import Engine, ablated_cache, equal_inputs
from ..engine.budget import chunk_work, resolve_budget
from ..engine.cache import RunCache, mean_outputs, run_cache
from ..errors import InputError
from ..lang.hypothesis import Hypothesis, no_paths
from ..metrics import TargetDelta
from ..model.residual import ResidualModel
from ..options import Options
from ..scoring import example_values

__all__ = ["CachedScorer"]

DEFAULTS = Options()  # those of pathpatch.per_example


class CachedScorer:
    """Mean delta (AUE) and proportion explained of many hypotheses in one engine call each time.

    ``options``: how to evaluate, as for :func:`pathpatch.per_example` (the progress bar aside), on
    inputs the caller checked. Attributes: ``ate`` (the mean delta of the empty hypothesis),
    ``passes`` (engine calls, the total effect's included for a callable delta) and ``hypotheses``
    (scored in all).
    """

    def __init__(self, model: ResidualModel, pairs: Pairs, options: Options = DEFAULTS) -> None:
        self.model, self.pairs, self.delta, self.ablation = model, pairs, options.delta, options.ablation
        self.options = options.replace(progress=False)
        self.budget, self.passes, self.hypotheses = resolve_budget(options.max_memory, model.device), 0, 0
        self.means = (
            mean_outputs(model, model.check_tokens(pairs.new_tokens, "new_tokens")) if self.ablation == "mean" else None
        )
        self._batches(options.batch_size)
        if isinstance(self.delta, str):
            total = sum(
                float(self._delta(r[2], self._rows(i, r[1])).sum())
                for i in range(len(self.batches))
                for r in [self._runs(i)]
            )
        else:
            self.passes += 1
            values = example_values(model, {"": no_paths()}, pairs, self.options)
            total = float(values[""]["delta_empty"].sum())
        self.ate = total / len(pairs)

    def _batches(self, size: int) -> None:
        self.batch_size, self.keep, self.batches = size, True, []
        self.caches: dict[int, tuple[RunCache, RunCache, TargetDelta]] = {}
        for _, b in self.pairs.batches(size):
            mask, dev = b.ref.target_mask, self.model.device
            self.batches.append((b, mask.to(dev)))

    def _runs(self, i: int) -> tuple[RunCache, RunCache, TargetDelta]:
        """The clean and ablated runs of batch ``i``, and the delta with the clean run's side prepared."""
        if i in self.caches:
            return self.caches[i]
        batch, check = self.batches[i][0], self.model.check_tokens
        ref = check(batch.ref.tokens, "ref tokens")
        clean = run_cache(self.model, ref)
        ablated = ablated_cache(self.model, ref, check(batch.new_tokens, "new_tokens"), self.ablation, self.means)
        assert isinstance(self.delta, str)  # a callable delta goes through per_example
        metric = TargetDelta(self.delta, self._rows(i, clean), batch.ref)
        runs = (clean, ablated, metric)
        size = metric.ref_log_p.nbytes + metric.ref_side.nbytes
        size += sum(t.nbytes for c in runs[:2] for d in (c.outputs, c.stage_inputs, c.patterns) for t in d.values())
        self.keep = self.keep and 4 * size * len(self.pairs) <= self.budget * len(batch)
        if self.keep:
            self.caches[i] = runs
        return runs

    def _rows(self, i: int, run: RunCache) -> torch.Tensor:
        return self.model.unembed(run.stage_inputs[max(run.stage_inputs)][self.batches[i][1]])

    @staticmethod
    def _delta(metric: TargetDelta, rows: torch.Tensor) -> np.ndarray:
        """Per-example delta between the clean run and patched target ``rows``."""
        return metric.delta(rows).cpu().numpy()

    def aue(self, named: Mapping[str, Hypothesis]) -> dict[str, float]:
        """The mean delta of every hypothesis of ``named``, in one engine call."""
        self.passes, self.hypotheses = self.passes + 1, self.hypotheses + len(named)
        if not isinstance(self.delta, str):
            values = example_values(self.model, named, self.pairs, self.options)
            return {k: float(v["delta_h"].mean()) for k, v in values.items()}
        hyps, names, mask = list(named.values()), list(named), self.pairs.ref.target_mask
        chunks = chunk_work(
            self.model,
            Engine(self.model, hyps),
            self.pairs.ref.n_pos,
            int(mask.sum(1).max()),
            self.budget,
            self.batch_size,
            {},
            equal_inputs(self.model, self.ablation),
            tuple(mask.any(0).nonzero().flatten().tolist()),
        )
        if min(c.batch_size for c in chunks) < self.batch_size:  # the memory budget asks for smaller batches
            self._batches(min(c.batch_size for c in chunks))
        total = dict.fromkeys(names, 0.0)
        for chunk in chunks:
            for i in range(len(self.batches)):
                clean, ablated, metric = self._runs(i)
                engine = chunk.engine
                rows = engine.run_caches(
                    clean, ablated, self.ablation == "resample", targets=self.batches[i][0].ref.target_mask
                )
                for j, r in zip(chunk.indices, rows):
                    total[names[j]] += float(self._delta(metric, r).sum())
                del rows  # freed before the next batch is evaluated
        return {k: v / len(self.pairs) for k, v in total.items()}

    def proportions(self, named: Mapping[str, Hypothesis]) -> dict[str, float]:
        """The proportion explained, 1 - AUE / ATE, of every hypothesis of ``named``, in one engine call."""
        if not self.ate > 0:
            raise InputError(
                "the average total effect is 0: x_ref and x_new give identical outputs, so no "
                "hypothesis explains anything; pair examples with different x_new"
            )
        return {k: 1.0 - v / self.ate for k, v in self.aue(named).items()}
