"""The shipped models' data as public helpers (pathpatch.shipped), and summaries that print."""

from __future__ import annotations

import torch

import pathpatch as pp
from pathpatch.data import pair_derangement
from pathpatch.induction.study import induction_dataset


def test_induction_pairs_are_the_demos_pairs_with_distractors() -> None:
    pairs = pp.induction_pairs(200, seed=0)
    demo = pair_derangement(induction_dataset(pp.bundle("induction-2l").heldout, 200, 0), 0)
    assert torch.equal(pairs.ref.tokens, demo.ref.tokens) and torch.equal(pairs.new_tokens, demo.new_tokens)
    assert torch.equal(pairs.ref.target_mask, demo.ref.target_mask)
    assert pairs.seed == 0 and pairs.ref.distractor_tokens is not None
    assert torch.equal(pairs.ref.distractor_tokens[:, :-1], pairs.new_tokens[:, 1:])  # x_new's next token


def test_number_prompts_are_the_number_studys() -> None:
    task = pp.number_prompts()
    assert len(task.pairs) == len(task.starts) and task.starts[0] == 0 and task.pairs.ref.n_pos == 4
    assert bool(task.pairs.ref.target_mask[:, -1].all()) and not bool(task.pairs.ref.target_mask[:, :-1].any())
    d = task.pairs.ref.distractor_tokens
    assert d is not None and torch.equal(d[:, -1], task.pairs.ref.target_tokens[task.pairs.new_index, -1])


def test_models_and_pairs_print_a_summary() -> None:
    model = pp.load("induction-2l")
    text = repr(model)
    assert text.startswith("ResidualModel('induction-2l': 2 layers x 8 heads, attention-only, shortformer positions")
    assert "d_model=" in text and "float32" in text
    pairs = pp.induction_pairs(8, seed=1)
    text = repr(pairs)
    assert text.startswith("Pairs(8 examples x ") and "tensor" not in text and "pairing seed 1" in text
    assert "tensor" not in repr(pairs.ref) and repr(pairs.ref).startswith("Dataset(8 examples x ")
    assert str(pairs) == repr(pairs)
