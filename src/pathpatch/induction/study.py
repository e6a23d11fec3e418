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

import torch

from ..data import Dataset, Pairs
from ..errors import EmptyDatasetError
from ..ladder import Ladder, run_ladder
from ..model.residual import ResidualModel
from ..options import Intervals, Options

__all__ = ["induction_candidates", "induction_dataset", "run_study", "naive_patterns", "refinements"]


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


def refinements(model: ResidualModel, prev: list[int], ind: list[int]) -> dict[str, list[str]]:
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
) -> Ladder:
    """Score the ladder of hypotheses (see module docs) on ``pairs``: δ = |Δ loss|; the refinements
    and prefixes with 100 bootstrap resamples, the ladder itself with ``n_boot``."""
    options = Options(delta="loss", batch_size=batch_size, progress=progress)
    return run_ladder(
        model,
        pairs,
        naive_patterns(prev, ind),
        refinements(model, prev, ind),
        options,
        Intervals(n_boot=n_boot, seed=seed),
        Intervals(n_boot=100, seed=seed),
        name="naive",
        label="naive (Olsson et al.)",
        tolerance=tolerance,
        max_prefix=max_prefix,
        meta={"metric positions": "good induction candidates"},
    )
