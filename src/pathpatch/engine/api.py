"""The engine's public face: compile hypotheses once, then evaluate them on batches.

>>> engine = Engine(model, [all_paths(), paths("embed -> a1.*.v -> out")])   # doctest: +SKIP
>>> logits = engine.run(ref_tokens, new_tokens)   # [hypothesis, batch, pos, vocab]   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from .. import validate
from ..errors import InputError, ShapeMismatchError
from ..graph import Node
from ..lang.hypothesis import Hypothesis, check_hypotheses
from ..lang.pattern import PosContext
from ..model.residual import ResidualModel, check_model
from ..options import Ablation
from ..positions import Positions, position_groups
from .budget import chunk_work, resolve_budget
from .cache import RunCache, mean_outputs, run_cache
from .copies import Plan
from .cuts import cut_values
from .execute import execute
from .plan import make_plan

__all__ = ["Engine", "BatchRun", "Ablation", "evaluate", "evaluate_many", "ablated_cache", "equal_inputs"]


@dataclass(frozen=True)
class BatchRun:
    """One batch evaluated by :meth:`Engine.run_batch`: its ``clean`` and ``ablated`` runs and the
    patched ``logits`` of every hypothesis, in the engine's order."""

    clean: RunCache
    ablated: RunCache
    logits: list[Tensor]


@dataclass
class EngineStats:
    """What the last run computed: MIXED copies in all (with the (node, position) values of node
    cuts' patched forwards, :func:`~.cuts.cut_values`) and per node, walk size."""

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


def equal_inputs(model: ResidualModel, ablation: Ablation) -> frozenset[Node]:
    """The inputs whose values the clean and ablated runs share whatever the tokens: the learned
    position embedding under resampling (x_ref and x_new have the same length)."""
    return frozenset(n for n in model.graph.inputs if n.kind == "pos") if ablation == "resample" else frozenset()


