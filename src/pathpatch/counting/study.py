"""The number study (the paper's GPT-2 experiment): causal tracing vs a path-patching search at
the final position, on GPT-2 or on the shipped ``numbers-4l``.

1. **Causal tracing** over (layer, position), δ = |Δ loss|: restore the residual stream, the
   attention layer or the MLP at one (layer, position) in the x_new run (:mod:`pathpatch.tracing`).
2. **Path search** at the final position: hypotheses ``only_at(-1, S)`` keep every path whose
   heads and MLPs at the last position are all in ``S`` (paths are free at earlier positions).
   Greedy: from ``S = ∅`` (only the direct input → out paths at the last position), add the head
   or MLP that raises the proportion explained most (all candidates scored in one batched pass),
   until it reaches ``target`` or ``max_nodes``.
3. **Causal-tracing localisation** of the same kind: the attention layers and MLPs at the last
   position, taken whole, in the order of their traced effect, until they explain as much as the
   path hypothesis.
4. Both are scored with δ = |Δ loss| and δ = |Δ number logit difference|; the report says how many
   nodes and position-resolved paths each names, i.e. how much more specific the path claim is.

Before all this, :func:`~pathpatch.counting.probe.prove_counting` checks that the model does the
task at all (top-1 accuracy and logit difference over every prompt).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..engine.cache import run_cache
from ..graph import Node
from ..lang.cut import only_at
from ..lang.hypothesis import paths
from ..model.residual import ResidualModel
from ..options import Intervals, Options
from ..scoring import count_paths, score_with
from ..tracing import TraceTable, causal_trace
from .files import write_study
from .probe import counting_proof
from .result import NumberStudy
from .task import NumberTask, abs_number_logit_diff, number_task

__all__ = ["run_numbers", "greedy_search", "DIRECT", "last_position_attention", "needed", "LEVELS"]

DIRECT = "direct only (no node at the last position)"


def _heads_and_mlps(model: ResidualModel) -> list[Node]:
    return [n for n in model.graph.nodes if n.kind in ("head", "mlp")]


def greedy_search(
    model: ResidualModel,
    task: NumberTask,
    target: float,
    max_nodes: int,
    options: Options,
    intervals: Intervals,
    echo: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Grow ``S`` one node at a time (best proportion explained), stopping at ``target``."""
    chosen: list[Node] = []
    steps: list[dict[str, Any]] = []
    base = score_with(model, {"none": only_at(-1, [])}, task.pairs, options, intervals)
    best_value = base["none"].metrics["proportion_explained"].value
    steps.append({"node": None, "proportion_explained": best_value})
    while len(chosen) < max_nodes and best_value < target:
        candidates = [n for n in _heads_and_mlps(model) if n not in chosen]
        named = {n.name: only_at(-1, chosen + [n]) for n in candidates}
        report = score_with(model, named, task.pairs, options, intervals)
        name, value = max(((s.name, s.metrics["proportion_explained"].value) for s in report), key=lambda x: x[1])
        if value <= best_value + 1e-4:
            break
        chosen.append(Node.parse(name))
        best_value = value
        steps.append({"node": name, "proportion_explained": value})
        echo(f"  + {name:<7} proportion explained {value:.3f}")
    return steps


@torch.no_grad()
def last_position_attention(model: ResidualModel, task: NumberTask, nodes: list[str]) -> dict[str, list[float]]:
    """For each head of ``nodes``: its attention from the last position to each position, mean over
    the prompts (clean runs), e.g. ``[<|endoftext|>, s, s+1, s+2]``."""
    heads = [n for n in map(Node.parse, nodes) if n.kind == "head"]
    if not heads:
        return {}
    cache = run_cache(model, task.pairs.ref.tokens.to(model.device))
    out: dict[str, list[float]] = {}
    for h in heads:
        assert h.layer is not None
        out[h.name] = cache.patterns[h.layer][h.head, :, -1, :].mean(0).tolist()
    return out


def _tracing_localisation(
    model: ResidualModel, task: NumberTask, trace: TraceTable, goal: float, options: Options, intervals: Intervals
) -> tuple[list[str], list[dict[str, Any]], list[Node]]:
    last = trace.positions[-1]
    cells = sorted(
        (r for r in trace.rows if r.kind in ("attn", "mlp") and r.position == last), key=lambda r: -r.estimate.value
    )

    def nodes_of(rows: list[Any]) -> list[Node]:
        out: list[Node] = []
        for r in rows:
            if r.kind == "mlp":
                out.append(Node("mlp", r.layer))
            else:
                out += [Node("head", r.layer, h) for h in range(model.config.n_heads)]
        return out

    named = {f"top {k}": only_at(-1, nodes_of(cells[:k])) for k in range(1, len(cells) + 1)}
    report = score_with(model, named, task.pairs, options, intervals)
    curve: list[dict[str, Any]] = [
        {
            "cells": k,
            "name": cells[k - 1].name,
            "nodes": [n.name for n in nodes_of(cells[:k])],
            "proportion_explained": s.metrics["proportion_explained"].value,
        }
        for k, s in enumerate(report, start=1)
    ]
    k = next((c["cells"] for c in curve if c["proportion_explained"] >= goal), len(cells))
    return [c.name for c in cells[:k]], curve, nodes_of(cells[:k])


