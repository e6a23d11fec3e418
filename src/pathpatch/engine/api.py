"""The engine's public face: compile hypotheses once, then evaluate them on batches.

>>> engine = Engine(model, [all_paths(), paths("embed -> a1.*.v -> out")])   # doctest: +SKIP
>>> logits = engine.run(ref_tokens, new_tokens)   # [hypothesis, batch, pos, vocab]   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from ..errors import InputError, ShapeMismatchError
from ..graph import Node
from ..lang.hypothesis import Hypothesis
from ..lang.pattern import PosContext
from ..model.residual import ResidualModel
from .cache import RunCache, mean_outputs, run_cache
from .execute import execute
from .plan import Plan, make_plan
from .posexec import execute_positions
from .posplan import PosPlan, make_pos_plan
from .positions import Positions, position_groups
from .. import validate

__all__ = ["Engine", "Ablation", "evaluate", "evaluate_many", "ablated_cache"]

Ablation = Literal["resample", "mean", "zero"]


@dataclass
class EngineStats:
    """What the last run computed: MIXED copies in all and per node, walk size."""

    hypotheses: int = 0
    mixed_copies: int = 0
    copies_per_node: dict[Node, int] | None = None
    walked: int = 0


def ablated_cache(
    model: ResidualModel,
    ref_tokens: Tensor,
    new_tokens: Tensor | None,
    ablation: Ablation,
    means: dict[Node, Tensor] | None = None,
) -> RunCache:
    """The ablated run for a batch: x_new's clean run, or every node fixed to its mean or to zero.

    ``means`` (from :func:`~pathpatch.engine.cache.mean_outputs`) defaults to the mean over
    ``new_tokens`` if given, else over ``ref_tokens``.
    """
    if ablation == "resample":
        if new_tokens is None:
            raise InputError("ablation='resample' needs new_tokens (x_new); or use ablation='mean' or 'zero'")
        return run_cache(model, new_tokens)
    if ablation == "mean":
        if means is None:
            means = mean_outputs(model, new_tokens if new_tokens is not None else ref_tokens)
        if next(iter(means.values())).shape[1] != ref_tokens.shape[1]:
            raise ShapeMismatchError(
                f"mean activations are for sequences of length {next(iter(means.values())).shape[1]}, "
                f"but x_ref has length {ref_tokens.shape[1]}; compute the means on sequences of the same length"
            )
        return run_cache(model, ref_tokens, fixed=means)
    if ablation == "zero":
        zero = torch.zeros(1, 1, model.config.d_model, dtype=model.dtype, device=model.device)
        return run_cache(model, ref_tokens, fixed={n: zero for n in model.graph.nodes if n.kind != "out"})
    raise InputError(f"ablation must be 'resample', 'mean' or 'zero', got {ablation!r}")


class Engine:
    """Hypotheses compiled against one model, evaluated together so that they share copies."""

    def __init__(self, model: ResidualModel, hypotheses: Iterable[Hypothesis]) -> None:
        validate.check_model(model, "Engine")
        self.model = model
        self.hypotheses = validate.check_hypotheses(hypotheses, "Engine")
        for h in self.hypotheses:
            h.compile(model)  # names checked now, positions when a batch fixes their meaning
        self.free = [i for i, h in enumerate(self.hypotheses) if not h.positional]
        self.positional = [i for i, h in enumerate(self.hypotheses) if h.positional]
        self.automata = [self.hypotheses[i].compile(model) for i in self.free]
        self._plans: dict[frozenset[Node], Plan] = {}
        self._pos_plans: dict[tuple[frozenset[Node], PosContext], PosPlan] = {}
        self.last_plan: Plan | None = None
        self.last_pos_plans: list[PosPlan] = []

    def plan(self, both: frozenset[Node] = frozenset()) -> Plan:
        """The plan of the position-free hypotheses, for inputs ``both`` equal in the two runs."""
        if both not in self._plans:
            self._plans[both] = make_plan(self.model.graph, self.automata, both)
        return self._plans[both]

    def pos_plan(self, ctx: PosContext, both: frozenset[Node] = frozenset(),
                 at: tuple[int, ...] | None = None) -> PosPlan:
        """The plan of the hypotheses that name positions, for one meaning of those positions,
        computing the logits at positions ``at`` (default: all)."""
        key = (both, ctx, at)
        if key not in self._pos_plans:
            automata = [self.hypotheses[i].compile(self.model, ctx) for i in self.positional]
            self._pos_plans[key] = make_pos_plan(self.model.graph, automata, ctx.n_pos, both, at)
        return self._pos_plans[key]

    def check_pair(self, ref_tokens: Tensor, new_tokens: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Validated ``(ref_tokens, new_tokens)`` on the model's device: ids in the vocabulary, no
        longer than the context, the same shape; a typed error naming the argument otherwise."""
        ref = self.model.check_tokens(ref_tokens, "ref_tokens")
        if new_tokens is None:
            return ref, None
        new = self.model.check_tokens(new_tokens, "new_tokens")
        if new.shape != ref.shape:
            raise ShapeMismatchError(
                f"ref_tokens {tuple(ref.shape)} and new_tokens {tuple(new.shape)} differ in shape; "
                "pair each x_ref with one x_new of the same length"
            )
        return ref, new

    @property
    def stats(self) -> EngineStats:
        """What the last batch needed (derived from its plan)."""
        plans: list[Plan | PosPlan] = ([self.last_plan] if self.last_plan else []) + self.last_pos_plans
        if not plans:
            return EngineStats()
        per_node: dict[Node, int] = {}
        for plan in plans:
            for node, n in plan.copies_per_node().items():
                per_node[node] = per_node.get(node, 0) + n
        return EngineStats(len(self.hypotheses), sum(len(p.copies) for p in plans), per_node,
                           sum(p.walked for p in plans))

    @torch.no_grad()
    def run_caches(
        self,
        clean: RunCache,
        ablated: RunCache,
        resample: bool,
        positions: Positions | None = None,
        targets: Bool[Tensor, "batch pos"] | None = None,
    ) -> list[Tensor]:
        """Logits per hypothesis, from ready-made clean and ablated caches.

        ``positions``: named positions of the batch's examples (``{"END": [batch] tensor}``), for
        hypotheses that name them. ``targets``: if given, only the logits there are computed and
        each hypothesis gets ``[target, vocab]`` rows (``logits[targets]``) instead of
        ``[batch, pos, vocab]``.
        """
        both = frozenset(
            n for n in self.model.graph.inputs if resample and torch.equal(clean.outputs[n], ablated.outputs[n])
        )
        results: list[Tensor | None] = [None] * len(self.hypotheses)
        self.last_plan, self.last_pos_plans = None, []
        if targets is not None:
            targets = targets.to(clean.logits.device)
        if self.free:
            self.last_plan = self.plan(both)
            for i, logits in zip(self.free, execute(self.model, self.last_plan, clean, ablated, targets)):
                results[i] = logits
        if self.positional:
            batch, n_pos, vocab = clean.logits.shape
            at = None if targets is None else tuple(targets.any(0).nonzero().flatten().tolist())
            width = n_pos if at is None else len(at)
            out = [clean.logits.new_empty(batch, width, vocab) for _ in self.positional]
            for rows, names in position_groups(positions, batch, n_pos):
                plan = self.pos_plan(PosContext.of(n_pos, names), both, at)
                self.last_pos_plans.append(plan)
                c, a = (clean, ablated) if rows is None else (clean.select(rows), ablated.select(rows))
                for k, logits in enumerate(execute_positions(self.model, plan, c, a)):
                    if rows is None:
                        out[k] = logits
                    else:
                        out[k][rows.to(logits.device)] = logits
            for i, logits in zip(self.positional, out):
                results[i] = logits if targets is None else logits[targets[:, list(at)]]  # type: ignore[arg-type]
        return results  # type: ignore[return-value]

    @torch.no_grad()
    def run_batch(
        self,
        ref_tokens: Int[Tensor, "batch pos"],
        new_tokens: Int[Tensor, "batch pos"] | None = None,
        ablation: Ablation = "resample",
        means: dict[Node, Tensor] | None = None,
        positions: Positions | None = None,
        targets: Bool[Tensor, "batch pos"] | None = None,
    ) -> tuple[RunCache, RunCache, list[Tensor]]:
        """The clean and ablated runs of one batch and the patched logits of every hypothesis
        (only ``logits[targets]`` rows if ``targets`` is given, see :meth:`run_caches`)."""
        ref, new = self.check_pair(ref_tokens, new_tokens)
        clean = run_cache(self.model, ref)
        ablated = ablated_cache(self.model, ref, new, ablation, means)
        return clean, ablated, self.run_caches(clean, ablated, ablation == "resample", positions, targets)

    def run(
        self,
        ref_tokens: Int[Tensor, "batch pos"],
        new_tokens: Int[Tensor, "batch pos"] | None = None,
        ablation: Ablation = "resample",
        means: dict[Node, Tensor] | None = None,
        positions: Positions | None = None,
    ) -> Float[Tensor, "hypothesis batch pos vocab"]:
        """Patched logits of every hypothesis on one batch (``positions``: named positions,
        ``{"END": [batch] tensor}``, for hypotheses that name them)."""
        validate.check_run_args(ref_tokens, new_tokens, ablation, positions)
        return torch.stack(self.run_batch(ref_tokens, new_tokens, ablation, means, positions)[2])