class Engine:
    """Hypotheses compiled against one model, evaluated together so that they share copies."""

    def __init__(self, model: ResidualModel, hypotheses: Iterable[Hypothesis]) -> None:
        check_model(model, "Engine")
        self.model = model
        self.hypotheses = check_hypotheses(hypotheses, "Engine")
        for h in self.hypotheses:
            h.compile(model)  # names checked now, positions when a batch fixes their meaning
        self.free = [i for i, h in enumerate(self.hypotheses) if not h.positional]
        self.positional = [i for i, h in enumerate(self.hypotheses) if h.positional]
        self.automata = [self.hypotheses[i].compile(model) for i in self.free]
        self._plans: dict[frozenset[Node], Plan] = {}
        self._pos_plans: dict[tuple[frozenset[Node], PosContext, tuple[int, ...] | None], Plan] = {}
        self.last_plan: Plan | None = None
        self.last_pos_plans: list[Plan] = []

    def plan(self, both: frozenset[Node] = frozenset()) -> Plan:
        """The plan of the position-free hypotheses, for inputs ``both`` equal in the two runs."""
        if both not in self._plans:
            self._plans[both] = make_plan(self.model.graph, self.automata, both)
        return self._plans[both]

    def pos_plan(self, ctx: PosContext, both: frozenset[Node] = frozenset(), at: tuple[int, ...] | None = None) -> Plan:
        """The plan of the hypotheses that name positions, for one meaning of those positions,
        computing the logits at positions ``at`` (default: all)."""
        key = (both, ctx, at)
        if key not in self._pos_plans:
            automata = [self.hypotheses[i].compile(self.model, ctx) for i in self.positional]
            self._pos_plans[key] = make_plan(self.model.graph, automata, both, ctx.n_pos, at)
        return self._pos_plans[key]

    def subset(self, indices: Sequence[int]) -> Engine:
        """An engine of the hypotheses ``indices`` (into :attr:`hypotheses`, in that order) whose
        plans are this engine's plans made so far, restricted to them (:meth:`Plan.restrict`): no
        walk again. Memory budgets split work this way."""
        sub = Engine(self.model, [self.hypotheses[i] for i in indices])
        free = {h: k for k, h in enumerate(self.free)}
        positional = {h: k for k, h in enumerate(self.positional)}
        mine = [free[i] for i in indices if i in free]
        sub._plans = {key: plan.restrict(mine) for key, plan in self._plans.items()}
        mine = [positional[i] for i in indices if i in positional]
        sub._pos_plans = {key: plan.restrict(mine) for key, plan in self._pos_plans.items()}
        return sub

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
        plans: list[Plan] = ([self.last_plan] if self.last_plan else []) + self.last_pos_plans
        if not plans:
            return EngineStats()
        per_node: dict[Node, int] = {}
        for plan in plans:
            for node, n in plan.copies_per_node().items():
                per_node[node] = per_node.get(node, 0) + n
        cuts = sum(cut_values(self.model.graph, c, p.n_pos or 0) for p in plans for c in p.cuts.values())
        return EngineStats(
            len(self.hypotheses), sum(len(p.copies) for p in plans) + cuts, per_node, sum(p.walked for p in plans)
        )

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
        results: dict[int, Tensor] = {}  # by hypothesis
        self.last_plan, self.last_pos_plans = None, []
        if targets is not None:
            targets = targets.to(clean.device)
        if self.free:
            self.last_plan = self.plan(both)
            for i, logits in zip(self.free, execute(self.model, self.last_plan, clean, ablated, targets)):
                results[i] = logits
        if self.positional:
            batch, n_pos = clean.stage_inputs[0].shape[:2]
            at = None if targets is None else tuple(targets.any(0).nonzero().flatten().tolist())
            out = self._positional(clean, ablated, both, positions, targets, at, batch, n_pos)
            for i, logits in zip(self.positional, out):
                results[i] = logits
        return [results[i] for i in range(len(self.hypotheses))]

    def _positional(
        self,
        clean: RunCache,
        ablated: RunCache,
        both: frozenset[Node],
        positions: Positions | None,
        targets: Bool[Tensor, "batch pos"] | None,
        at: tuple[int, ...] | None,
        batch: int,
        n_pos: int,
    ) -> list[Tensor]:
        """The positional hypotheses' logits, ``[batch, pos, vocab]`` or at the target rows
        ``[row, vocab]``, planned per group of examples with the same named positions."""
        vocab = self.model.config.d_vocab
        x = clean.stage_inputs[0]
        if targets is None:
            out = [x.new_empty(batch, n_pos, vocab) for _ in self.positional]
        else:
            n_rows = int(targets.sum())  # once: each read of a device value waits for the device
            row_id = torch.full(targets.shape, -1, dtype=torch.long, device=x.device)
            row_id[targets] = torch.arange(n_rows, device=x.device)
            out = [x.new_empty(n_rows, vocab) for _ in self.positional]
        for rows, names in position_groups(positions, batch, n_pos):
            plan = self.pos_plan(PosContext.of(n_pos, names), both, at)
            self.last_pos_plans.append(plan)
            c, a = (clean, ablated) if rows is None else (clean.select(rows), ablated.select(rows))
            mine = None if targets is None else targets if rows is None else targets[rows.to(x.device)]
            for k, logits in enumerate(execute(self.model, plan, c, a, mine)):
                if rows is None:
                    out[k] = logits
                elif mine is None:
                    out[k][rows.to(logits.device)] = logits
                else:
                    out[k][row_id[rows.to(x.device)][mine]] = logits
        return out

    @torch.no_grad()
    def run_batch(
        self,
        ref_tokens: Int[Tensor, "batch pos"],
        new_tokens: Int[Tensor, "batch pos"] | None = None,
        ablation: Ablation = "resample",
        means: dict[Node, Tensor] | None = None,
        positions: Positions | None = None,
        targets: Bool[Tensor, "batch pos"] | None = None,
    ) -> BatchRun:
        """The clean and ablated runs of one batch and the patched logits of every hypothesis
        (only ``logits[targets]`` rows if ``targets`` is given, see :meth:`run_caches`)."""
        ref, new = self.check_pair(ref_tokens, new_tokens)
        clean = run_cache(self.model, ref)
        ablated = ablated_cache(self.model, ref, new, ablation, means)
        return BatchRun(clean, ablated, self.run_caches(clean, ablated, ablation == "resample", positions, targets))

    def run(
        self,
        ref_tokens: Int[Tensor, "batch pos"],
        new_tokens: Int[Tensor, "batch pos"] | None = None,
        ablation: Ablation = "resample",
        means: dict[Node, Tensor] | None = None,
        positions: Positions | None = None,
        max_memory: int | str | None = None,
    ) -> Float[Tensor, "hypothesis batch pos vocab"]:
        """Patched logits of every hypothesis on one batch (``positions``: named positions,
        ``{"END": [batch] tensor}``, for hypotheses that name them).

        The work is split over examples and groups of hypotheses so that the engine's tensors stay
        within ``max_memory`` (bytes or ``"4GB"``; default: three quarters of the memory free on the model's
        device, see :mod:`.budget`); the logits are the same with any budget.
        """
        validate.check_run_args(ref_tokens, new_tokens, ablation, positions)
        validate.check_max_memory(max_memory)
        ref, new = self.check_pair(ref_tokens, new_tokens)
        batch, n_pos = ref.shape
        vocab = self.model.config.d_vocab
        need = len(self.hypotheses) * batch * n_pos * vocab * self.model.dtype.itemsize
        budget = resolve_budget(max_memory, self.model.device)
        if need > budget:
            raise InputError(
                f"the patched logits alone ({len(self.hypotheses)} hypotheses x {batch} x {n_pos} x "
                f"{vocab}) take {need:,} bytes, over the memory budget of {budget:,}; evaluate fewer "
                "hypotheses or examples at a time, or use pathpatch.score, which keeps only the metrics"
            )
        names = None if positions is None else {k: int(v[0]) for k, v in positions.items()}
        chunks = chunk_work(
            self.model, self, n_pos, None, budget - need, batch, names, equal_inputs(self.model, ablation)
        )
        if len(chunks) == 1 and chunks[0].batch_size >= batch:
            return torch.stack(self.run_batch(ref, new, ablation, means, positions).logits)
        if ablation == "mean" and means is None:
            means = mean_outputs(self.model, new if new is not None else ref)
        out = torch.empty(len(self.hypotheses), batch, n_pos, vocab, dtype=self.model.dtype, device=self.model.device)
        for chunk in chunks:
            engine = chunk.engine
            for start in range(0, batch, chunk.batch_size):
                part = slice(start, start + chunk.batch_size)
                where = None if positions is None else {k: v[part] for k, v in positions.items()}
                logits = engine.run_batch(ref[part], None if new is None else new[part], ablation, means, where).logits
                for i, x in zip(chunk.indices, logits):
                    out[i, part] = x
                del logits  # freed before the next batch is evaluated
        return out


