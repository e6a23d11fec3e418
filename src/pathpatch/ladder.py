"""A ladder of path-set hypotheses: a base set, each refinement added alone, the best compact set.

The paper's induction experiment refines a story by hand: score the base hypothesis with each
candidate group of paths added alone, rank the groups by their gain in proportion explained,
and take the base plus the top k groups for the smallest k whose proportion explained is within
``tolerance`` of the best prefix (of at most ``max_prefix`` groups). :func:`run_ladder` does
this for any base and groups (the induction study's are in :mod:`pathpatch.induction.study`):

1. one batched scoring of ``base`` and ``base + group`` for every group (``quick`` intervals);
2. one batched scoring of the prefixes ``base + top k`` (``quick`` intervals);
3. the ladder's report, with ``intervals``: the base, base plus each of the three best groups,
   the best compact set, and both as subgraphs (``subgraph`` of their edges, which holds every
   path those edges assemble).

Rows are named ``"1 {label}"``, ``"2 {name} + {group}"``, ``"3 best compact ({name} + top k)"``,
``"4 {name} as a subgraph"`` and ``"4 best compact as a subgraph"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from .data import Pairs
from .errors import ArgumentError
from .graph import Edge
from .lang.hypothesis import Hypothesis, paths, subgraph
from .model.residual import ResidualModel
from .options import Intervals, Options
from .report import Report
from .scoring import score_with

__all__ = ["Gain", "Prefix", "Ladder", "run_ladder"]


class Gain(TypedDict):
    """One refinement of the base hypothesis, as a ladder records it."""

    name: str
    patterns: list[str]
    proportion_explained: float
    gain: float  # over the base hypothesis
    low: float  # the refined set's interval, shifted by the base's value (the base taken as fixed)
    high: float


class Prefix(TypedDict):
    """The base hypothesis plus the ``k`` refinements that gained most."""

    k: int
    added: str  # the k-th refinement's name
    proportion_explained: float


@dataclass
class Ladder:
    """What :func:`run_ladder` found: the report, every group's gain (largest first), the prefixes,
    the best compact set (``best_k`` groups, ``best_patterns``), and how many more paths each
    set's subgraph holds than the set (``subgraph_extra_paths``, keys ``name`` and ``"best compact"``)."""

    report: Report
    gains: list[Gain]
    prefixes: list[Prefix]
    best_k: int
    best_patterns: list[str]
    subgraph_extra_paths: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report.to_dict(),
            "gains": self.gains,
            "prefixes": self.prefixes,
            "best_k": self.best_k,
            "best_patterns": self.best_patterns,
            "subgraph_extra_paths": self.subgraph_extra_paths,
        }


def _edges_of(model: ResidualModel, hyp: Hypothesis) -> set[Edge]:
    return {edge for path in hyp.iter(model) for edge in path.edges}


def run_ladder(
    model: ResidualModel,
    pairs: Pairs,
    base: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    options: Options,
    intervals: Intervals,
    quick: Intervals,
    *,
    name: str = "base",
    label: str | None = None,
    tolerance: float = 0.02,
    max_prefix: int = 10,
    meta: dict[str, Any] | None = None,
) -> Ladder:
    """The ladder of ``base`` refined by ``groups`` (name -> patterns) on ``pairs`` (module docs).

    ``quick``: the intervals of the group and prefix scorings; ``intervals``: the report's.
    ``name``: the base's short name in row names; ``label``: its first row's (default ``name``).
    """
    if name in groups:
        raise ArgumentError(f"a refinement is named {name!r}, the base's name; rename the group or pass another name=")
    base = list(base)
    refinements = {k: list(v) for k, v in groups.items()}
    scan = score_with(
        model,
        {name: paths(base), **{k: paths(base + v) for k, v in refinements.items()}},
        pairs,
        options,
        quick,
    )
    start = scan[name].metrics["proportion_explained"].value
    gains: list[Gain] = sorted(
        (
            {
                "name": k,
                "patterns": v,
                "proportion_explained": scan[k].metrics["proportion_explained"].value,
                "gain": scan[k].metrics["proportion_explained"].value - start,
                # the refined set's interval shifted by the base's value (the base taken as fixed)
                "low": scan[k].metrics["proportion_explained"].low - start,
                "high": scan[k].metrics["proportion_explained"].high - start,
            }
            for k, v in refinements.items()
        ),
        key=lambda g: -g["gain"],
    )
    top = [g for g in gains if g["gain"] > 0][:max_prefix]
    prefix_sets = {k: base + [p for g in top[:k] for p in g["patterns"]] for k in range(1, len(top) + 1)}
    scored = (
        score_with(model, {f"{name} + top {k}": paths(v) for k, v in prefix_sets.items()}, pairs, options, quick)
        if prefix_sets
        else None
    )
    prefixes: list[Prefix] = (
        [
            {
                "k": k,
                "added": top[k - 1]["name"],
                "proportion_explained": scored[f"{name} + top {k}"].metrics["proportion_explained"].value,
            }
            for k in prefix_sets
        ]
        if scored
        else []
    )
    best_value = max([p["proportion_explained"] for p in prefixes] + [start])
    best_k = next((p["k"] for p in prefixes if p["proportion_explained"] >= best_value - tolerance), 0)
    best = base + [p for g in top[:best_k] for p in g["patterns"]]

    hyps: dict[str, Hypothesis] = {f"1 {label or name}": paths(base)}
    for g in top[:3]:
        hyps[f"2 {name} + {g['name']}"] = paths(base + g["patterns"])
    hyps[f"3 best compact ({name} + top {best_k})"] = paths(best)
    sub_base, sub_best = subgraph(_edges_of(model, paths(base))), subgraph(_edges_of(model, paths(best)))
    hyps[f"4 {name} as a subgraph"] = sub_base
    hyps["4 best compact as a subgraph"] = sub_best
    report = score_with(model, hyps, pairs, options, intervals, meta=meta)
    extra = {
        name: sub_base.count(model) - paths(base).count(model),
        "best compact": sub_best.count(model) - paths(best).count(model),
    }
    return Ladder(report, gains, prefixes, best_k, best, extra)
