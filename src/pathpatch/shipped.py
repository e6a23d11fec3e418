"""The data behind every number of the shipped models, as public helpers.

- :func:`induction_pairs`: held-out sequences of ``induction-2l`` (or of any model directory that
  holds ``heldout.safetensors``, such as one written by ``pathpatch train induction``), the metric
  read at the **good induction candidates** (:func:`~pathpatch.induction.study.induction_candidates`:
  positions whose token occurred earlier, followed there by the token that follows now), x_new
  another held-out sequence (a seeded derangement). These are the demo's and ``pathpatch scan`` /
  ``pathpatch discover``'s pairs: ``induction_pairs(200, seed=0)`` is the README's held-out data.
- :func:`number_prompts`: the number task of ``numbers-4l`` (``"<|endoftext|> s s+1 s+2"`` →
  ``" s+3"``, read at the last position), as :class:`~pathpatch.counting.task.NumberTask`.
- :func:`model_and_pairs`: a shipped name or a model directory, with the pairs its task reads
  (number prompts for ``numbers-4l``, held-out text at induction candidates otherwise): what the
  commands' ``--model`` runs on.

Every helper fills ``distractor_tokens`` with x_new's correct token at the same position (the
answer the other sequence supports), so ``delta="logit_diff"`` works on them; the other δ's do
not read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file

from .data import Dataset, Pairs, pair_derangement
from .errors import ArgumentError, ModelLoadError
from .model.residual import ResidualModel

if TYPE_CHECKING:
    from .counting.task import NumberTask

__all__ = ["induction_pairs", "number_prompts", "model_and_pairs", "with_distractors", "heldout_tokens"]


def with_distractors(pairs: Pairs) -> Pairs:
    """``pairs`` with ``distractor_tokens`` = x_new's correct token at each position: its next
    token, and at the last position (prompt tasks, whose answer follows the prompt) the target of
    the example x_new was drawn from (``new_index`` into the same dataset)."""
    ref = pairs.ref
    if ref.distractor_tokens is not None:
        return pairs
    distractor = torch.zeros_like(ref.target_tokens)
    distractor[:, :-1] = pairs.new_tokens[:, 1:]
    if pairs.new_index is not None and int(pairs.new_index.max()) < len(ref):
        distractor[:, -1] = ref.target_tokens[pairs.new_index, -1]
    data = Dataset(ref.tokens, ref.target_mask, ref.target_tokens, distractor, ref.positions)
    return Pairs(data, pairs.new_tokens, pairs.new_index, pairs.seed)


def heldout_tokens(source: str | Path) -> tuple[torch.Tensor, str]:
    """``([sequence, pos] held-out token ids, a description)`` of a shipped model or a directory."""
    from .zoo import SHIPPED, bundle

    if str(source) in SHIPPED:
        return bundle(str(source)).heldout, f"the shipped model {source}"
    file = Path(source) / "heldout.safetensors"
    if not file.is_file():
        raise ModelLoadError(
            f"{source} holds no heldout.safetensors (a [sequence, pos] 'tokens' tensor of held-out text), so "
            "there is no data to measure it on; pass a directory written by `pathpatch train induction`, "
            f"or a shipped model: {list(SHIPPED)}"
        )
    return load_file(str(file))["tokens"].long(), f"the model in {source}"


def induction_pairs(examples: int = 200, seed: int = 0, model: str | Path = "induction-2l") -> Pairs:
    """``examples`` held-out sequences of ``model`` paired with others, read at induction candidates.

    ``seed`` chooses the sequences (among those with a candidate) and the pairing, as the demo and
    the commands do. ``model``: a shipped name or a directory with ``heldout.safetensors``.
    """
    from .induction.study import induction_dataset
    from .validate import check_int

    check_int(examples, "examples", 2)
    check_int(seed, "seed", 0)
    heldout, what = heldout_tokens(model)
    if examples > len(heldout):
        raise ArgumentError(f"{what} has {len(heldout)} held-out sequences; pass examples <= {len(heldout)}")
    return with_distractors(pair_derangement(induction_dataset(heldout, examples, seed), seed))


def number_prompts(seed: int = 0, first: int = 0, last: int = 196) -> NumberTask:
    """The number task of ``numbers-4l`` with ``s`` in ``first..last`` (its study's prompts), x_new
    another prompt (seeded derangement); ``task.pairs`` carries distractors, ``task.numbers`` the
    answer tokens (for :func:`~pathpatch.counting.task.abs_number_logit_diff`)."""
    from dataclasses import replace

    from .counting.task import number_task
    from .zoo import bundle

    task = number_task(bundle("numbers-4l").tokenizer, first, last, seed=seed)
    return replace(task, pairs=with_distractors(task.pairs))


def model_and_pairs(source: str, examples: int, seed: int) -> tuple[ResidualModel, Pairs, str]:
    """``(model, pairs, description)`` for a command's ``--model``: a shipped name or a directory."""
    from .zoo import SHIPPED, bundle, load

    if source == "numbers-4l":
        pairs = number_prompts(seed).pairs
        if examples < len(pairs):
            pairs = pairs[:examples]
        return bundle(source).model, pairs, f"the shipped model numbers-4l ({len(pairs)} number prompts)"
    model = bundle(source).model if source in SHIPPED else load(source)
    pairs = induction_pairs(examples, seed, source)
    where = "the shipped model" if source in SHIPPED else "the model in"
    return model, pairs, f"{where} {source} ({len(pairs)} held-out sequences, at induction candidates)"