def evaluate_many(
    model: ResidualModel,
    hypotheses: Sequence[Hypothesis],
    ref_tokens: Int[Tensor, "batch pos"],
    new_tokens: Int[Tensor, "batch pos"] | None = None,
    ablation: Ablation = "resample",
    positions: Positions | None = None,
    max_memory: int | str | None = None,
) -> Float[Tensor, "hypothesis batch pos vocab"]:
    """Patched logits of many hypotheses in one pass that shares every cached and mixed copy
    (chunked to stay within ``max_memory``, see :meth:`Engine.run`)."""
    check_model(model, "evaluate_many")  # named here; the run checks the other arguments
    logits = Engine(model, hypotheses).run(ref_tokens, new_tokens, ablation, positions=positions, max_memory=max_memory)
    return validate.check_finite_logits(logits, "evaluate_many")


def evaluate(
    model: ResidualModel,
    hypothesis: Hypothesis,
    ref_tokens: Int[Tensor, "batch pos"],
    new_tokens: Int[Tensor, "batch pos"] | None = None,
    ablation: Ablation = "resample",
    positions: Positions | None = None,
    max_memory: int | str | None = None,
) -> Float[Tensor, "batch pos vocab"]:
    """Logits of the treeified model with x_ref on the paths of ``hypothesis``, x_new elsewhere.

    ``ablation``: ``"resample"`` (default; needs ``new_tokens``), ``"mean"`` (every ablated node
    takes its mean output over ``new_tokens``, or over ``ref_tokens`` if None) or ``"zero"``.
    ``positions``: the examples' named positions (``{"END": [batch] tensor}``) if the hypothesis
    uses names like ``a9.1@END``. ``max_memory``: see :meth:`Engine.run`.
    """
    check_model(model, "evaluate")  # named here; the run checks the other arguments
    if isinstance(hypothesis, (list, tuple)):
        raise TypeError("evaluate takes one Hypothesis; for a list use evaluate_many(model, hypotheses, ...)")
    logits = Engine(model, [hypothesis]).run(
        ref_tokens, new_tokens, ablation, positions=positions, max_memory=max_memory
    )[0]
    return validate.check_finite_logits(logits, "evaluate")
