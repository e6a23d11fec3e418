"""Tests of pathpatch.data: Dataset validation and subsetting, next-token datasets, pairings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pathpatch.data import Dataset, Pairs, pair_derangement, pair_from_pool
from pathpatch.errors import EmptyDatasetError, InputError, ShapeMismatchError


def toks(rows: list[list[int]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long)


def small(n: int = 4, pos: int = 3) -> Dataset:
    tokens = torch.arange(n * pos).reshape(n, pos)
    return Dataset.next_token(tokens)


# ---------------------------------------------------------------- Dataset


def test_dataset_fields_and_len():
    tokens = toks([[1, 2, 3], [4, 5, 6]])
    mask = torch.tensor([[False, False, True], [False, True, False]])
    d = Dataset(tokens, mask, toks([[0, 0, 7], [0, 8, 0]]), distractor_tokens=toks([[0, 0, 9], [0, 9, 0]]))
    assert len(d) == 2
    assert d.n_pos == 3
    assert d.target_tokens[0, 2] == 7


def test_dataset_is_frozen():
    d = small()
    with pytest.raises(AttributeError):
        d.tokens = d.tokens  # type: ignore[misc]


def test_shape_mismatch_names_field_and_shapes():
    tokens = toks([[1, 2, 3]])
    with pytest.raises(ShapeMismatchError, match=r"target_mask must have the shape of tokens \(1, 3\), got \(1, 2\)"):
        Dataset(tokens, torch.ones(1, 2, dtype=torch.bool), tokens)
    with pytest.raises(ShapeMismatchError, match=r"distractor_tokens .* got \(2, 3\)"):
        Dataset(tokens, torch.ones(1, 3, dtype=torch.bool), tokens, distractor_tokens=toks([[1, 2, 3]] * 2))


def test_tokens_must_be_2d_long():
    with pytest.raises(InputError, match=r"2-D \[batch, pos\], got shape \(3,\).*unsqueeze\(0\)"):
        Dataset(torch.tensor([1, 2, 3]), torch.ones(3, dtype=torch.bool), torch.tensor([1, 2, 3]))
    with pytest.raises(InputError, match=r"dtype torch.long, got torch.int32.*\.long\(\)"):
        Dataset(torch.ones(1, 2, dtype=torch.int32), torch.ones(1, 2, dtype=torch.bool), toks([[1, 1]]))
    with pytest.raises(InputError, match=r"target_mask must have dtype torch.bool"):
        Dataset(toks([[1, 1]]), toks([[1, 1]]), toks([[1, 1]]))


def test_empty_dataset():
    e = torch.zeros(0, 3, dtype=torch.long)
    with pytest.raises(EmptyDatasetError, match="no examples"):
        Dataset(e, torch.zeros(0, 3, dtype=torch.bool), e)


def test_example_without_target_is_named():
    tokens = toks([[1, 2], [3, 4], [5, 6]])
    mask = torch.tensor([[True, False], [True, False], [False, False]])
    with pytest.raises(EmptyDatasetError, match=r"example 2 has no target position"):
        Dataset(tokens, mask, tokens)


def test_getitem_int_slice_tensor():
    d = small(5)
    one = d[1]
    assert isinstance(one, Dataset) and one.tokens.shape == (1, 3)
    assert torch.equal(one.tokens, d.tokens[1:2])
    assert torch.equal(d[-1].tokens, d.tokens[4:5])
    assert torch.equal(d[1:3].tokens, d.tokens[1:3])
    idx = torch.tensor([4, 0, 4])
    sub = d[idx]
    assert torch.equal(sub.tokens, d.tokens[idx])
    assert torch.equal(sub.target_tokens, d.target_tokens[idx])
    assert torch.equal(d[[0, 2]].tokens, d.tokens[[0, 2]])
    assert torch.equal(d[np.int64(2)].tokens, d.tokens[2:3])
    assert torch.equal(d[torch.tensor(3)].tokens, d.tokens[3:4])
    with pytest.raises(IndexError, match="out of range"):
        d[5]


def test_getitem_keeps_distractors():
    tokens = toks([[1, 2], [3, 4]])
    mask = torch.tensor([[True, False], [True, False]])
    d = Dataset(tokens, mask, tokens, distractor_tokens=tokens + 1)
    assert torch.equal(d[1].distractor_tokens, toks([[4, 5]]))


def test_batches_cover_dataset_in_order():
    d = small(5)
    got = list(d.batches(2))
    assert [b.tolist() for b, _ in got] == [[0, 1], [2, 3], [4]]
    assert torch.equal(torch.cat([sub.tokens for _, sub in got]), d.tokens)
    with pytest.raises(InputError, match="batch_size must be a positive int, got 0"):
        list(d.batches(0))


# ---------------------------------------------------------------- next_token


def test_next_token_targets_and_default_mask():
    d = Dataset.next_token(toks([[10, 11, 12, 13]]))
    assert d.target_mask.tolist() == [[True, True, True, False]]
    assert d.target_tokens[0, :3].tolist() == [11, 12, 13]
    assert d.distractor_tokens is None


def test_next_token_custom_mask():
    mask = torch.tensor([[False, True, False]])
    d = Dataset.next_token(toks([[5, 6, 7]]), target_mask=mask)
    assert d.target_mask.tolist() == [[False, True, False]]
    assert d.target_tokens[0, 1] == 7


def test_next_token_mask_at_last_position_is_error():
    with pytest.raises(InputError, match=r"last position .* no next token; set target_mask\[:, -1\] = False"):
        Dataset.next_token(toks([[5, 6, 7]]), target_mask=torch.tensor([[False, True, True]]))


def test_next_token_single_position_has_no_targets():
    with pytest.raises(EmptyDatasetError, match="example 0 has no target position"):
        Dataset.next_token(toks([[5]]))


# ---------------------------------------------------------------- pairings


def test_pairs_shape_check():
    d = small(2, 3)
    with pytest.raises(ShapeMismatchError, match=r"shape of ref.tokens \(2, 3\), got \(2, 4\)"):
        Pairs(d, torch.zeros(2, 4, dtype=torch.long))


def test_derangement_literal_seed_reproducible_and_no_fixed_points():
    d = small(6)
    a, b = pair_derangement(d, seed=3), pair_derangement(d, seed=3)
    assert torch.equal(a.new_index, b.new_index)
    assert not bool((a.new_index == torch.arange(6)).any())
    assert torch.equal(a.new_tokens, d.tokens[a.new_index])
    assert sorted(a.new_index.tolist()) == list(range(6))  # a permutation
    others = {tuple(pair_derangement(d, seed=s).new_index.tolist()) for s in range(10)}
    assert len(others) > 1  # the seed matters


def test_derangement_of_two_is_the_swap():
    p = pair_derangement(small(2), seed=123)
    assert p.new_index.tolist() == [1, 0]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), seed=st.integers(0, 2**31 - 1))
def test_derangement_never_has_fixed_points(n, seed):
    perm = pair_derangement(small(n, 2), seed=seed).new_index
    assert sorted(perm.tolist()) == list(range(n))
    assert not bool((perm == torch.arange(n)).any())


def test_derangement_is_roughly_uniform():
    # 3 elements have exactly 2 derangements: (1,2,0) and (2,0,1); both should appear ~half the time.
    d = small(3, 2)
    counts: dict[tuple[int, ...], int] = {}
    for s in range(400):
        key = tuple(pair_derangement(d, seed=s).new_index.tolist())
        counts[key] = counts.get(key, 0) + 1
    assert set(counts) == {(1, 2, 0), (2, 0, 1)}
    assert 140 < counts[(1, 2, 0)] < 260


def test_derangement_needs_two_examples():
    with pytest.raises(InputError, match="a derangement needs at least 2 examples, the dataset has 1"):
        pair_derangement(small(1))


def test_pair_from_pool():
    d = small(5, 3)
    pool = torch.tensor([[100, 101, 102], [200, 201, 202]])
    p = pair_from_pool(d, pool, seed=1)
    assert torch.equal(p.new_tokens, pool[p.new_index])
    assert p.new_tokens.shape == d.tokens.shape
    assert torch.equal(pair_from_pool(d, pool, seed=1).new_index, p.new_index)
    # Batches keep x_new with its x_ref.
    idx, sub = next(iter(p.batches(2)))
    assert torch.equal(sub.new_tokens, p.new_tokens[idx]) and torch.equal(sub.ref.tokens, d.tokens[idx])


def test_pair_from_pool_errors():
    d = small(2, 3)
    with pytest.raises(ShapeMismatchError, match=r"pool_tokens must have 3 positions .* got shape \(2, 4\)"):
        pair_from_pool(d, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(EmptyDatasetError, match="pool_tokens has no rows"):
        pair_from_pool(d, torch.zeros(0, 3, dtype=torch.long))
