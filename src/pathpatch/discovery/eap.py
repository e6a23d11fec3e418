"""Edge attribution patching: EAP (Syed et al. 2023) and EAP-IG (Hanna et al. 2024).

Every edge gets, in one backward pass per batch, a first-order estimate of how much a metric
changes when the edge is *removed* (patched to its ablated value), by gradients through
:func:`~pathpatch.engine.soft.masked_forward`: the subgraph forward with a real mask ``m`` per edge
(1: x_ref, 0: x_new), at 0/1 masks the engine's exact edge patching.

**The objective M(m)**, averaged over examples, grows as the behaviour is lost:

- ``delta="kl"``: KL(clean ‖ masked run), the engine's δ;
- ``delta="loss"``: loss(masked) − loss(clean), the target tokens' cross-entropy (δ = |this|);
- ``delta="logit_diff"``: logit_diff(clean) − logit_diff(masked) (δ = |this|);
- a callable δ(ref_logits, patched_logits, data): M is δ itself (it must be differentiable).

**Scores.** Positive means the edge carries the behaviour: removing it moves the output away
from the clean run (raises KL or loss, lowers the logit difference); negative, that removing it
helps. ``M(1) = 0`` is a minimum of KL and of any dissimilarity, so its gradient at the clean run
is zero and plain EAP there would score every edge 0. Plain EAP therefore has two evaluation
points (``at``), both Syed et al.'s ``(a_ref(u) − a_new(u)) · ∂M/∂input`` estimate:

- ``"clean"``: at the clean run, ``score[e] = −∂M/∂m_e`` at m = 1, the first-order rise of M
  when ``e`` alone is removed. The default for ``loss`` and ``logit_diff``.
- ``"corrupted"`` (``ablation="resample"`` only): at the x_new run, the first-order *drop* of M
  when ``e`` alone is restored into it (its sender's x_ref output patched in): the masked forward
  with the two runs' roles swapped, at m' = 1, ``score[e] = +∂M/∂m'_e``. For a linear model the
  two points agree. The default for ``kl`` and callables. (Not m = 0: there every copy is its
  ablated value, so only edges from the inputs into ``out`` move M. Under mean or zero ablation
  the ablated run is constant, so plain EAP with a dissimilarity needs ``ig_steps > 0``.)

**EAP-IG** (``ig_steps = n > 0``): the gradient averaged along the straight line in mask space
from the corrupted point (m = 0) to the clean one (m = 1), every edge moving together, by MIB's
right Riemann sum: ``score[e] = −(1/n) Σ_{k=1..n} ∂M/∂m_e(k/n)``. By completeness the scores sum
to ``M(0) − M(1)``, the signed total effect (the ATE for ``kl``), up to the sum's O(1/n) error.

Rankings (:meth:`EdgeScores.top`, ROC) use ``|score|`` (MIB's default): an edge that works against
the behaviour is part of the mechanism too.

>>> scores = eap(model, pairs, delta="kl", ig_steps=10); circuit = scores.top(20)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from typing import Any, Literal

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from .. import validate
from ..data import Dataset, Pairs, check_pairs
from ..engine.api import ablated_cache
from ..engine.budget import resolve_budget
from ..engine.cache import mean_outputs, run_cache
from ..engine.soft import EdgeMasks, masked_forward
from ..errors import ArgumentError, InputError
from ..graph import Edge
from ..metrics import Delta, kl, logit_diff, loss, resolve_delta
from ..model.residual import ResidualModel, check_model
from ..options import Ablation, Options
from ..scoring import score as score_hypotheses
from .circuit import Circuit, edges_in_order, provenance, scored_on
from .roc import roc_auc, roc_curve

__all__ = ["eap", "EdgeScores", "objective"]

Objective = Callable[[Tensor, Tensor, Dataset], Tensor]
_FORMAT = "pathpatch.edge_scores/1"


@dataclass(frozen=True, eq=False)
class EdgeScores:
    """One score per edge, aligned with ``edges`` (``model.graph.edges`` when made by :func:`eap`).

    ``scores[i]`` is the signed score of ``edges[i]`` (for EAP: the estimated change of the
    objective when the edge is removed, positive when removing it hurts); rankings use
    ``|score|``. ``found_by``: how they were made (algorithm, ig_steps, delta, ablation, examples,
    backward_passes, seconds, ...), JSON values.
    """

    edges: tuple[Edge, ...]
    scores: Float[np.ndarray, " edge"]
    found_by: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "edges", tuple(self.edges))
        if any(not isinstance(e, Edge) for e in self.edges):
            raise InputError("EdgeScores.edges must hold Edge objects (Edge.parse('a0.1 -> a1.0.k') makes one)")
        scores = np.array(self.scores, dtype=np.float64).reshape(-1)
        if scores.shape != (len(self.edges),) or not np.isfinite(scores).all():
            raise InputError(
                f"EdgeScores needs one finite score per edge: {len(self.edges)} edges, got "
                f"{scores.size} scores{'' if scores.size != len(self.edges) else ' with NaN or inf'}"
            )
        scores.setflags(write=False)
        object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return len(self.edges)

    def as_dict(self) -> dict[Edge, float]:
        """``{edge: signed score}``."""
        return {e: float(s) for e, s in zip(self.edges, self.scores)}

    def ranked(self) -> tuple[Edge, ...]:
        """Every edge, highest ``|score|`` first (ties keep the edges' order)."""
        return tuple(self.edges[i] for i in np.argsort(-np.abs(self.scores), kind="stable"))

    def top(self, k: int, model: ResidualModel | None = None, pairs: Pairs | None = None, **score_kw: Any) -> Circuit:
        """The edge-level :class:`Circuit` of the ``k`` edges with the highest ``|score|``; with ``model``
        and ``pairs``, scored by :func:`pathpatch.score` (``score_kw``: its options, such as ``n_boot``
        and ``seed``; ``delta`` and ``ablation`` default to those the scores were made with)."""
        validate.check_int(k, "k", 0)
        if k > len(self):
            raise ArgumentError(f"k={k} is more than the {len(self)} scored edges; pass 0 <= k <= {len(self)}")
        kept = edges_in_order(self.ranked()[:k], self.edges)
        magnitude = dict(zip(self.edges, np.abs(self.scores).tolist()))
        circuit = Circuit(
            kept,
            found_by={**self.found_by, "k": k, "selection": "top k by |score|"},
            weights={e: magnitude[e] for e in kept},
        )
        if model is None or pairs is None:
            return circuit
        kw = {
            "delta": self.found_by.get("delta", "kl"),
            "ablation": self.found_by.get("ablation", "resample"),
            "progress": False,
            **score_kw,
        }
        if kw["delta"] not in ("kl", "loss", "logit_diff") and "delta" not in score_kw:
            raise ArgumentError(f"the scores were made with delta {kw['delta']!r}; pass delta= to score the circuit")
        circuit.check_model(model)
        return replace(
            circuit,
            score=score_hypotheses(model, {"top": circuit.hypothesis}, pairs, **kw)["top"],
            found_by={**circuit.found_by, "scored_on": scored_on(circuit.found_by, pairs)},
        )

    def roc_curve(self, truth: Iterable[Edge]) -> tuple[np.ndarray, np.ndarray]:
        """``(fpr, tpr)`` of ``|score|`` against the true edges ``truth``."""
        return roc_curve(dict(zip(self.edges, np.abs(self.scores))), truth, self.edges)

    def roc_auc(self, truth: Iterable[Edge]) -> float:
        """Area under :meth:`roc_curve`: the chance a true edge outranks a false one by ``|score|``."""
        return roc_auc(dict(zip(self.edges, np.abs(self.scores))), truth, self.edges)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "edges": [e.name for e in self.edges],
            "scores": self.scores.tolist(),
            "found_by": self.found_by,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EdgeScores:
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise InputError(
                f"not saved edge scores (expected a JSON object with format {_FORMAT!r}); "
                "write them with EdgeScores.save"
            )
        return cls(
            tuple(Edge.parse(e) for e in d["edges"]),
            np.array(d["scores"], dtype=np.float64),
            dict(d.get("found_by") or {}),
        )

    def save(self, path: str | FilePath) -> FilePath:
        (path := FilePath(path)).parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | FilePath) -> EdgeScores:
        if not (path := FilePath(path)).is_file():
            raise InputError(f"no edge scores at {path}; write them with EdgeScores.save")
        return cls.from_dict(json.loads(path.read_text()))

    def __str__(self) -> str:
        f, n = self.found_by, 10
        how = ", ".join(f"{k}={f[k]}" for k in ("delta", "ablation", "ig_steps", "examples") if k in f)
        lines = [f"{f.get('algorithm', 'edge scores')} ({how}): {len(self)} edges, top {min(n, len(self))} by |score|"]
        return "\n".join(lines + [f"  {self.as_dict()[e]:+.4g}  {e.name}" for e in self.ranked()[:n]])


