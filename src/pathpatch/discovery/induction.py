"""Path search against the hand-built induction ladder, on held-out sequences (``pathpatch demo``).

The ladder of :mod:`pathpatch.induction.study` builds its best compact set by hand: the naive
story plus the path groups that add most, chosen on the demo's sequences (650 paths explaining 0.919
of |Δ loss| at the induction candidates of 200 held-out sequences, seed 0). :func:`compare_with_ladder`
runs :func:`~pathpatch.discovery.paths.discover_paths` on the first ``search_examples`` of those
same sequences, then scores the naive set, the ladder's set and the discovered set on the
``eval_examples`` sequences that follow them in the same seeded draw, which neither the ladder nor
the search has seen: x_new resampled among them, δ = |Δ loss| at the candidates, as in the study.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from .. import validate
from ..data import pair_derangement
from ..errors import ArgumentError, EmptyDatasetError
from ..induction.study import induction_dataset, naive_patterns, run_study
from ..lang.hypothesis import paths
from ..model.residual import ResidualModel
from ..options import Intervals, Options
from ..report import Report
from ..scoring import score_with
from .acdc import acdc
from .circuit import Circuit
from .paths import discover_paths

__all__ = ["LadderComparison", "compare_with_ladder"]


@dataclass(frozen=True)
class LadderComparison:
    """The held-out report (rows: naive, ladder, paths search, ACDC) and the discovered circuits."""

    report: Report
    circuit: Circuit
    seconds: float
    acdc: Circuit | None = None

    def __str__(self) -> str:
        f, m = self.circuit.found_by, self.report.meta
        return (
            f"{self.report}\npaths search: {f['paths']} paths, found on {f['examples']} of the ladder's "
            f"sequences (target {f['target']}, {f['steps']} engine calls, {f['hypotheses']} hypotheses, "
            f"{f['seconds']:.1f} s); scored on {m['examples']} held-out sequences no search saw"
            + (
                f"\nACDC: {self.acdc.n_edges} edges (threshold {self.acdc.found_by['threshold']}), found on "
                f"{self.acdc.found_by['examples']} of the ladder's sequences ({self.acdc.found_by['passes']} engine "
                f"calls, {self.acdc.found_by['hypotheses']} hypotheses, {self.acdc.found_by['seconds']:.1f} s)"
                if self.acdc is not None
                else ""
            )
            + f"\n{self.seconds:.1f} s in all"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report.to_dict(),
            "circuit": self.circuit.to_dict(),
            "seconds": self.seconds,
            "acdc": None if self.acdc is None else self.acdc.to_dict(),
        }


def _heads(names: list[str]) -> list[int]:
    return [int(n.split(".")[1]) for n in names]


def compare_with_ladder(
    model: ResidualModel | None = None,
    heldout: torch.Tensor | None = None,
    ladder: list[str] | None = None,
    prev: list[int] | None = None,
    ind: list[int] | None = None,
    *,
    study_examples: int = 200,
    search_examples: int = 32,
    eval_examples: int = 200,
    target: float = 0.95,
    max_steps: int = 8,
    seed: int = 0,
    n_boot: int = 1000,
    progress: bool = False,
    acdc_threshold: float | None = 0.02,
    acdc_examples: int = 16,
) -> LadderComparison:
    """Discovered paths vs the ladder's best compact set, both scored on unseen held-out sequences.

    ``model``/``heldout``: the shipped ``induction-2l`` and its held-out tokens unless given.
    ``ladder``: the ladder's best patterns (``run_study(...).best_patterns`` on the first
    ``study_examples`` sequences, as ``pathpatch demo`` has them; computed here if ``None``, about a
    minute more). ``prev``/``ind``: previous-token and induction heads of layers 0 and 1 (from
    :func:`~pathpatch.induction.probes.prove_induction` if ``None``). The search runs on
    ``search_examples`` of the study's sequences with ``target`` and ``max_steps``
    (:func:`discover_paths`); ACDC (:func:`~pathpatch.discovery.acdc.acdc`, δ = |Δ loss|, unless
    ``acdc_threshold`` is ``None``) on the first ``acdc_examples``; the report covers the next
    ``eval_examples`` sequences.
    """
    options, intervals = Options(delta="loss", progress=progress), Intervals(n_boot=n_boot, seed=seed)
    start = time.perf_counter()
    if model is None or heldout is None:
        from ..zoo import bundle

        b = bundle("induction-2l")
        model, heldout = model or b.model, heldout if heldout is not None else b.heldout
    for name, value in (
        ("study_examples", study_examples),
        ("search_examples", search_examples),
        ("eval_examples", eval_examples),
        ("acdc_examples", acdc_examples),
    ):
        validate.check_int(value, name, 2)
    for name, value in (("search_examples", search_examples), ("acdc_examples", acdc_examples)):
        if value > study_examples:
            raise ArgumentError(
                f"{name}={value} must not exceed study_examples={study_examples}: the searches run "
                "on the ladder's sequences, so that all are scored on unseen ones"
            )
    if prev is None or ind is None:
        from ..induction.probes import prove_induction

        proof = prove_induction(model)
        prev, ind = prev or _heads(proof.prev_token_heads), ind or _heads(proof.induction_heads)
    pool = induction_dataset(heldout, study_examples + eval_examples, seed)
    if len(pool) < study_examples + 2:
        raise EmptyDatasetError(
            f"the held-out tokens hold {len(pool)} sequences with an induction candidate, fewer "
            f"than study_examples + 2 = {study_examples + 2}; lower study_examples"
        )
    study = pool[:study_examples]
    if ladder is None:
        ladder = run_study(
            model, pair_derangement(study, seed), prev, ind, n_boot=100, seed=seed, progress=progress
        ).best_patterns
    circuit = discover_paths(
        model,
        pair_derangement(study[:search_examples], seed),
        target=target,
        delta="loss",
        max_steps=max_steps,
        progress=progress,
        score=False,
        seed=seed,
    )
    found = None
    if acdc_threshold is not None:
        found = acdc(
            model,
            pair_derangement(study[:acdc_examples], seed),
            acdc_threshold,
            delta="loss",
            progress=progress,
            score=False,
            seed=seed,
        )
    held = pair_derangement(pool[study_examples:], seed)
    hyps = {
        "naive (Olsson et al.)": paths(naive_patterns(prev, ind)),
        "ladder best compact (hand-built)": paths(ladder),
        "paths search (discover_paths)": circuit.hypothesis,
    }
    if found is not None:
        hyps[f"ACDC subgraph (threshold {acdc_threshold:g})"] = found.hypothesis
    report = score_with(
        model,
        hyps,
        held,
        options,
        intervals,
        meta={
            "metric positions": "good induction candidates",
            "held out": f"sequences {study_examples}..{len(pool) - 1} of the draw (search on 0..{search_examples - 1})",
        },
    )
    return LadderComparison(report, circuit, round(time.perf_counter() - start, 1), found)
