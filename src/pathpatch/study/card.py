"""The robustness card: how each claim, hypothesis and discovery of a study moves across its cells.

:func:`build_card` reads the finished cells (the study's base cell and every sweep's) and returns
the card as JSON values (``robustness.json``, format ``pathpatch.robustness/1``):

Each aggregate counts the distinct runs of its step: two cells that ran the step with equal
settings (a sweep point equal to the base cell, say) count once, under both labels (``a = b``).

- per claim (:func:`judge`): its value with the interval in every cell that runs its step, whether
  it holds there (``at_least`` judged on the lower bound, ``at_most`` on the upper), in how many
  cells it holds, and the worst cell (the smallest margin);
- per (score step, hypothesis): each metric with its interval in every cell;
- per discovery step: each edge's inclusion frequency over the cells, the Jaccard overlap of the
  cells' edge sets (and its mean over pairs), the robust core (edges kept in at least
  ``[robustness] core`` of the cells), and the cells' faithfulness curves with CPR and CMD.

:func:`card_text` is the card for the terminal. Every number in the card is a cell's number, named
by the cell's id and label, so it can be traced to a cell file and a point of a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph import Graph
from ..render.cardfile import CARD_FORMAT
from .cells import Cell, cell_id, closure
from .check import score_steps_of
from .schema import DISCOVERY, Claim, ScoreStep, StudySpec

__all__ = ["CARD_FORMAT", "claim_text", "judge", "build_card", "card_text"]


def claim_text(claim: Claim) -> str:
    sign = ">=" if claim.at_least is not None else "<="
    side = "lower" if claim.at_least is not None else "upper"
    if claim.circuit is not None:
        return f"circuit of step {claim.circuit}: {claim.metric} {sign} {claim.bound:g}"
    return f"{claim.hypothesis} (step {claim.step}): {claim.metric} {sign} {claim.bound:g}, judged on the {side} bound"


def _resolved(spec: StudySpec, claim: Claim) -> Claim:
    if claim.hypothesis is not None and claim.step is None:
        return claim.model_copy(update={"step": score_steps_of(spec, claim.hypothesis)[0]})
    return claim


def judge(claim: Claim, steps: dict[str, Any]) -> dict[str, Any] | None:
    """The claim's value in one cell (``steps``: the cell's step results); None if the cell does
    not run its step. ``claim.step`` must be resolved."""
    if claim.circuit is not None:
        data = steps.get(claim.circuit)
        if data is None:
            return None
        circuit = data["circuit"]
        n = len(circuit["edges"]) if claim.metric == "n_edges" else len(circuit["patterns"] or [])
        value = lower = upper = float(n)
    else:
        data = steps.get(str(claim.step))
        if data is None:
            return None
        row = next(s for s in data["report"]["scores"] if s["name"] == claim.hypothesis)
        est = row["metrics"][claim.metric]
        value, lower, upper = float(est["value"]), float(est["low"]), float(est["high"])
    margin = lower - claim.bound if claim.at_least is not None else claim.bound - upper
    return {"value": value, "lower": lower, "upper": upper, "margin": margin, "holds": margin >= 0}


@dataclass(frozen=True)
class _Ran:
    """One distinct run of a step: the first cell that ran it with these settings, the labels of
    every cell that did (``a = b`` when two sweep points run the step alike), and its result."""

    cell: str
    label: str
    result: dict[str, Any]


def _runs(cells: Sequence[tuple[Cell, dict[str, Any]]], step: str) -> list[_Ran]:
    """The distinct runs of ``step``: cells whose settings for it (and the steps it reads) are
    equal ran it alike and count once, so a sweep point equal to the base weighs as one cell."""
    runs: dict[str, tuple[Cell, list[str], dict[str, Any]]] = {}
    for cell, data in cells:
        if step not in data["steps"]:
            continue
        key = cell_id(cell.spec, closure(cell.spec, [step]))
        if key in runs:
            runs[key][1].append(cell.label)
        else:
            runs[key] = (cell, [cell.label], data["steps"][step])
    return [_Ran(c.id, " = ".join(labels), r) for c, labels, r in runs.values()]


def _claims(spec: StudySpec, cells: Sequence[tuple[Cell, dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    for i, raw in enumerate(spec.claims):
        claim = _resolved(spec, raw)
        step = claim.circuit if claim.circuit is not None else str(claim.step)
        per_cell = []
        for run in _runs(cells, step):
            verdict = judge(claim, {step: run.result})
            if verdict is not None:
                per_cell.append({"cell": run.cell, "label": run.label, **verdict})
        worst = min(per_cell, key=lambda c: c["margin"]) if per_cell else None
        out.append(
            {
                "name": claim.name or f"claim {i + 1}",
                "text": claim_text(claim),
                "metric": claim.metric,
                "direction": "at_least" if claim.at_least is not None else "at_most",
                "bound": claim.bound,
                "holds_in": sum(c["holds"] for c in per_cell),
                "judged_in": len(per_cell),
                "worst": worst,
                "per_cell": per_cell,
            }
        )
    return out


def _hypotheses(spec: StudySpec, cells: Sequence[tuple[Cell, dict[str, Any]]]) -> list[dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for step in (n for n, s in spec.steps.items() if isinstance(s, ScoreStep)):
        for run in _runs(cells, step):
            for row in run.result["report"]["scores"]:
                metrics = out.setdefault((step, row["name"]), {})
                for metric, est in row["metrics"].items():
                    metrics.setdefault(metric, []).append(
                        {
                            "cell": run.cell,
                            "label": run.label,
                            "value": est["value"],
                            "lower": est["low"],
                            "upper": est["high"],
                        }
                    )
    return [{"step": s, "hypothesis": h, "metrics": m} for (s, h), m in out.items()]


def _jaccard(sets: list[set[str]]) -> list[list[float]]:
    return [[len(a & b) / len(a | b) if a | b else 1.0 for b in sets] for a in sets]


def _discoveries(
    spec: StudySpec, cells: Sequence[tuple[Cell, dict[str, Any]]], graph: Graph | None
) -> list[dict[str, Any]]:
    out = []
    for name, step in spec.steps.items():
        if step.kind not in DISCOVERY:
            continue
        ran = _runs(cells, name)
        if not ran:
            continue
        sets = [set(r.result["circuit"]["edges"]) for r in ran]
        counts: dict[str, int] = {}
        for s in sets:
            for e in s:
                counts[e] = counts.get(e, 0) + 1
        order = [e.name for e in graph.edges] if graph is not None else sorted(counts)
        rank = {e: i for i, e in enumerate(order)}
        inclusion = {e: counts[e] / len(sets) for e in sorted(counts, key=lambda e: (-counts[e], rank.get(e, 0)))}
        patterns: dict[str, float] | None = None
        if step.kind == "paths":
            pat_counts: dict[str, int] = {}
            for r in ran:
                for p in set(r.result["circuit"]["patterns"] or []):
                    pat_counts[p] = pat_counts.get(p, 0) + 1
            patterns = {p: c / len(ran) for p, c in sorted(pat_counts.items(), key=lambda kv: -kv[1])}
        jac = _jaccard(sets)
        pairs = [jac[i][j] for i in range(len(sets)) for j in range(i + 1, len(sets))]
        core = [e for e in order if inclusion.get(e, 0.0) >= spec.robustness.core]
        curves = [
            {
                "cell": r.cell,
                "label": r.label,
                "fractions": (np.asarray(r.result["curve"]["ks"], dtype=float) / r.result["curve"]["n_edges"]).tolist(),
                "proportion": r.result["curve"]["proportion"],
                "area": r.result["curve"]["area"],
                "cmd": r.result["curve"]["cmd"],
            }
            for r in ran
            if r.result.get("curve")
        ]
        out.append(
            {
                "step": name,
                "method": step.kind,
                "level": "paths" if step.kind == "paths" else "edges",
                "cells": [r.cell for r in ran],
                "labels": [r.label for r in ran],
                "sizes": [len(s) for s in sets],
                "n_graph_edges": len(order) if graph is not None else None,
                "inclusion": inclusion,
                "pattern_inclusion": patterns,
                "jaccard": jac,
                "mean_jaccard": float(np.mean(pairs)) if pairs else 1.0,
                "core_threshold": spec.robustness.core,
                "core": core,
                "curves": curves,
            }
        )
    return out


def build_card(
    spec: StudySpec,
    cells: Sequence[Cell],
    results: dict[str, dict[str, Any]],
    graph: Graph | None = None,
    architecture: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The card of ``cells`` (``results``: cell id -> cell file; failed cells hold no steps). A
    sweep point that is the same cell as an earlier one (same id) counts once; the card lists its
    other labels under ``also``."""
    unique: dict[str, Cell] = {}
    also: dict[str, list[str]] = {}
    for c in cells:
        if c.id in unique:
            also[c.id].append(c.label)
        else:
            unique[c.id], also[c.id] = c, []
    cells = list(unique.values())
    done = [(c, results[c.id]) for c in cells if results.get(c.id, {}).get("status") == "done"]
    return {
        "format": CARD_FORMAT,
        "study": spec.study.name,
        "cells": [
            {
                **{k: v for k, v in c.to_dict().items() if k != "steps"},
                "status": results.get(c.id, {}).get("status", "missing"),
                "error": results.get(c.id, {}).get("error"),
                "also": also[c.id],
            }
            for c in cells
        ],
        "claims": _claims(spec, done),
        "hypotheses": _hypotheses(spec, done),
        "discoveries": _discoveries(spec, done, graph),
        "graph": architecture,
    }