def objective(delta: str | Delta) -> Objective:
    """The differentiable objective M(clean_logits, logits, data) -> ``[batch]`` of ``delta`` (see
    the module's notes): it is 0 at the clean run and grows as the behaviour is lost."""
    if delta == "kl":
        return kl
    if delta == "loss":
        return lambda clean, logits, data: loss(logits, data) - loss(clean, data)
    if delta == "logit_diff":
        return lambda clean, logits, data: logit_diff(clean, data) - logit_diff(logits, data)
    return resolve_delta(delta)


def _example_bytes(model: ResidualModel, n_pos: int) -> int:
    """Estimated bytes of one example in a forward and backward pass of masked_forward: both runs,
    every stage's delta table and port inputs, head and MLP temporaries, logits; doubled for
    autograd's saved tensors and gradients."""
    cfg, graph, P, d = model.config, model.graph, n_pos, model.config.d_model
    senders, stages = len(graph.nodes) - 1, 2 * cfg.n_layers + 1
    caches = 2 * ((senders + stages) * P * d + cfg.n_layers * cfg.n_heads * P * P)
    tables = stages * senders * P * d + 3 * len(graph.ports) * P * d
    heads = cfg.n_layers * cfg.n_heads * (6 * P * d + 3 * P * P + 4 * P * cfg.d_head)
    mlps, logits = cfg.n_layers * 4 * P * (cfg.d_mlp or 0), 4 * P * cfg.d_vocab
    return 2 * model.dtype.itemsize * (caches + tables + heads + mlps + logits)


