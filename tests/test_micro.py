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
from tolerance import REDUCTION, close

pytestmark = pytest.mark.numeric

REF = torch.tensor([[0, 1]])
NEW = torch.tensor([[1, 1]])


@pytest.fixture
def micro() -> pp.ResidualModel:
    cfg = pp.ModelConfig(
        n_layers=1, n_heads=1, d_model=2, d_head=1, d_vocab=2, n_ctx=2, positions="none", norm=False, attn_scale=1.0
    )
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
    "all": (
        ["embed -> out", "embed -> a0.0.q -> out", "embed -> a0.0.k -> out", "embed -> a0.0.v -> out"],
        [[1.0, 2.0], [0.0, 2.5]],
    ),
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
    close(got, torch.tensor([expected]), steps=REDUCTION)


# ---------------------------------------------------------------- with biases: three ablations differ
#
# The same weights plus a value bias b_V = 1 (so v = x[0] + 1 and the head writes 2 + 2·Σ a·x[0]) and
# an attention output bias b_O = [0.5, 0] (a constant every run adds, never ablated). Two examples,
# both x_ref = [0, 1]; x_new = [1, 1] and [1, 0]. Head outputs (coordinate 1):
#   on x_ref: pos 0 z = 2 -> 4; pos 1 attention [3/4, 1/4] over values [2, 1] -> z = 7/4 -> 3.5
#   on [1, 1]: keys 0, values 1 -> 2 at both positions
#   on [1, 0]: pos 0 z = 1 -> 2; pos 1 q = 0 -> uniform over values [1, 2] -> z = 3/2 -> 3
#   mean over the two x_new: [2, 2.5]; zero: [0, 0]
# Clean logits: [[1.5, 4], [0.5, 4.5]].
# "embed -> out": out = embed(x_ref) + ablated head + b_O.
# "embed -> a0.0.v -> out": out = ablated embed + head(q, k from the ablated embed, v from x_ref) + b_O;
#   mean: the mean embed is [0, 1] at pos 0 and [1/2, 1/2] at pos 1, so at pos 1 q = 1/2, keys
#   [0, ln(3)/2] -> attention ∝ [1, 3^(1/4)] over values [2, 1].

BREF = torch.tensor([[0, 1], [0, 1]])
BNEW = torch.tensor([[1, 1], [1, 0]])
R = 3**0.25
BIASED = {
    # (hypothesis, ablation) -> logits [example][pos][vocab]
    ("direct", "resample"): [[[1.5, 2.0], [0.5, 3.0]], [[1.5, 2.0], [0.5, 4.0]]],
    ("direct", "mean"): [[[1.5, 2.0], [0.5, 3.5]]] * 2,
    ("direct", "zero"): [[[1.5, 0.0], [0.5, 1.0]]] * 2,
    ("v only", "resample"): [[[0.5, 5.0], [0.5, 4.0]], [[0.5, 5.0], [1.5, 3.0]]],
    ("v only", "mean"): [[[0.5, 5.0], [1.0, 0.5 + 2 * (2 + R) / (1 + R)]]] * 2,
    ("v only", "zero"): [[[0.5, 4.0], [0.5, 3.0]]] * 2,
    ("none", "resample"): [[[0.5, 3.0], [0.5, 3.0]], [[0.5, 3.0], [1.5, 3.0]]],
    ("none", "mean"): [[[0.5, 3.0], [1.0, 3.0]]] * 2,
    ("none", "zero"): [[[0.5, 0.0], [0.5, 0.0]]] * 2,
    ("all", "resample"): [[[1.5, 4.0], [0.5, 4.5]]] * 2,
    ("all", "mean"): [[[1.5, 4.0], [0.5, 4.5]]] * 2,
    ("all", "zero"): [[[1.5, 4.0], [0.5, 4.5]]] * 2,
}
BIASED_HYPS = {"direct": "embed -> out", "v only": "embed -> a0.0.v -> out", "none": None, "all": "*"}


@pytest.fixture
def biased(micro: pp.ResidualModel) -> pp.ResidualModel:
    with torch.no_grad():
        micro.b_V[0, 0] = torch.tensor([1.0])
        micro.b_O[0] = torch.tensor([0.5, 0.0])
    return micro


@pytest.mark.parametrize("key", list(BIASED), ids=[f"{h}-{a}" for h, a in BIASED])
def test_biased_micro_model_resample_mean_zero(biased: pp.ResidualModel, key: tuple[str, str]) -> None:
    name, ablation = key
    pattern = BIASED_HYPS[name]
    hyp = pp.no_paths() if pattern is None else pp.all_paths() if pattern == "*" else pp.paths(pattern)
    got = pp.evaluate(biased, hyp, BREF, BNEW, ablation=ablation)  # type: ignore[arg-type]
    close(got, torch.tensor(BIASED[key]), steps=REDUCTION)


def test_biased_micro_model_ablations_really_differ() -> None:
    """The three ablations give three different answers here (unlike the bias-free model above)."""
    for name in ("direct", "v only", "none"):
        values = [torch.tensor(BIASED[(name, a)]) for a in ("resample", "mean", "zero")]
        for i in range(3):
            for j in range(i + 1, 3):
                assert (values[i] - values[j]).abs().max() > 0.1, (name, i, j)


def test_micro_model_counts(micro: pp.ResidualModel) -> None:
    assert micro.graph.count_paths() == 4
    assert [p.name for p in pp.all_paths().list(micro)] == sorted(CASES["all"][0])