def _edges_text(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def card_text(card: dict[str, Any]) -> str:
    """The card for the terminal."""
    cells = card["cells"]
    failed = [c for c in cells if c["status"] != "done"]
    lines = [f"robustness card: {card['study']}, {len(cells)} cells ({len(failed)} not finished)"]
    for c in failed:
        lines.append(f"  cell {c['id']} ({c['label']}): {c['status']}{': ' + c['error'] if c['error'] else ''}")
    for claim in card["claims"]:
        w = claim["worst"]
        verdict = "holds everywhere" if claim["holds_in"] == claim["judged_in"] else "does not hold everywhere"
        lines.append(
            f"claim {claim['name']!r}: {claim['text']}\n  holds in {claim['holds_in']} of {claim['judged_in']} cells "
            f"({verdict})"
            + (f"; worst: {w['label']} {w['value']:.3f} [{w['lower']:.3f}, {w['upper']:.3f}]" if w else "")
        )
    for h in card["hypotheses"]:
        pe = h["metrics"].get("proportion_explained", [])
        if len(pe) > 1:
            values = [p["value"] for p in pe]
            lines.append(
                f"{h['hypothesis']} ({h['step']}): proportion explained {min(values):.3f} to {max(values):.3f} "
                f"over {len(pe)} cells"
            )
    for d in card["discoveries"]:
        lines.append(
            f"{d['step']} ({d['method']}): {len(d['cells'])} cells, sizes {min(d['sizes'])}-{max(d['sizes'])} edges, "
            f"mean Jaccard {d['mean_jaccard']:.2f}; robust core ({d['core_threshold']:.0%} of cells): "
            f"{len(d['core'])} edges" + (f": {_edges_text(d['core'])}" if d["core"] else "")
        )
        for c in d["curves"]:
            lines.append(f"  {c['label']}: CPR {c['area']:.3f}, CMD {c['cmd']:.3f}")
    return "\n".join(lines)
