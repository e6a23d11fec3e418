"""The shipped induction model: loads offline, fixed logits, and its induction heads are real."""

from __future__ import annotations

import pytest
import torch

import pathpatch as pp
from conftest import check_logits_checksum
from pathpatch.induction.probes import prove_induction

# Recorded when the model was shipped (see src/pathpatch/assets/induction-2l/card.json).
FIXED_INPUT = torch.arange(0, 1024, 37)[None]  # 28 tokens
CHECKSUM = {"sum": -75847.1242169966, "abs_sum": 103468.40814602235, "first": [5.456418, 4.408450, 3.359833]}


@pytest.fixture(scope="module")
def shipped() -> pp.zoo.Bundle:  # type: ignore[name-defined]
    return pp.bundle("induction-2l")


def test_loads_offline_with_its_data(shipped) -> None:  # type: ignore[no-untyped-def]
    cfg = shipped.model.config
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_mlp, cfg.positions) == (2, 8, 256, None, "shortformer")
    assert shipped.heldout.shape[1] == cfg.n_ctx and shipped.heldout.shape[0] >= 1000
    assert int(shipped.heldout.max()) < cfg.d_vocab
    assert shipped.tokenizer.get_vocab_size() == cfg.d_vocab
    text = "def f(x):\n    return x\n"
    assert shipped.tokenizer.decode(shipped.tokenizer.encode(text).ids) == text
    assert shipped.card["name"] == "induction-2l"
    assert torch.equal(pp.load("induction-2l").W_E, shipped.model.W_E)


def test_logits_match_the_stored_checksum(shipped) -> None:  # type: ignore[no-untyped-def]
    check_logits_checksum(shipped.model, FIXED_INPUT, CHECKSUM)


def test_induction_proof_thresholds(shipped) -> None:  # type: ignore[no-untyped-def]
    proof = prove_induction(shipped.model)
    # shipped: first copy 11.93, second 6.61; previous-token head a0.2 (0.98); induction heads
    # a1.0, a1.3, a1.7 (0.67, 0.32, 0.70). A second copy of random tokens is far more predictable.
    assert proof.second_half_loss < 0.6 * proof.first_half_loss
    assert proof.first_half_loss - proof.second_half_loss > 4.0
    assert proof.prev_token_heads == ["a0.2"] and max(proof.prev_token_scores[0]) > 0.9
    assert set(proof.induction_heads) >= {"a1.0", "a1.7"} and max(proof.induction_scores[1]) > 0.6


def test_unknown_shipped_name_is_a_typed_error() -> None:
    with pytest.raises(pp.ModelLoadError, match=r"no shipped model 'induction-2'; .*did you mean 'induction-2l'"):
        pp.load("induction-2")