def _check(model: Any, pairs: Any, options: Options, ig_steps: Any, at: Any) -> Literal["clean", "corrupted"]:
    """Every argument besides the options (checked when made) before any work; returns the
    evaluation point."""
    check_model(model, "eap")
    check_pairs(pairs, "eap")
    validate.check_int(ig_steps, "ig_steps", 0)
    options.check_pairs(pairs)
    if at not in (None, "clean", "corrupted"):
        raise ArgumentError(f"at must be None, 'clean' or 'corrupted', got {at!r}")
    if at is not None and ig_steps > 0:
        raise ArgumentError(
            f"at={at!r} chooses plain EAP's evaluation point, but ig_steps={ig_steps} integrates from "
            "the corrupted to the clean point; pass at=None with ig_steps > 0"
        )
    point: Literal["clean", "corrupted"] = (
        at if at is not None else "clean" if options.delta in ("loss", "logit_diff") else "corrupted"
    )
    if point == "corrupted" and ig_steps == 0 and options.ablation != "resample":
        raise ArgumentError(
            f"plain EAP with this delta is evaluated at the corrupted run, but under ablation="
            f"{options.ablation!r} that run is constant (and at the clean run the gradient is 0); use "
            "ig_steps > 0 (EAP-IG), or delta='loss' or 'logit_diff' (evaluated at the clean run)"
        )
    return point


