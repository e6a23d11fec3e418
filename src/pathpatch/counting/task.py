"""The number-continuation task: ``"<|endoftext|> s s+1 s+2"`` → ``" s+3"``.

For each ``s`` in ``first..last`` whose four numbers ``" s"``..``" s+3"`` are single tokens, one
prompt of four tokens; the metric is read at the last position. x_new is another prompt of the
task (a seeded derangement). Metrics: the loss of the correct number, and its logit minus the
mean logit of the other answer numbers (:func:`number_logit_diff`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..data import Dataset, Pairs, pair_derangement
from ..errors import InputError
from ..metrics import targets_only

__all__ = ["NumberTask", "number_task", "number_logit_diff", "abs_number_logit_diff", "POSITION_LABELS"]

POSITION_LABELS = ("<|endoftext|>", "s", "s+1", "s+2")
EOT = "<|endoftext|>"


def _encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` from a ``tokenizers.Tokenizer`` or a ``transformers`` tokenizer."""
    try:
        out = tokenizer.encode(text, add_special_tokens=False)
    except TypeError:
        out = tokenizer.encode(text)
    return list(out.ids if hasattr(out, "ids") else out)


def _special(tokenizer: Any, token: str) -> int:
    for method in ("token_to_id", "convert_tokens_to_ids"):
        if hasattr(tokenizer, method):
            value = getattr(tokenizer, method)(token)
            if isinstance(value, int) and value >= 0:
                return value
    raise InputError(f"the tokenizer has no {token!r} token; the number task needs GPT-2's tokenizer")


@dataclass(frozen=True)
class NumberTask:
    """The prompts as x_ref/x_new pairs, the answer numbers and their token ids."""

    pairs: Pairs
    starts: tuple[int, ...]  # s of each prompt
    numbers: Int[Tensor, " answer"]  # token ids of every answer " s+3" (the logit difference's rivals)


def number_task(tokenizer: Any, first: int = 1, last: int = 100, seed: int = 0) -> NumberTask:
    """Build the task with ``tokenizer`` (GPT-2's; any tokenizer with single-token numbers works)."""
    eot = _special(tokenizer, EOT)
    rows, starts = [], []
    for s in range(first, last + 1):
        ids = [_encode(tokenizer, f" {n}") for n in range(s, s + 4)]
        if all(len(i) == 1 and tokenizer.decode(i) == f" {n}" for i, n in zip(ids, range(s, s + 4))):
            rows.append([eot] + [i[0] for i in ids])
            starts.append(s)
    if len(rows) < 2:
        raise InputError(
            f"only {len(rows)} values of s in {first}..{last} have single-token numbers s..s+3 with this "
            "tokenizer, and the task needs at least two prompts: widen the range (numbers-4l: s in "
            "0..196; GPT-2: 1..100), or use a tokenizer in which ' 12' is one token, like GPT-2's"
        )
    table = torch.tensor(rows)
    tokens = table[:, :4]
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[:, -1] = True
    targets = torch.zeros_like(tokens)
    targets[:, -1] = table[:, 4]
    data = Dataset(tokens, mask, targets)
    return NumberTask(pair_derangement(data, seed), tuple(starts), table[:, 4].unique())


def number_logit_diff(
    logits: Float[Tensor, "batch pos vocab"], data: Dataset, numbers: Tensor
) -> Float[Tensor, " batch"]:
    """logit[correct] − mean logit of the other answer numbers, at the last position."""
    rows = logits[:, -1].double()  # [batch, vocab]
    correct = data.target_tokens[:, -1].to(rows.device)
    numbers = numbers.to(rows.device)
    rivals = rows[:, numbers]  # [batch, answer]
    is_correct = numbers[None, :] == correct[:, None]
    mean_other = (rivals * ~is_correct).sum(1) / (~is_correct).sum(1)
    return rows.gather(1, correct[:, None])[:, 0] - mean_other


def abs_number_logit_diff(numbers: Tensor) -> Any:
    """δ = |Δ number logit difference| (reads only the target position)."""

    def number_logit_diff_delta(ref: Tensor, patched: Tensor, data: Dataset) -> Tensor:
        return (number_logit_diff(patched, data, numbers) - number_logit_diff(ref, data, numbers)).abs()

    return targets_only(number_logit_diff_delta)
