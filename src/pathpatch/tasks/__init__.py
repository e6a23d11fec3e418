"""The field's standard tasks as pair generators for any tokenizer.

Each task module has ``pairs(tokenizer, seed, split, count, counterfactual)``, which returns
:class:`~.base.TaskPairs` (a :class:`~pathpatch.data.Pairs` with the task's metric, texts and fit
report), and ``fit(tokenizer, split)``, which reports what the tokenizer lets through without
drawing anything (:class:`~.base.FitReport`):

======================  =============================  ===============================  ==============================
task                    module                         counterfactuals                  metric
======================  =============================  ===============================  ==============================
``"ioi"``               :mod:`.ioi`                    ``"abc"``, ``"s2_io_flip"``      logit difference IO − S
``"greater-than"``      :mod:`.greater_than`           ``"01"``                         probability difference
``"docstring"``         :mod:`.docstring`              ``"random_def"``, ``"random_doc"``  logit difference
``"agreement"``         :mod:`.agreement`              ``"number_flip"``                logit difference
``"pronouns"``          :mod:`.pronouns`               ``"gender_flip"``                logit difference
======================  =============================  ===============================  ==============================

The first counterfactual of each is its default. Every list of words and templates is split
60/20/20 into ``"train"``, ``"validation"`` and ``"test"`` by a rule that depends on neither the
seed nor the tokenizer (:func:`~.text.split_items`), so the splits are disjoint in names, words
and templates. Words that must be one token and are not, and templates that tokenize differently
in context, are dropped and listed in the report; a task the tokenizer leaves nothing of is
refused with the report in the error.

>>> data = generate("ioi", tokenizer, seed=0, split="test", count=200)      # doctest: +SKIP
>>> pp.score(model, hypotheses, data, delta=data.metric.delta)              # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ..errors import ArgumentError, close_matches
from . import agreement, docstring, greater_than, ioi, pronouns
from .base import Drop, FitReport, LogitDiff, TaskMetric, TaskPairs, accuracy
from .greater_than import ProbDiff
from .text import SPLITS

__all__ = [
    "TASKS",
    "SPLITS",
    "generate",
    "fit",
    "lexicon",
    "TaskPairs",
    "FitReport",
    "Drop",
    "TaskMetric",
    "LogitDiff",
    "ProbDiff",
    "accuracy",
]

TASKS = {
    "ioi": ioi,
    "greater-than": greater_than,
    "docstring": docstring,
    "agreement": agreement,
    "pronouns": pronouns,
}
"""Task name -> its module (``pairs``, ``fit``, ``lexicon``, ``COUNTERFACTUALS``); the modules are
the package's submodules (``pathpatch.tasks.ioi``), not names of ``__all__``."""


def _module(task: object) -> Any:
    if not isinstance(task, str) or task not in TASKS:
        hint = close_matches(task, TASKS) if isinstance(task, str) else []
        raise ArgumentError(
            f"unknown task {task!r}; the tasks are {', '.join(map(repr, TASKS))}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        )
    return TASKS[task]


def generate(
    task: str, tokenizer: Any, seed: int = 0, split: str = "train", count: int = 100, counterfactual: str | None = None
) -> TaskPairs:
    """``count`` pairs of ``task`` on ``tokenizer`` (its module's ``pairs``); ``counterfactual``
    defaults to the task's first."""
    module = _module(task)
    kind = module.COUNTERFACTUALS[0] if counterfactual is None else counterfactual
    out: TaskPairs = module.pairs(tokenizer, seed=seed, split=split, count=count, counterfactual=kind)
    return out


def fit(task: str, tokenizer: Any, split: str = "train") -> FitReport:
    """What ``tokenizer`` keeps of ``task``'s words and templates in ``split``."""
    report: FitReport = _module(task).fit(tokenizer, split)
    return report


def lexicon(task: str) -> tuple[str, ...]:
    """Every text ``task`` writes (frames without slots, slot words)."""
    words: tuple[str, ...] = _module(task).lexicon()
    return words
