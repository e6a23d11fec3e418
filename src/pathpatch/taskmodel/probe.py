"""Proof that a model does the standard tasks: accuracy and mean metric per task on one split.

Each task's pairs come from :func:`pathpatch.tasks.generate` (seeded); the model runs x_ref once,
and the task's own metric says which examples are solved (IOI, docstring, agreement, pronouns:
the logit difference target − distractor is positive; greater-than: the most probable year is
later than the start year).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from .. import tasks
from ..model.residual import ResidualModel
from ..tasks.base import TaskPairs

__all__ = ["TaskProof", "prove_task", "prove_pairs", "prove_tasks"]


@dataclass(frozen=True)
class TaskProof:
    """One task's proof on one split."""

    task: str
    split: str
    examples: int
    accuracy: float  # share of examples the metric counts as solved
    metric: str  # the metric's name (logit_diff, prob_diff)
    mean: float  # the metric's mean over the examples
    minimum: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{self.task} ({self.split}, {self.examples} prompts): accuracy {self.accuracy:.3f}, "
            f"mean {self.metric} {self.mean:.2f} (min {self.minimum:.2f})"
        )


@torch.no_grad()
def prove_task(
    model: ResidualModel, tokenizer: Any, task: str, split: str = "test", count: int = 500, seed: int = 0
) -> TaskProof:
    """``task``'s accuracy on ``count`` prompts of ``split`` (module docs)."""
    return prove_pairs(model, tasks.generate(task, tokenizer, seed=seed, split=split, count=count))


@torch.no_grad()
def prove_pairs(model: ResidualModel, data: TaskPairs) -> TaskProof:
    """The proof on pairs already drawn (their x_ref prompts)."""
    count = len(data)
    values, solved = [], []
    for i in range(0, count, 128):
        part = data.ref[i : i + 128]
        logits = model(part.tokens.to(model.device)).double().cpu()
        values.append(data.metric.value(logits, part))
        solved.append(data.metric.correct(logits, part))
    value, correct = torch.cat(values), torch.cat(solved)
    accuracy = float(correct.double().mean())
    return TaskProof(data.task, data.split, count, accuracy, data.metric.name, float(value.mean()), float(value.min()))


def prove_tasks(
    model: ResidualModel, tokenizer: Any, split: str = "test", count: int = 500, seed: int = 0
) -> dict[str, TaskProof]:
    """:func:`prove_task` for every task, by name."""
    return {task: prove_task(model, tokenizer, task, split, count, seed) for task in tasks.TASKS}