def eap(
    model: ResidualModel,
    pairs: Pairs,
    delta: str | Delta = "kl",
    ablation: Ablation = "resample",
    ig_steps: int = 0,
    batch_size: int = 32,
    max_memory: int | str | None = None,
    progress: bool = True,
    at: Literal["clean", "corrupted"] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> EdgeScores:
    """Score every edge of ``model.graph.edges`` by edge attribution patching on ``pairs`` (the
    mean over examples; M, the signs and ``at`` in the module's notes).

    ``ig_steps``: 0 for EAP, n > 0 for EAP-IG (n gradient evaluations per batch). ``ablation``,
    ``max_memory`` (batches shrink so that an estimate of one pass stays within it), ``device`` and
    ``dtype``: as for :func:`pathpatch.score`.
    """
    options = Options(delta, ablation, batch_size, progress, max_memory, device, dtype)
    point = _check(model, pairs, options, ig_steps, at)
    model = model.placed(device, dtype)
    start = time.perf_counter()
    fn = objective(delta)
    masks = EdgeMasks(model.graph)
    # (mask value on every edge, whether the runs' roles are swapped) per gradient evaluation
    points = [(k / ig_steps, False) for k in range(1, ig_steps + 1)] if ig_steps else [(1.0, point == "corrupted")]
    need = _example_bytes(model, pairs.ref.n_pos)
    budget = resolve_budget(max_memory, model.device)
    if need > budget:
        raise InputError(
            f"max_memory={budget:,} bytes is below the {need:,} bytes one example needs for a backward "
            "pass; raise max_memory, or shorten the sequences"
        )
    rows = max(1, min(batch_size, budget // need))
    means = mean_outputs(model, model.check_tokens(pairs.new_tokens, "new_tokens")) if ablation == "mean" else None
    total = torch.zeros(masks.n_edges, dtype=torch.float64, device=model.device)
    passes = 0
    bar = tqdm(
        total=-(-len(pairs) // rows) * len(points),
        desc="eap-ig" if ig_steps else "eap",
        unit="pass",
        disable=not progress,
        leave=False,
    )
    for _, batch in pairs.batches(rows):
        ref = model.check_tokens(batch.ref.tokens, "ref_tokens")
        clean = run_cache(model, ref)
        ablated = ablated_cache(model, ref, model.check_tokens(batch.new_tokens, "new_tokens"), ablation, means)
        clean_logits = clean.logits
        for alpha, swap in points:
            runs = (ablated, clean) if swap else (clean, ablated)
            grad = _gradient(model, masks, alpha, *runs, ablation == "resample", fn, clean_logits, batch.ref)
            total += (grad if swap else -grad) / len(points)
            passes += 1
            bar.update()
    bar.close()
    found_by = {
        "algorithm": "eap-ig" if ig_steps else "eap",
        "ig_steps": ig_steps,
        "at": "line 0->1" if ig_steps else point,
        "delta": options.delta_name,
        "ablation": ablation,
        "examples": len(pairs),
        "batch_size": rows,
        "backward_passes": passes,
        "seconds": round(time.perf_counter() - start, 3),
        **provenance(model, pairs),
    }
    return EdgeScores(tuple(model.graph.edges), (total / len(pairs)).cpu().numpy(), found_by)


def _gradient(
    model: ResidualModel,
    masks: EdgeMasks,
    alpha: float,
    one: Any,
    zero: Any,
    resample: bool,
    fn: Objective,
    clean_logits: Tensor,
    data: Dataset,
) -> Float[Tensor, " edge"]:
    """∂(Σ_batch M)/∂m at the mask ``alpha`` on every edge of the masked forward between the runs
    ``one`` (mask 1) and ``zero`` (mask 0); M compares with ``clean_logits``. One forward and one
    backward pass."""
    mask = torch.full((masks.n_edges,), alpha, dtype=model.dtype, device=model.device, requires_grad=True)
    with torch.enable_grad():  # callers may run under no_grad
        logits = masked_forward(model, mask, one, zero, resample=resample, masks=masks)
        value = fn(clean_logits, logits, data).sum()
        if not value.requires_grad:
            raise InputError(
                "the delta does not depend differentiably on the patched logits (its value has no "
                "gradient); EAP needs a differentiable delta, e.g. 'kl', 'loss' or 'logit_diff'"
            )
        (grad,) = torch.autograd.grad(value, mask, allow_unused=True)
    if grad is None:
        return torch.zeros(masks.n_edges, dtype=torch.float64, device=model.device)
    if not bool(torch.isfinite(grad).all()):
        raise InputError(
            "the gradient of the delta is NaN or infinite; check the metric (e.g. log of 0), or run in "
            "float32 rather than half precision"
        )
    return grad.double()