LEVELS = (0.6, 0.7, 0.8, 0.9)


def needed(
    model: ResidualModel,
    task: NumberTask,
    steps: list[dict[str, Any]],
    curve: list[dict[str, Any]],
    levels: tuple[float, ...] = LEVELS,
) -> list[dict[str, Any]]:
    """Per level of proportion explained (δ = |Δ loss|): the fewest heads/MLPs at the last position,
    and the position-resolved paths ending there, with which each method reaches it (None: it
    does not). Path search: its first steps; causal tracing: its first cells, whole layers."""
    at_last = paths("... -> out@-1")

    def claim(nodes: list[str]) -> dict[str, int]:
        return {"nodes": len(nodes), "paths": count_paths(only_at(-1, nodes) & at_last, model, task.pairs)}

    path_nodes = [s["node"] for s in steps[1:]]
    rows = []
    for level in levels:
        i = next((i for i, s in enumerate(steps) if s["proportion_explained"] >= level), None)
        c = next((c for c in curve if c["proportion_explained"] >= level), None)
        rows.append(
            {
                "level": level,
                "path_search": None if i is None else claim(path_nodes[:i]),
                "tracing": None if c is None else claim(c["nodes"]),
            }
        )
    return rows


def run_numbers(
    model: ResidualModel,
    tokenizer: Any,
    out_dir: str | Path = "results/numbers",
    target: float = 0.9,
    max_nodes: int = 10,
    batch_size: int = 8,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    first: int = 1,
    last: int = 100,
    model_name: str | None = None,
) -> NumberStudy:
    """Run the study on the prompts with ``s`` in ``first..last`` and write ``out_dir``: report.html,
    report.md, report.json (with ``accuracy``), study.json, PNG plots and the circuit diagram."""
    loss = Options(delta="loss", batch_size=batch_size, progress=progress)
    intervals, fast = Intervals(n_boot=n_boot, seed=seed), Intervals(n_boot=50, seed=seed)
    start = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = number_task(tokenizer, first, last, seed=seed)
    proof = counting_proof(model, task)
    echo(proof.summary())
    echo(f"number task: {len(task.pairs)} prompts (s in {task.starts[0]}..{task.starts[-1]}), x_new resampled")
    echo("causal tracing over (layer, position) ...")
    trace = causal_trace(
        model, task.pairs, delta="loss", batch_size=batch_size, n_boot=n_boot, seed=seed, progress=progress
    )
    echo("path search over heads and MLPs at the last position ...")
    steps = greedy_search(model, task, target, max_nodes, loss, fast, echo)
    path_nodes = [s["node"] for s in steps[1:]]
    goal = steps[-1]["proportion_explained"]
    cells, curve, ct_nodes = _tracing_localisation(model, task, trace, goal, loss, fast)
    at_last = paths("... -> out@-1")  # the metric reads only the last position: count only paths that end there
    hyps = {
        DIRECT: only_at(-1, []) & at_last,
        f"path search ({len(path_nodes)} nodes)": only_at(-1, path_nodes) & at_last,
        f"causal-tracing cells ({len(cells)} cells, {len(ct_nodes)} nodes)": only_at(-1, ct_nodes) & at_last,
        "every node at the last position (all paths)": only_at(-1, _heads_and_mlps(model)) & at_last,
    }
    numbers_delta = abs_number_logit_diff(task.numbers)
    reports = {
        "loss": score_with(model, hyps, task.pairs, loss, intervals),
        "logit_diff": score_with(model, hyps, task.pairs, loss.replace(delta=numbers_delta), intervals),
    }
    counts = {name: count_paths(h, model, task.pairs) for name, h in hyps.items()}
    p_path, p_ct = counts[list(hyps)[1]], counts[list(hyps)[2]]
    info = {
        "model": model_name or model.graph.describe(),
        "graph": model.graph.describe(),
        "prompts": len(task.pairs),
        "s": [task.starts[0], task.starts[-1]],
        "seed": seed,
        "target": target,
        "n_heads": model.config.n_heads,
        "accuracy": proof.accuracy,
        "logit_diff": proof.logit_diff,
        "paths_at_last_position": counts,
        "specificity": {
            "nodes_path": len(path_nodes),
            "nodes_tracing": len(ct_nodes),
            "paths_path": p_path,
            "paths_tracing": p_ct,
            "path_ratio": (p_ct / p_path) if p_path else None,
        },
        "seconds": round(time.time() - start, 1),
    }
    info["attention"] = last_position_attention(model, task, path_nodes)
    info["needed"] = needed(model, task, steps, curve)
    study = NumberStudy(trace, steps, path_nodes, cells, curve, reports, info, proof, hyps)
    write_study(study, model, out)
    return study
