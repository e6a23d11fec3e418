"""What every task generator shares: the fit report, the pairs it returns, its metric, the draw.

- :class:`FitReport`: what a tokenizer let through. Words that must be one token and are not,
  templates that tokenize differently in context, and drawn examples refused for that reason are
  *dropped* and listed (:class:`Drop`), with the counts offered and kept per kind; never silently.
- :class:`TaskPairs`: the :class:`~pathpatch.data.Pairs` a generator returns (so ``pp.score`` and
  the discovery functions take them as they are), with the task, the split, the counterfactual kind,
  the texts of x_ref and x_new, the task's metric and the fit report. Each example's target position
  is ``END`` (the last token of its prompt; shorter prompts are padded after it, which a causal model
  never reads); its named positions (e.g. IOI's ``IO``, ``S1``, ``S2``, ``END``) are the same in
  x_ref and x_new, which always have the same length.
- :class:`TaskMetric`: the task's signed metric m (higher: more of the behaviour), the per-example
  correctness that accuracy averages, and the δ that scores hypotheses with it. :class:`LogitDiff`
  is m = logit[target] − logit[distractor] (δ ``"logit_diff"``).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from .. import validate
from ..data import Dataset, Index, Pairs, _rows
from ..errors import ArgumentError, InputError
from ..metrics import Delta, logit_diff
from .text import Encoder, Rendered, Template

__all__ = [
    "Drop",
    "FitReport",
    "Fitter",
    "TaskPairs",
    "TaskMetric",
    "LogitDiff",
    "Example",
    "draw",
    "accuracy",
    "pair_up",
]


@dataclass(frozen=True)
class Drop:
    """One thing a tokenizer did not let through: its kind (``"name"``, ``"template"``,
    ``"example"``, ...), the item and why."""

    kind: str
    item: str
    reason: str


@dataclass(frozen=True)
class FitReport:
    """What one task's generator kept of its words and templates on one tokenizer and split.

    ``offered[kind]``: items of the split before the check; ``kept[kind]``: those that fit;
    ``drops``: every item dropped, with the reason; ``examples_dropped``: drawn examples refused
    because their text tokenizes differently in context (the first few are in ``drops``).
    """

    task: str
    split: str
    tokenizer: str
    offered: dict[str, int]
    kept: dict[str, int]
    drops: tuple[Drop, ...] = ()
    examples_dropped: int = 0

    def dropped(self, kind: str) -> tuple[Drop, ...]:
        return tuple(d for d in self.drops if d.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "split": self.split,
            "tokenizer": self.tokenizer,
            "offered": dict(self.offered),
            "kept": dict(self.kept),
            "drops": [{"kind": d.kind, "item": d.item, "reason": d.reason} for d in self.drops],
            "examples_dropped": self.examples_dropped,
        }

    def __str__(self) -> str:
        parts = [f"{k} {self.kept[k]}/{self.offered[k]}" for k in self.offered]
        extra = f"; {self.examples_dropped} drawn examples dropped" if self.examples_dropped else ""
        return f"{self.task} ({self.split}, {self.tokenizer}): kept " + ", ".join(parts) + extra


class Fitter:
    """Builds a :class:`FitReport` while a generator checks its words and templates."""

    def __init__(self, task: str, split: str, encoder: Encoder) -> None:
        self.task, self.split, self.encoder = task, split, encoder
        self.offered: dict[str, int] = {}
        self.kept: dict[str, int] = {}
        self.drops: list[Drop] = []

    def words(self, kind: str, items: Sequence[tuple[str, ...]], prefix: str = " ") -> list[tuple[str, ...]]:
        """The items (tuples of forms, e.g. ``("key", "keys")``) whose every form, written after
        ``prefix``, is one token; the others are dropped."""
        out = []
        for forms in items:
            bad = [self.encoder.why_not_single(prefix + f) for f in forms if self.encoder.single(prefix + f) is None]
            if bad:
                self.drops.append(Drop(kind, "/".join(forms), "; ".join(bad)))
            else:
                out.append(forms)
        self.offered[kind], self.kept[kind] = len(items), len(out)
        return out

    def templates(
        self,
        templates: Sequence[Template],
        probe: Callable[[Template], Mapping[str, str]],
        single: Sequence[str],
        ready: bool = True,
    ) -> list[Template]:
        """The templates whose probe filling tokenizes the same in context as part by part, with
        the ``single`` slots one token each; none (and one drop saying so) when not ``ready``
        (a word list the slots need is empty, so there is nothing to probe with)."""
        out: list[Template] = []
        self.offered["template"], self.kept["template"] = len(templates), 0
        if not ready:
            self.drops.append(Drop("template", "all", "not checked: no word fits their one-token slots"))
            return out
        for t in templates:
            values = probe(t)
            r = t.render(self.encoder, values)
            if r is None:
                why = "tokenizes differently in context, or holds an unknown word"
                self.drops.append(Drop("template", t.name, f"{t.fill(values)!r} {why}"))
            elif any(r.lengths[s] != 1 for s in single if s in r.lengths):
                long = [s for s in single if r.lengths.get(s, 1) != 1]
                self.drops.append(Drop("template", t.name, f"slots {long} are not one token in context"))
            else:
                out.append(t)
        self.kept["template"] = len(out)
        return out

    def require(self, kind: str, have: int, need: int) -> None:
        """Refuse (an :class:`InputError` with the report) when fewer than ``need`` items fit."""
        if have < need:
            raise InputError(
                f"{self.task}: the tokenizer leaves {have} {kind}(s) of the {self.split} split, the task needs "
                f"at least {need}; {self.report()}. Use a tokenizer where these words are single tokens "
                f"(see report.drops from tasks.fit(...))"
            )

    def report(self, examples_dropped: int = 0, example_drops: Sequence[Drop] = ()) -> FitReport:
        return FitReport(
            self.task,
            self.split,
            self.encoder.describe(),
            dict(self.offered),
            dict(self.kept),
            tuple(self.drops) + tuple(example_drops),
            examples_dropped,
        )


class TaskMetric(ABC):
    """A task's metric on the logits of its dataset."""

    name: str = "metric"

    @abstractmethod
    def value(self, logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Float[Tensor, " batch"]:
        """The signed metric m per example (higher: more of the behaviour), in float64."""

    @abstractmethod
    def correct(self, logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Bool[Tensor, " batch"]:
        """Whether each example is solved (accuracy is their mean)."""

    @property
    @abstractmethod
    def delta(self) -> str | Delta:
        """The δ that scores hypotheses on this metric: |m(patched) − m(reference)|."""


class LogitDiff(TaskMetric):
    """m = logit[target] − logit[distractor] at END; solved when it is positive."""

    name = "logit_diff"

    def value(self, logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Float[Tensor, " batch"]:
        return logit_diff(logits, data)

    def correct(self, logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Bool[Tensor, " batch"]:
        return logit_diff(logits, data) > 0

    @property
    def delta(self) -> str:
        return "logit_diff"

    def __repr__(self) -> str:
        return "LogitDiff()"


def accuracy(metric: TaskMetric, logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> float:
    """The fraction of examples ``metric`` counts as solved."""
    return float(metric.correct(logits, data).double().mean())


@dataclass(frozen=True)
class TaskPairs(Pairs):
    """:class:`~pathpatch.data.Pairs` of one task, with where they came from (module docs)."""

    task: str = ""
    split: str = "train"
    counterfactual: str = ""
    metric: TaskMetric = field(default_factory=LogitDiff)
    texts: tuple[str, ...] = ()
    new_texts: tuple[str, ...] = ()
    report: FitReport | None = None

    def __getitem__(self, idx: Index) -> TaskPairs:
        rows = _rows(idx, len(self))
        sub = Pairs.__getitem__(self, rows)
        picked = rows.tolist()
        return TaskPairs(
            ref=sub.ref,
            new_tokens=sub.new_tokens,
            new_index=sub.new_index,
            seed=sub.seed,
            task=self.task,
            split=self.split,
            counterfactual=self.counterfactual,
            metric=self.metric,
            texts=tuple(self.texts[i] for i in picked) if self.texts else (),
            new_texts=tuple(self.new_texts[i] for i in picked) if self.new_texts else (),
            report=self.report,
        )


@dataclass(frozen=True)
class Example:
    """One drawn pair before padding: x_ref, x_new (same length), named positions, answer tokens."""

    ref: Rendered
    new: Rendered
    positions: dict[str, int]
    target: int
    distractor: int


def check_request(count: int, seed: int, counterfactual: str, allowed: Sequence[str]) -> None:
    """A generator's arguments, checked before any tokenizing: a positive ``count``, a seed, and a
    counterfactual kind the task knows."""
    validate.check_int(count, "count", 1)
    validate.check_seed(seed)
    if counterfactual not in allowed:
        raise ArgumentError(f"counterfactual must be one of {tuple(allowed)}, got {counterfactual!r}")


def pair_up(
    template: Template,
    encoder: Encoder,
    ref_values: Mapping[str, str],
    new_values: Mapping[str, str],
    named: Mapping[str, str],
) -> tuple[Rendered, Rendered, dict[str, int]] | Drop:
    """x_ref and x_new of one template and the named positions (``named``: position name -> slot,
    each slot one token at the same place in both; ``END`` is the last token), or a :class:`Drop`
    saying why the drawn texts do not line up."""
    ref, new = template.render(encoder, ref_values), template.render(encoder, new_values)
    for r, values in ((ref, ref_values), (new, new_values)):
        if r is None:
            return Drop("example", template.fill(values), "tokenizes differently in context, or holds an unknown word")
    assert ref is not None and new is not None
    if len(ref.ids) != len(new.ids) or any(
        ref.lengths[s] != 1 or new.lengths[s] != 1 or ref.starts[s] != new.starts[s] for s in named.values()
    ):
        return Drop("example", f"{ref.text!r} / {new.text!r}", "x_ref and x_new do not line up token by token")
    positions = {name: ref.starts[slot] for name, slot in named.items()}
    positions["END"] = len(ref.ids) - 1
    return ref, new, positions


def draw(
    fitter: Fitter,
    count: int,
    seed: int,
    counterfactual: str,
    metric: TaskMetric,
    make: Callable[[random.Random, random.Random], Example | Drop],
) -> TaskPairs:
    """``count`` examples from ``make`` (an :class:`Example`, or a :class:`Drop` when the drawn
    text does not tokenize as planned), padded into :class:`TaskPairs`; refused when too many
    draws fail (more than 20 per example asked for). ``make`` draws x_ref from its first generator
    and x_new's new words from its second, so one seed gives the same x_ref for every
    counterfactual (but for examples dropped)."""
    rng = random.Random(f"{fitter.task}/{fitter.split}/{seed}")
    other = random.Random(f"{fitter.task}/{fitter.split}/{seed}/{counterfactual}")
    examples: list[Example] = []
    failed: list[Drop] = []
    attempts = 0
    while len(examples) < count:
        attempts += 1
        if attempts > 20 * count + 50:
            raise InputError(
                f"{fitter.task}: {len(failed)} of {attempts - 1} drawn examples tokenize differently in context "
                f"(first: {failed[0].item!r}: {failed[0].reason}); {fitter.report()}. Use a tokenizer that keeps "
                "these words apart"
            )
        got = make(rng, other)
        if isinstance(got, Drop):
            failed.append(got)
        else:
            examples.append(got)
    report = fitter.report(len(failed), failed[:5])
    return _pairs(fitter, examples, counterfactual, metric, report, seed)


def _pairs(
    fitter: Fitter,
    examples: list[Example],
    counterfactual: str,
    metric: TaskMetric,
    report: FitReport,
    seed: int,
) -> TaskPairs:
    n, width = len(examples), max(len(e.ref.ids) for e in examples)
    pad = fitter.encoder.pad_id()
    tokens = torch.full((n, width), pad, dtype=torch.long)
    new = torch.full((n, width), pad, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.bool)
    target = torch.zeros((n, width), dtype=torch.long)
    distractor = torch.zeros((n, width), dtype=torch.long)
    names = sorted(examples[0].positions)
    positions = {k: torch.zeros(n, dtype=torch.long) for k in names}
    for i, e in enumerate(examples):
        assert len(e.ref.ids) == len(e.new.ids), "a counterfactual keeps the length"
        tokens[i, : len(e.ref.ids)] = torch.tensor(e.ref.ids)
        new[i, : len(e.new.ids)] = torch.tensor(e.new.ids)
        end = e.positions["END"]
        mask[i, end], target[i, end], distractor[i, end] = True, e.target, e.distractor
        for k in names:
            positions[k][i] = e.positions[k]
    ref = Dataset(tokens, mask, target, distractor, positions)
    return TaskPairs(
        ref=ref,
        new_tokens=new,
        new_index=None,
        seed=seed,
        task=fitter.task,
        split=fitter.split,
        counterfactual=counterfactual,
        metric=metric,
        texts=tuple(e.ref.text for e in examples),
        new_texts=tuple(e.new.text for e in examples),
        report=report,
    )
