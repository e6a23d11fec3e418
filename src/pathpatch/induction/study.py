"""The paper's induction study: a ladder of path-set hypotheses about a 2-layer model's induction.

Data: held-out sequences; the metric is read only at **good induction candidates** — positions
``t`` whose token occurred earlier at some ``s < t`` and was followed there by the same token that
follows at ``t`` (so copying what followed the earlier occurrence predicts the next token).
x_new: another held-out sequence (seeded derangement). δ = |Δ loss| at the candidates.

Ladder (P: previous-token heads, I: induction heads, both found by the probes):

1. **naive** (Olsson et al.): ``embed -> out``; ``embed -> I.q -> out``; ``embed -> I.v -> out``;
   ``embed -> P -> I.k -> out``.
2. **refinements**: each other candidate path group (a layer-0 head into I's q, k or v; the direct
   embedding into I's k; a layer-0 head straight to out; other layer-1 heads) is added to the naive
   set alone, and its gain in proportion explained is measured — all in one batched engine pass.
3. **best compact set**: naive plus the top-k refinements by gain, for the smallest k whose
   proportion explained is within ``tolerance`` of the best prefix.
4. **as subgraphs**: the edges used by the naive and the best sets, kept as subgraph hypotheses;
   a subgraph also holds every path that can be assembled from its edges.

``pos`` paths are left out: with x_ref and x_new of the same length the position embedding is the
same in both runs, so no hypothesis can change by including them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

import torch

from ..data import Dataset, Pairs
from ..errors import EmptyDatasetError
from ..graph import Edge
from ..lang.hypothesis import Hypothesis, paths, subgraph
from ..model.residual import ResidualModel
from ..options import Intervals, Options
from ..report import Report
from ..scoring import score_with

__all__ = ["induction_candidates", "induction_dataset", "StudyResult", "run_study", "naive_patterns"]


def induction_candidates(tokens: torch.Tensor) -> torch.Tensor:
    """``[n, T]`` mask of good induction candidates (see module docs); never the last position."""
    a, b = tokens[:, :-1], tokens[:, 1:]
    same = (a[:, :, None] == a[:, None, :]) & (b[:, :, None] == b[:, None, :])  # [n, t, s]
    earlier = torch.ones(a.shape[1], a.shape[1], dtype=torch.bool).tril(-1)
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[:, :-1] = (same & earlier).any(-1)
    return mask


def induction_dataset(heldout: torch.Tensor, n: int, seed: int = 0) -> Dataset:
    """``n`` held-out sequences (seeded choice among those with a candidate), loss at candidates."""
    mask = induction_candidates(heldout)
    usable = torch.nonzero(mask.any(1)).flatten()
    if usable.numel() < 2:
        raise EmptyDatasetError("fewer than 2 held-out sequences hold an induction candidate")
    order = usable[torch.randperm(usable.numel(), generator=torch.Generator().manual_seed(seed))][:n]
    return Dataset.next_token(heldout[order], mask[order])


def _set(heads: list[int]) -> str:
    return "{" + ",".join(map(str, heads)) + "}"


def naive_patterns(prev: list[int], ind: list[int]) -> list[str]:
    P, I = _set(prev), _set(ind)
    return [
        "embed -> out",
        f"embed -> a1.{I}.q -> out",
        f"embed -> a1.{I}.v -> out",
        f"embed -> a0.{P} -> a1.{I}.k -> out",
    ]


def _refinements(model: ResidualModel, prev: list[int], ind: list[int]) -> dict[str, list[str]]:
    I = _set(ind)
    layer0 = range(model.config.n_heads)
    out: dict[str, list[str]] = {"embed -> I.k (direct)": [f"embed -> a1.{I}.k -> out"]}
    for h in layer0:
        if h not in prev:
            out[f"a0.{h} -> I.k"] = [f"embed -> a0.{h} -> a1.{I}.k -> out"]
        out[f"a0.{h} -> I.q"] = [f"embed -> a0.{h} -> a1.{I}.q -> out"]
        out[f"a0.{h} -> I.v"] = [f"embed -> a0.{h} -> a1.{I}.v -> out"]
        out[f"a0.{h} -> out"] = [f"embed -> a0.{h} -> out"]
    for h in range(model.config.n_heads):
        if h not in ind:
            out[f"a1.{h} (all inputs)"] = [f"a1.{h} -> out"]
    return out


def _edges_of(model: ResidualModel, hyp: Hypothesis) -> set[Edge]:
    return {edge for path in hyp.iter(model) for edge in path.edges}


class Gain(TypedDict):
    """One refinement of the naive hypothesis, as study.json records it."""

    name: str
    patterns: list[str]
    proportion_explained: float
    gain: float  # over the naive hypothesis


class Prefix(TypedDict):
    """The naive hypothesis plus the ``k`` refinements that gained most."""

    k: int
    added: str  # the k-th refinement's name
    proportion_explained: float


@dataclass
class StudyResult:
    report: Report  # the ladder
    gains: list[Gain]  # one row per refinement, largest gain first
    prefixes: list[Prefix]  # naive + top-k, for each k
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


def run_study(
    model: ResidualModel,
    pairs: Pairs,
    prev: list[int],
    ind: list[int],
    *,
    tolerance: float = 0.02,
    max_prefix: int = 10,
    batch_size: int = 8,
    n_boot: int = 1000,
    seed: int = 0,
    progress: bool = True,
) -> StudyResult:
    """Score the ladder of hypotheses (see module docs) on ``pairs``: δ = |Δ loss|; the refinements
    and prefixes with 100 bootstrap resamples, the ladder itself with ``n_boot``."""
    options = Options(delta="loss", batch_size=batch_size, progress=progress)
    intervals, quick = Intervals(n_boot=n_boot, seed=seed), Intervals(n_boot=100, seed=seed)
    naive = naive_patterns(prev, ind)
    refinements = _refinements(model, prev, ind)
    scan = score_with(
        model, {"naive": paths(naive), **{k: paths(naive + v) for k, v in refinements.items()}}, pairs, options, quick
    )
    base = scan["naive"].metrics["proportion_explained"].value
    gains: list[Gain] = sorted(
        (
            {
                "name": k,
                "patterns": v,
                "proportion_explained": scan[k].metrics["proportion_explained"].value,
                "gain": scan[k].metrics["proportion_explained"].value - base,
            }
            for k, v in refinements.items()
        ),
        key=lambda g: -g["gain"],
    )
    top = [g for g in gains if g["gain"] > 0][:max_prefix]
    prefix_sets = {k: naive + [p for g in top[:k] for p in g["patterns"]] for k in range(1, len(top) + 1)}
    ladder = (
        score_with(model, {f"naive + top {k}": paths(v) for k, v in prefix_sets.items()}, pairs, options, quick)
        if prefix_sets
        else None
    )
    prefixes: list[Prefix] = (
        [
            {
                "k": k,
                "added": top[k - 1]["name"],
                "proportion_explained": ladder[f"naive + top {k}"].metrics["proportion_explained"].value,
            }
            for k in prefix_sets
        ]
        if ladder
        else []
    )
    best_value = max([p["proportion_explained"] for p in prefixes] + [base])
    best_k = next((p["k"] for p in prefixes if p["proportion_explained"] >= best_value - tolerance), 0)
    best = naive + [p for g in top[:best_k] for p in g["patterns"]]

    hyps: dict[str, Hypothesis] = {"1 naive (Olsson et al.)": paths(naive)}
    for g in top[:3]:
        hyps[f"2 naive + {g['name']}"] = paths(naive + g["patterns"])
    hyps[f"3 best compact (naive + top {best_k})"] = paths(best)
    sub_naive, sub_best = subgraph(_edges_of(model, paths(naive))), subgraph(_edges_of(model, paths(best)))
    hyps["4 naive as a subgraph"] = sub_naive
    hyps["4 best compact as a subgraph"] = sub_best
    report = score_with(model, hyps, pairs, options, intervals, meta={"metric positions": "good induction candidates"})
    extra = {
        "naive": sub_naive.count(model) - paths(naive).count(model),
        "best compact": sub_best.count(model) - paths(best).count(model),
    }
    return StudyResult(report, gains, prefixes, best_k, best, extra)