def evaluate_many(
    model: ResidualModel,
    hypotheses: Sequence[Hypothesis],
    ref_tokens: Int[Tensor, "batch pos"],
    new_tokens: Int[Tensor, "batch pos"] | None = None,
    ablation: Ablation = "resample",
    positions: Positions | None = None,
) -> Float[Tensor, "hypothesis batch pos vocab"]:
    """Patched logits of many hypotheses in one pass that shares every cached and mixed copy."""
    validate.check_model(model, "evaluate_many")
    validate.check_run_args(ref_tokens, new_tokens, ablation, positions)
    logits = Engine(model, hypotheses).run(ref_tokens, new_tokens, ablation, positions=positions)
    return validate.check_finite_logits(logits, "evaluate_many")


def evaluate(
    model: ResidualModel,
    hypothesis: Hypothesis,
    ref_tokens: Int[Tensor, "batch pos"],
    new_tokens: Int[Tensor, "batch pos"] | None = None,
    ablation: Ablation = "resample",
    positions: Positions | None = None,
) -> Float[Tensor, "batch pos vocab"]:
    """Logits of the treeified model with x_ref on the paths of ``hypothesis``, x_new elsewhere.

    ``ablation``: ``"resample"`` (default; needs ``new_tokens``), ``"mean"`` (every ablated node
    takes its mean output over ``new_tokens``, or over ``ref_tokens`` if None) or ``"zero"``.
    ``positions``: the examples' named positions (``{"END": [batch] tensor}``) if the hypothesis
    uses names like ``a9.1@END``.
    """
    validate.check_model(model, "evaluate")
    validate.check_run_args(ref_tokens, new_tokens, ablation, positions)
    if isinstance(hypothesis, (list, tuple)):
        raise TypeError("evaluate takes one Hypothesis; for a list use evaluate_many(model, hypotheses, ...)")
    logits = Engine(model, [hypothesis]).run(ref_tokens, new_tokens, ablation, positions=positions)[0]
    return validate.check_finite_logits(logits, "evaluate")
