"""Greater-than (Hanna et al. 2023): "The war lasted from the year 1732 to 17" → a year after 32.

Six sentence frames around the start year ``17YY`` (YY from 02 to 98), written so that the prompt
ends in `` 17`` and the next token is a two-digit year; frames and nouns are split. The year tokens
``00`` .. ``99`` (no leading space) are looked up once: a year that is not one token is dropped
and left out of the metric. Named positions: ``YY`` (the start year's token) and ``END``. The
target is the year YY + 1 and the distractor YY itself, so the logit difference is defined too.

**Metric**: the probability difference PD = Σ_{y > YY} p(y) − Σ_{y ≤ YY} p(y) over the year tokens
at END (:class:`ProbDiff`); an example is solved when the most probable year token is later than
YY. Its δ for ``pp.score`` is |PD(patched) − PD(reference)|, read at the target rows only.

**Counterfactual** ``"01"``: x_new starts in the year 1701 (YY replaced by ``01``): every later year
is then plausible, so the start year's information is gone.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from ..data import Dataset
from ..errors import InputError
from .base import Drop, Example, FitReport, Fitter, TaskMetric, TaskPairs, check_request, draw, pair_up
from .text import SLOTS, Encoder, Template, check_split, split_items

__all__ = ["pairs", "fit", "lexicon", "templates", "ProbDiff", "FRAMES", "NOUNS", "COUNTERFACTUALS", "year_tokens"]

COUNTERFACTUALS = ("01",)

FRAMES = (
    "The {NOUN} lasted from the year 17{YY} to 17",
    "The {NOUN} went on from the year 17{YY} to the year 17",
    "The {NOUN} started in the year 17{YY} and ended in the year 17",
    "The {NOUN} ran from 17{YY} until 17",
    "The {NOUN} began in 17{YY} and was over by 17",
    "The {NOUN} was active from the year 17{YY} to 17",
)

NOUNS = (
    "war", "reign", "project", "trial", "expedition", "strike", "drought", "journey", "survey", "partnership",
    "revolt", "festival", "voyage", "campaign", "siege", "famine", "occupation", "treaty", "rebellion", "crisis",
    "alliance", "dynasty", "plague", "boom", "feud", "tour", "study", "mission", "exhibition", "contract",
)  # fmt: skip


class ProbDiff(TaskMetric):
    """PD = Σ p(later years) − Σ p(YY and earlier) at the target position (module docs).

    ``years[y]`` is the token of the two-digit year ``y`` (-1 when it is not one token); the start
    year of each example is read from its distractor token (YY)."""

    name = "prob_diff"
    reads_targets_only = True
    __name__ = "prob_diff"

    def __init__(self, years: Sequence[int]) -> None:
        if len(years) != 100:
            raise InputError(f"ProbDiff needs the tokens of the 100 years 00..99 (-1 for missing), got {len(years)}")
        self.years = torch.tensor(list(years), dtype=torch.long)

    def _rows(self, logits: Tensor, data: Dataset) -> tuple[Tensor, Tensor, Tensor]:
        """Year probabilities [target, 100] (0 for missing years), the start years and the
        later-year mask at the target rows."""
        if data.distractor_tokens is None:
            raise InputError("ProbDiff reads the start year from distractor_tokens, which this dataset lacks")
        mask = data.target_mask.to(logits.device)
        rows = logits[mask].double().log_softmax(-1).exp()
        have = self.years >= 0
        probs = torch.zeros(rows.shape[0], 100, dtype=rows.dtype, device=rows.device)
        probs[:, have.to(rows.device)] = rows[:, self.years[have].to(rows.device)]
        start_tok = data.distractor_tokens.to(logits.device)[mask]
        lookup = torch.full((int(max(self.years.max(), start_tok.max())) + 1,), -1, dtype=torch.long)
        lookup[self.years[have]] = torch.arange(100)[have]
        start = lookup.to(rows.device)[start_tok]
        if bool((start < 0).any()):
            raise InputError(
                "a distractor token is not a year token of this ProbDiff; build the data with greater_than"
            )
        later = torch.arange(100, device=rows.device)[None, :] > start[:, None]
        return probs, start, later

    def value(self, logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Float[Tensor, " batch"]:
        probs, _, later = self._rows(logits, data)
        pd = (probs * later).sum(-1) - (probs * ~later).sum(-1)
        return _mean(pd, data.target_mask.to(pd.device))

    def correct(self, logits: Float[Tensor, "batch pos vocab"], data: Dataset) -> Bool[Tensor, " batch"]:
        probs, start, _ = self._rows(logits, data)
        ok = (probs.argmax(-1) > start).double()
        return _mean(ok, data.target_mask.to(ok.device)) == 1

    @property
    def delta(self) -> ProbDiff:
        return self

    def __call__(
        self,
        ref_logits: Float[Tensor, "batch pos vocab"],
        patched_logits: Float[Tensor, "batch pos vocab"],
        data: Dataset,
    ) -> Float[Tensor, " batch"]:
        """δ = |PD(patched) − PD(reference)| per example."""
        return (self.value(patched_logits, data) - self.value(ref_logits, data)).abs()

    def __repr__(self) -> str:
        return f"ProbDiff({int((self.years >= 0).sum())} year tokens)"


def _mean(values: Tensor, mask: Tensor) -> Tensor:
    example = mask.nonzero()[:, 0]
    totals = torch.zeros(mask.shape[0], dtype=values.dtype, device=values.device).index_add_(0, example, values)
    return totals / mask.sum(dim=1)


def year_tokens(tokenizer: Any) -> list[int]:
    """The token of each two-digit year ``00`` .. ``99`` written without a space, -1 when it is not
    one token."""
    encoder = Encoder(tokenizer)
    return [t if (t := encoder.single(f"{y:02d}")) is not None else -1 for y in range(100)]


def templates(split: str) -> tuple[Template, ...]:
    return tuple(
        Template(text, f"greater-than {i}")
        for i, text in enumerate(FRAMES)
        if f"greater-than {i}" in split_items([f"greater-than {j}" for j in range(len(FRAMES))], check_split(split))
    )


def _fit(tokenizer: Any, split: str) -> tuple[Fitter, list[str], list[Template], list[int]]:
    encoder = Encoder(tokenizer)
    fitter = Fitter("greater-than", check_split(split), encoder)
    years = fitter.words("year", [(f"{y:02d}",) for y in range(100)], prefix="")
    fitter.words("century", [("17",)])
    nouns = [n for (n,) in fitter.words("noun", [(n,) for n in split_items(NOUNS, split)])]
    ok = {int(y) for (y,) in years}
    probe = {"NOUN": nouns[0] if nouns else "war", "YY": f"{min(ok - {0, 1, 99}, default=32):02d}"}
    kept = fitter.templates(templates(split), lambda t: probe, ["YY"], bool(nouns) and bool(fitter.kept["century"]))
    usable = [y for y in range(2, 99) if {y - 1, y, y + 1, 1} <= ok]
    return fitter, nouns, kept, usable


def lexicon() -> tuple[str, ...]:
    """Every text the task writes: its frames without their slots, and every word a slot takes
    (to build a vocabulary in which each is one token)."""
    return tuple(SLOTS.sub(" ", t) for t in FRAMES) + NOUNS + tuple(f"{y:02d}" for y in range(100))


def fit(tokenizer: Any, split: str = "train") -> FitReport:
    """What ``tokenizer`` keeps of the task's years, nouns and templates in ``split``."""
    return _fit(tokenizer, split)[0].report()


def pairs(
    tokenizer: Any, seed: int = 0, split: str = "train", count: int = 100, counterfactual: str = "01"
) -> TaskPairs:
    """``count`` greater-than pairs of ``split`` (module docs), drawn reproducibly from ``seed``."""
    check_request(count, seed, counterfactual, COUNTERFACTUALS)
    fitter, nouns, kept, usable = _fit(tokenizer, split)
    fitter.require("century", fitter.kept["century"], 1)
    fitter.require("start year", len(usable), 1)
    fitter.require("noun", len(nouns), 1)
    fitter.require("template", len(kept), 1)
    metric = ProbDiff(year_tokens(tokenizer))

    def make(rng: random.Random, other: random.Random) -> Example | Drop:
        template, yy = rng.choice(kept), rng.choice(usable)
        ref = {"NOUN": rng.choice(nouns), "YY": f"{yy:02d}"}
        got = pair_up(template, fitter.encoder, ref, {**ref, "YY": "01"}, {"YY": "YY"})
        if isinstance(got, Drop):
            return got
        r, n, positions = got
        return Example(r, n, positions, int(metric.years[yy + 1]), int(metric.years[yy]))

    return draw(fitter, count, seed, counterfactual, metric, make)
