"""Bad inputs: each is a typed error whose message says what went wrong; none yields NaN."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_model

import pathpatch as pp


@pytest.fixture(scope="module")
def model() -> pp.ResidualModel:
    return tiny_model("shortformer", 12)


def _tok(*shape: int) -> torch.Tensor:
    return torch.randint(0, 11, shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "pattern,token,column,message",
    [
        ("embed -> a0.x -> out", "a0.x", 9, "not a path element"),
        ("embed -> -> out", "->", 6, "missing element next to an arrow"),
        ("", "", 0, "empty pattern"),
        ("a0.0 -> embed", "embed", 8, "an input node can only start a path"),
        ("embed -> out -> a1.0.q", "out", 9, "'out' can only end a path"),
        ("a0.0.x", "a0.0.x", 0, "not a path element"),
        ("a{1-0}.0", "1-0", 0, "empty range"),
        ("a{}.0", "{}", 0, "empty set"),
        ("m{1,x}", "x", 0, "a set holds numbers or ranges"),
    ],
)
def test_malformed_patterns(pattern: str, token: str, column: int, message: str) -> None:
    with pytest.raises(pp.PatternError, match=message) as info:
        pp.paths(pattern)
    assert info.value.token == token
    assert info.value.column == column
    assert f"at column {column}" in str(info.value)


def test_unknown_node_names_close_matches(model: pp.ResidualModel) -> None:
    with pytest.raises(pp.UnknownNodeError, match=r"no node or port 'a2.0' in this model") as info:
        pp.paths("embed -> a2.0 -> out").count(model)
    assert info.value.column == 9
    assert "a1.0" in info.value.suggestions
    with pytest.raises(pp.UnknownNodeError, match="did you mean"):
        pp.evaluate(model, pp.paths("a0.7.q"), _tok(2, 4), _tok(2, 4))


def test_unknown_channel_and_missing_nodes() -> None:
    attn_only = tiny_model("absolute", None)
    with pytest.raises(pp.UnknownNodeError, match="'m0'"):
        pp.through("m0").count(attn_only)
    with pytest.raises(pp.PatternError, match="add .q, .k or .v"):
        pp.through_edge("embed", "a1.0")
    with pytest.raises(pp.PatternError, match="a channel is q, k or v"):
        pp.paths("a1.0.{q,z}")
    with pytest.raises(pp.PatternError, match="no such edge"):
        pp.subgraph(["a1.0 -> a0.0.q"]).count(attn_only)
    with pytest.raises(pp.UnknownNodeError, match="'m1'"):
        pp.subgraph(["a0.0 -> m1"]).count(attn_only)


def test_shape_mismatch(model: pp.ResidualModel) -> None:
    with pytest.raises(pp.ShapeMismatchError, match=r"ref_tokens \(2, 4\) and new_tokens \(2, 5\) differ"):
        pp.evaluate(model, pp.all_paths(), _tok(2, 4), _tok(2, 5))


def test_token_out_of_vocabulary(model: pp.ResidualModel) -> None:
    bad = _tok(2, 4)
    bad[1, 2] = 11
    with pytest.raises(pp.TokenOutOfRangeError, match=r"new_tokens holds token id 11, outside .* \[0, 11\)"):
        pp.evaluate(model, pp.all_paths(), _tok(2, 4), bad)
    with pytest.raises(pp.TokenOutOfRangeError, match="token id -1"):
        pp.evaluate(model, pp.all_paths(), torch.full((1, 3), -1), _tok(1, 3))


def test_sequence_longer_than_context(model: pp.ResidualModel) -> None:
    with pytest.raises(pp.SequenceTooLongError, match=r"length 7, longer than the model's context n_ctx=6"):
        pp.evaluate(model, pp.all_paths(), _tok(1, 7), _tok(1, 7))


def test_bad_token_tensors(model: pp.ResidualModel) -> None:
    with pytest.raises(pp.InputError, match="integer tensor"):
        pp.evaluate(model, pp.all_paths(), torch.zeros(2, 3), _tok(2, 3))
    with pytest.raises(pp.InputError, match="is empty"):
        pp.evaluate(model, pp.all_paths(), torch.zeros(0, 3, dtype=torch.long), _tok(2, 3))
    with pytest.raises(pp.InputError, match="needs new_tokens"):
        pp.evaluate(model, pp.all_paths(), _tok(2, 3))
    with pytest.raises(pp.InputError, match="ablation must be"):
        pp.evaluate(model, pp.all_paths(), _tok(2, 3), _tok(2, 3), ablation="gaussian")  # type: ignore[arg-type]


def test_empty_dataset() -> None:
    with pytest.raises(pp.EmptyDatasetError):
        pp.Dataset.next_token(torch.zeros(0, 5, dtype=torch.long))
    with pytest.raises(pp.InputError, match="derangement needs"):
        pp.pair_derangement(pp.Dataset.next_token(_tok(1, 5)))


def test_mean_ablation_length_mismatch(model: pp.ResidualModel) -> None:
    from pathpatch.engine.api import ablated_cache
    from pathpatch.engine.cache import mean_outputs

    means = mean_outputs(model, _tok(3, 5))
    with pytest.raises(pp.ShapeMismatchError, match="mean activations are for sequences of length 5"):
        ablated_cache(model, _tok(2, 4), None, "mean", means)


def test_no_nan_on_extreme_but_valid_inputs(model: pp.ResidualModel) -> None:
    """Single-token sequences and identical ref/new give finite, exact answers."""
    one = _tok(3, 1)
    out = pp.evaluate(model, pp.paths("embed -> a1.0.v -> out"), one, one)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, model(one), atol=1e-5, rtol=0)


def test_hypotheses_reject_non_hypotheses() -> None:
    with pytest.raises(TypeError, match="wrap patterns in paths"):
        pp.all_paths() | "embed -> out"  # type: ignore[operator]
    with pytest.raises(TypeError, match="expected Hypothesis objects"):
        pp.Engine(tiny_model(), ["embed -> out"])  # type: ignore[list-item]
