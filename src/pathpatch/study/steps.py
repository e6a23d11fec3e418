"""Running one step of a cell: each kind calls the library function it names, with the cell's
settings, and returns its result as JSON values (what the cell file holds).

Every result has ``kind``, ``split``, ``examples`` and ``seconds`` (the only number a reproduction
does not compare), plus, by kind:

- ``score``: ``report`` (:meth:`Report.to_dict`) and ``hypotheses`` (each as a JSON spec);
- ``ladder``: :meth:`Ladder.to_dict` (report, gains, prefixes, best_k, best_patterns, ...);
- ``probe``: ``proof`` and ``summary``;
- ``scan``, ``trace``: ``table`` (the table's ``to_dict``);
- ``acdc``, ``eap``, ``eap-ig``, ``paths``: ``circuit`` (:meth:`Circuit.to_dict`) and ``curve``
  (a faithfulness curve, or None).

A step that finds a circuit or a set (discoveries, ladders) also returns it as a hypothesis,
which later steps of the cell score by the step's name.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import Pairs
from ..discovery.acdc import acdc_search
from ..discovery.circuit import Circuit
from ..discovery.curves import faithfulness, prefix_faithfulness
from ..discovery.eap import EdgeScores, eap
from ..discovery.paths import discover_paths
from ..induction.probes import prove_induction
from ..ladder import run_ladder
from ..lang.hypothesis import Hypothesis, paths
from ..model.residual import ResidualModel
from ..options import Intervals, Options
from ..render.spec import to_spec
from ..scans import edge_scan, node_scan, path_scan, sender_scan
from ..scoring import score_with
from ..tracing import causal_trace
from .schema import (
    AcdcStep,
    EapStep,
    LadderStep,
    PathsStep,
    ProbeStep,
    ScanStep,
    ScoreStep,
    Step,
    StudySpec,
    TraceStep,
)

__all__ = ["StepResult", "run_step", "step_settings"]


@dataclass(frozen=True)
class StepResult:
    """A step's JSON result, the Python value it came from (a Report, Ladder, ScanTable, TraceTable,
    Circuit or InductionProof, for figures) and, for discoveries and ladders, the hypothesis found."""

    data: dict[str, Any]
    value: Any
    hypothesis: Hypothesis | None = None


def step_settings(spec: StudySpec, step: Step) -> tuple[Options, Intervals]:
    """The cell's ``[settings]`` with the step's overrides, as values (progress bars off)."""
    merged = {**spec.settings.model_dump(), **{k: v for k, v in step.settings.model_dump().items() if v is not None}}
    options = Options(merged["delta"], merged["ablation"], merged["batch_size"], False, merged["max_memory"])
    return options, Intervals(n_boot=merged["n_boot"], level=merged["level"], seed=merged["seed"])


def _score_kw(options: Options, intervals: Intervals) -> dict[str, Any]:
    return {
        "delta": options.delta,
        "ablation": options.ablation,
        "batch_size": options.batch_size,
        "max_memory": options.max_memory,
        "n_boot": intervals.n_boot,
        "level": intervals.level,
        "seed": intervals.seed,
        "progress": False,
    }


def _score(model: ResidualModel, step: ScoreStep, pairs: Pairs, ctx: Context) -> StepResult:
    names = step.hypotheses if step.hypotheses is not None else list(ctx.spec.hypotheses)
    hyps = {n: ctx.hypotheses[n] for n in names}
    report = score_with(model, hyps, pairs, ctx.options, ctx.intervals, meta={"split": step.split})
    return StepResult({"report": report.to_dict(), "hypotheses": {n: to_spec(h) for n, h in hyps.items()}}, report)


def _ladder(model: ResidualModel, step: LadderStep, pairs: Pairs, ctx: Context) -> StepResult:
    base = ctx.spec.hypotheses[step.base]
    patterns = [base] if isinstance(base, str) else base if isinstance(base, list) else list(base.paths or [])
    quick = ctx.intervals.replace(n_boot=step.quick_boot)
    found = run_ladder(
        model,
        pairs,
        patterns,
        step.groups,
        ctx.options,
        ctx.intervals,
        quick,
        name=step.base,
        label=step.label,
        tolerance=step.tolerance,
        max_prefix=step.max_prefix,
        meta={"split": step.split},
    )
    return StepResult(found.to_dict(), found, paths(found.best_patterns))


def _scan(model: ResidualModel, step: ScanStep, pairs: Pairs, ctx: Context) -> StepResult:
    kw = {**_score_kw(ctx.options, ctx.intervals), "metric": step.metric}
    if step.mode is not None:
        kw["mode"] = step.mode
    if step.scan == "nodes":
        table = node_scan(model, pairs, **kw)
    elif step.scan == "edges":
        table = edge_scan(model, pairs, receiver=step.receiver, **kw)
    elif step.scan == "senders":
        table = sender_scan(model, pairs, step.receivers or [], **kw)
    else:
        table = path_scan(model, pairs, step.paths, **kw)
    return StepResult({"table": table.to_dict()}, table)


def _trace(model: ResidualModel, step: TraceStep, pairs: Pairs, ctx: Context) -> StepResult:
    kw = _score_kw(ctx.options, ctx.intervals)
    table = causal_trace(model, pairs, step.kinds, step.layers, step.positions, step.mode, **kw)
    return StepResult({"table": table.to_dict()}, table)


def _edge_curve(model: ResidualModel, pairs: Pairs, ranking: EdgeScores, o: Options) -> dict[str, Any]:
    """The faithfulness curve of an edge ranking, as JSON values."""
    curve = faithfulness(
        model, pairs, ranking, None, o.delta, o.ablation, o.batch_size, o.max_memory, False, None, None
    )
    return curve.to_dict()


def _found(circuit: Circuit, curve: dict[str, Any] | None) -> StepResult:
    return StepResult({"circuit": circuit.to_dict(), "curve": curve}, circuit, circuit.hypothesis)


def _acdc(model: ResidualModel, step: AcdcStep, pairs: Pairs, ctx: Context) -> StepResult:
    o, i = ctx.options, ctx.intervals
    found = acdc_search(
        model, pairs, step.threshold, o.delta, o.ablation, o.batch_size, o.max_memory, False, False, i.n_boot, i.seed
    )
    edges = model.graph.edges
    ranking = EdgeScores(edges, np.array([found.scores.get(e, 0.0) for e in edges]), {"algorithm": "acdc"})
    return _found(found.circuit, _edge_curve(model, pairs, ranking, o) if step.curve else None)


def _eap(model: ResidualModel, step: EapStep, pairs: Pairs, ctx: Context) -> StepResult:
    o = ctx.options
    ig = step.ig_steps if step.kind == "eap-ig" else 0
    scores = eap(model, pairs, o.delta, o.ablation, ig, o.batch_size, o.max_memory, False)
    circuit = scores.top(min(step.edges, len(scores)))
    return _found(circuit, _edge_curve(model, pairs, scores, o) if step.curve else None)


def _paths(model: ResidualModel, step: PathsStep, pairs: Pairs, ctx: Context) -> StepResult:
    o, i = ctx.options, ctx.intervals
    circuit = discover_paths(
        model,
        pairs,
        step.target,
        o.delta,
        o.ablation,
        step.max_steps,
        step.min_gain,
        step.max_candidates,
        o.batch_size,
        o.max_memory,
        False,
        False,
        i.n_boot,
        i.seed,
    )
    patterns = list(circuit.patterns or ())
    return _found(
        circuit, prefix_faithfulness(model, pairs, patterns, o).to_dict() if step.curve and patterns else None
    )


def _probe(model: ResidualModel, step: ProbeStep, pairs: Pairs, ctx: Context) -> StepResult:
    proof = prove_induction(model)
    return StepResult({"proof": proof.to_dict(), "summary": proof.summary()}, proof)


@dataclass(frozen=True)
class Context:
    """What a step reads: the cell's study, its settings as values, and the hypotheses so far."""

    spec: StudySpec
    options: Options
    intervals: Intervals
    hypotheses: Mapping[str, Hypothesis]


_RUNNERS: dict[str, Any] = {
    "score": _score,
    "ladder": _ladder,
    "probe": _probe,
    "scan": _scan,
    "trace": _trace,
    "acdc": _acdc,
    "eap": _eap,
    "eap-ig": _eap,
    "paths": _paths,
}


def run_step(
    model: ResidualModel, spec: StudySpec, name: str, pairs: Pairs, hypotheses: Mapping[str, Hypothesis]
) -> StepResult:
    """Run step ``name`` of ``spec`` on ``pairs`` (module docs)."""
    step = spec.steps[name]
    options, intervals = step_settings(spec, step)
    start = time.perf_counter()
    result: StepResult = _RUNNERS[step.kind](model, step, pairs, Context(spec, options, intervals, hypotheses))
    head = {"kind": step.kind, "split": step.split, "examples": len(pairs)}
    data = {**head, **result.data, "seconds": round(time.perf_counter() - start, 3)}
    return StepResult(data, result.value, result.hypothesis)
