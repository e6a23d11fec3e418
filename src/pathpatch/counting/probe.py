"""Proof that a model counts: ``<|endoftext|> s s+1 s+2`` → ``" s+3"`` over every usable ``s``.

Accuracy is top-1 over the whole vocabulary at the last position; the logit difference is the
correct number's logit minus the mean logit of the other answer numbers (those of the other
prompts), as in :func:`pathpatch.counting.task.number_logit_diff`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..model.residual import ResidualModel
from .task import NumberTask, number_logit_diff, number_task

__all__ = ["CountingProof", "prove_counting", "counting_proof"]


@dataclass(frozen=True)
class CountingProof:
    accuracy: float  # share of prompts whose top-1 next token is " s+3"
    logit_diff: float  # mean over prompts of logit[s+3] - mean logit[other answers]
    logit_diff_min: float
    prompts: int
    first: int  # smallest and largest s
    last: int
    wrong: tuple[int, ...]  # the s whose top-1 is not s+3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        wrong = ", ".join(map(str, self.wrong[:10])) + (" ..." if len(self.wrong) > 10 else "")
        return (
            f"counting: top-1 accuracy {self.accuracy:.3f} on {self.prompts} prompts <|endoftext|> s s+1 s+2 -> s+3 "
            f"(s = {self.first}..{self.last}); logit difference vs the other answers {self.logit_diff:.2f} "
            f"(min {self.logit_diff_min:.2f})" + (f"; wrong at s = {wrong}" if self.wrong else "")
        )


def prove_counting(model: ResidualModel, tokenizer: Any, first: int = 1, last: int = 100) -> CountingProof:
    """Run every prompt of :func:`number_task` once (no pairing needed)."""
    return counting_proof(model, number_task(tokenizer, first, last))


@torch.no_grad()
def counting_proof(model: ResidualModel, task: NumberTask) -> CountingProof:
    """The proof on the x_ref prompts of a task already built."""
    data = task.pairs.ref
    logits = model(data.tokens.to(model.device))
    top = logits[:, -1].argmax(-1).cpu()
    correct = top == data.target_tokens[:, -1]
    diff = number_logit_diff(logits, data, task.numbers).cpu()
    wrong = tuple(s for s, ok in zip(task.starts, correct.tolist()) if not ok)
    return CountingProof(
        float(correct.double().mean()),
        float(diff.mean()),
        float(diff.min()),
        len(task.starts),
        task.starts[0],
        task.starts[-1],
        wrong,
    )
