"""A hand-computable micro-model with literal expected values.

One layer, one head, no norm, no positions, d_model 2, d_head 1, vocab 2, attention scale 1.
embed(0) = [1, 0], embed(1) = [0, 1]; the query reads coordinate 1, the key ln(3)·coordinate 0,
the value coordinate 0; the head writes 2·z to coordinate 1; unembedding is the identity.

x_ref = [0, 1], x_new = [1, 1].
Clean: pos 0 attends to itself (z = 1) -> [1, 0] + [0, 2] = [1, 2]. pos 1: q = 1, keys
[ln 3, 0] -> attention [3/4, 1/4], values [1, 0] -> z = 3/4 -> [0, 1] + [0, 1.5] = [0, 2.5].
New: values are 0 everywhere -> [0, 1] at both positions.
"""

from __future__ import annotations

import math

import pytest
import torch

import pathpatch as pp

REF = torch.tensor([[0, 1]])
NEW = torch.tensor([[1, 1]])


@pytest.fixture
def micro() -> pp.ResidualModel:
    cfg = pp.ModelConfig(n_layers=1, n_heads=1, d_model=2, d_head=1, d_vocab=2, n_ctx=2, positions="none",
                         norm=False, attn_scale=1.0)
    model = pp.ResidualModel(cfg)
    with torch.no_grad():
        model.W_E.copy_(torch.eye(2))
        model.W_Q[0, 0] = torch.tensor([[0.0], [1.0]])
        model.W_K[0, 0] = torch.tensor([[math.log(3)], [0.0]])
        model.W_V[0, 0] = torch.tensor([[1.0], [0.0]])
        model.W_O[0, 0] = torch.tensor([[0.0, 2.0]])
        model.W_U.copy_(torch.eye(2))
    return model


CASES = {
    # hypothesis patterns -> logits [[pos0], [pos1]]
    "all": (["embed -> out", "embed -> a0.0.q -> out", "embed -> a0.0.k -> out", "embed -> a0.0.v -> out"],
            [[1.0, 2.0], [0.0, 2.5]]),
    "none": ([], [[0.0, 1.0], [0.0, 1.0]]),
    # out reads embed(ref); the head copy is all-new (z = 0)
    "direct": (["embed -> out"], [[1.0, 0.0], [0.0, 1.0]]),
    # values from ref, q and k from new: keys all 0 -> uniform [1/2, 1/2] -> z = 1/2 at pos 1
    "v only": (["embed -> a0.0.v -> out"], [[0.0, 3.0], [0.0, 2.0]]),
    # keys from ref -> [3/4, 1/4] again; q from new equals q from ref at pos 1
    "k and v": (["embed -> a0.0.k -> out", "embed -> a0.0.v -> out"], [[0.0, 3.0], [0.0, 2.5]]),
    "q and v": (["embed -> a0.0.q -> out", "embed -> a0.0.v -> out"], [[0.0, 3.0], [0.0, 2.0]]),
    # the head reads ref only through k, which moves attention but values are new (0)
    "k only": (["embed -> a0.0.k -> out"], [[0.0, 1.0], [0.0, 1.0]]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_micro_model_literal_values(micro: pp.ResidualModel, name: str) -> None:
    patterns, expected = CASES[name]
    hyp = pp.paths(patterns) if patterns else pp.no_paths()
    got = pp.evaluate(micro, hyp, REF, NEW)
    torch.testing.assert_close(got, torch.tensor([expected]), atol=1e-6, rtol=0)


def test_micro_model_zero_and_mean_ablation(micro: pp.ResidualModel) -> None:
    # zero ablation of the head only (embed kept): out = embed(ref) + 0
    direct = pp.evaluate(micro, pp.paths("embed -> out"), REF, ablation="zero")
    torch.testing.assert_close(direct, torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
    # mean over the single example x_new: the head's mean output is its output on x_new (0)
    mean = pp.evaluate(micro, pp.paths("embed -> out"), REF, NEW, ablation="mean")
    torch.testing.assert_close(mean, torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))


def test_micro_model_counts(micro: pp.ResidualModel) -> None:
    assert micro.graph.count_paths() == 4
    assert [p.name for p in pp.all_paths().list(micro)] == sorted(CASES["all"][0])
