"""Tests of pathpatch.metrics: dissimilarities (literal values, invariants), bootstrap, summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pathpatch.data import Dataset
from pathpatch.errors import EmptyDatasetError, InputError, ShapeMismatchError, TokenOutOfRangeError
from pathpatch.estimates import Estimate, ate, aue, bootstrap, loss_recovered, proportion_explained, summarise
from pathpatch.metrics import (
    DELTAS,
    TargetDelta,
    abs_logit_diff_diff,
    abs_loss_diff,
    kl,
    logit_diff,
    loss,
    resolve_delta,
)
from tolerance import REDUCTION, SAME_OPS, approx, close, tol

pytestmark = pytest.mark.numeric


def one_position(targets: list[int], distractors: list[int] | None = None) -> Dataset:
    """A batch of 1-position examples, each measured at its only position."""
    n = len(targets)
    t = torch.tensor(targets).reshape(n, 1)
    d = None if distractors is None else torch.tensor(distractors).reshape(n, 1)
    return Dataset(torch.zeros(n, 1, dtype=torch.long), torch.ones(n, 1, dtype=torch.bool), t, d)


# ---------------------------------------------------------------- KL


def test_kl_literal_two_tokens():
    # p = (1/2, 1/2), q = (3/4, 1/4): KL = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3)
    ref = torch.tensor([[[0.0, 0.0]]], dtype=torch.float64)
    new = torch.tensor([[[math.log(3.0), 0.0]]], dtype=torch.float64)
    out = kl(ref, new, one_position([0]))
    assert out.shape == (1,) and out.dtype == torch.float64
    assert out.item() == approx(0.14384103622589042, steps=REDUCTION, dtype=torch.float64)


def test_kl_averages_only_target_positions():
    ref = torch.zeros(1, 3, 2, dtype=torch.float64)
    new = torch.tensor([[[math.log(3.0), 0.0], [0.0, 0.0], [50.0, 0.0]]], dtype=torch.float64)  # last position unmasked
    data = Dataset(
        torch.zeros(1, 3, dtype=torch.long), torch.tensor([[True, True, False]]), torch.zeros(1, 3, dtype=torch.long)
    )
    assert kl(ref, new, data).item() == approx(0.14384103622589042 / 2, steps=REDUCTION, dtype=torch.float64)


logits3 = arrays(np.float32, (2, 3, 4), elements=st.floats(-20, 20, width=32))


@settings(max_examples=50, deadline=None)
@given(a=logits3, b=logits3)
def test_kl_nonnegative_and_zero_on_identical(a, b):
    data = Dataset.next_token(torch.zeros(2, 3, dtype=torch.long))
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    assert bool((kl(ta, tb, data) >= 0).all())
    assert torch.equal(kl(ta, ta, data), torch.zeros(2, dtype=torch.float64))
    # Adding a constant per position does not change the distribution.
    # ta + 5.0 rounds each logit (|.| <= 25) in float32; KL is second order in that rounding, plus its own float64
    bound = tol(25.0, torch.float32, SAME_OPS) ** 2 + tol(25.0, torch.float64, REDUCTION)
    assert float(kl(ta, ta + 5.0, data).abs().max()) <= bound


# ---------------------------------------------------------------- loss and logit difference


def test_loss_of_uniform_logits_is_log_vocab():
    data = Dataset.next_token(torch.tensor([[1, 4, 2, 0], [3, 3, 3, 3]]))
    out = loss(torch.zeros(2, 4, 5), data)
    close(out, torch.full((2,), math.log(5), dtype=torch.float64), steps=SAME_OPS)  # float64 ops on exact zeros


def test_loss_literal_and_abs_loss_diff():
    # logits (ln 3, 0): P(token 0) = 3/4, P(token 1) = 1/4.
    logits = torch.tensor([[[math.log(3.0), 0.0]], [[math.log(3.0), 0.0]]])
    data = one_position([0, 1])
    # float32 logits: ln 3 rounded to float32, then float64 operations
    assert loss(logits, data).tolist() == approx([math.log(4 / 3), math.log(4)], steps=SAME_OPS)
    uniform = torch.zeros(2, 1, 2)
    assert abs_loss_diff(uniform, logits, data).tolist() == approx(
        [math.log(2) - math.log(4 / 3), math.log(4) - math.log(2)], steps=SAME_OPS
    )
    assert abs_loss_diff(logits, uniform, data).tolist() == abs_loss_diff(uniform, logits, data).tolist()


def test_loss_ignores_out_of_range_targets_off_mask():
    data = Dataset(torch.zeros(1, 2, dtype=torch.long), torch.tensor([[True, False]]), torch.tensor([[1, -100]]))
    assert loss(torch.zeros(1, 2, 3), data).item() == approx(math.log(3), steps=SAME_OPS, dtype=torch.float64)


def test_target_out_of_vocab_is_error():
    with pytest.raises(TokenOutOfRangeError, match=r"target_tokens at target positions must lie in \[0, 2\)"):
        loss(torch.zeros(1, 1, 2), one_position([7]))


def test_logit_diff_literal():
    logits = torch.tensor([[[1.0, 4.0, -2.0]], [[0.5, 0.0, 3.0]]])
    data = one_position([1, 2], distractors=[0, 1])
    assert logit_diff(logits, data).tolist() == [3.0, 3.0]
    patched = torch.tensor([[[1.0, 1.0, 0.0]], [[0.0, 0.0, 1.0]]])
    assert abs_logit_diff_diff(logits, patched, data).tolist() == [3.0, 2.0]


def test_logit_diff_needs_distractors():
    with pytest.raises(InputError, match="distractor_tokens=None; pass distractor_tokens"):
        logit_diff(torch.zeros(1, 1, 2), one_position([0]))


def test_nonfinite_logits_raise():
    data = one_position([0])
    bad = torch.tensor([[[float("nan"), 0.0]]])
    with pytest.raises(InputError, match="patched_logits contains NaN or infinite"):
        kl(torch.zeros(1, 1, 2), bad, data)
    with pytest.raises(InputError, match="logits contains NaN or infinite"):
        loss(torch.tensor([[[float("-inf"), 0.0]]]), data)


masks = arrays(np.bool_, (3, 4)).filter(lambda m: bool(m.any(1).all()))  # every example has a target


@settings(max_examples=40, deadline=None)
@given(
    ref=arrays(np.float32, (3, 4, 5), elements=st.floats(-20, 20, width=32)),
    new=arrays(np.float32, (3, 4, 5), elements=st.floats(-20, 20, width=32)),
    mask=masks,
    name=st.sampled_from(sorted(DELTAS)),
    seed=st.integers(0, 2**16),
)
def test_target_delta_equals_the_full_logits_functions(ref, new, mask, name, seed):
    # scoring computes built-in deltas from the target rows alone; the numbers must be the same, bit for bit
    g = torch.Generator().manual_seed(seed)
    data = Dataset(
        torch.zeros(3, 4, dtype=torch.long),
        torch.from_numpy(mask),
        torch.randint(0, 5, (3, 4), generator=g),
        torch.randint(0, 5, (3, 4), generator=g),
    )
    ref_t, new_t, m = torch.from_numpy(ref), torch.from_numpy(new), torch.from_numpy(mask)
    metric = TargetDelta(name, ref_t[m], data)
    value, patched_loss = metric.delta_and_loss(new_t[m])
    assert torch.equal(value, DELTAS[name](ref_t, new_t, data))
    assert torch.equal(metric.delta(new_t[m]), value)
    assert torch.equal(patched_loss, loss(new_t, data))


def test_target_delta_refuses_what_the_full_functions_refuse():
    data = one_position([0, 1])
    with pytest.raises(InputError, match="distractor_tokens=None; pass distractor_tokens"):
        TargetDelta("logit_diff", torch.zeros(2, 2), data)
    with pytest.raises(InputError, match="unknown delta 'kll'"):
        TargetDelta("kll", torch.zeros(2, 2), data)
    metric = TargetDelta("kl", torch.zeros(2, 2), data)
    with pytest.raises(InputError, match="patched_logits contains NaN or infinite"):
        metric.delta(torch.tensor([[0.0, float("inf")], [0.0, 0.0]]))
    with pytest.raises(TokenOutOfRangeError):
        TargetDelta("loss", torch.zeros(2, 1), data)  # target 1 in a vocabulary of 1


def test_logits_shape_errors():
    data = one_position([0])
    with pytest.raises(ShapeMismatchError, match=r"\[batch, pos\] = \(2, 1\) but the dataset's tokens are \(1, 1\)"):
        loss(torch.zeros(2, 1, 2), data)
    with pytest.raises(InputError, match=r"float tensor \[batch, pos, vocab\], got torch.float32 of shape \(1, 2\)"):
        loss(torch.zeros(1, 2), data)


# ---------------------------------------------------------------- resolve_delta


def test_resolve_delta_names():
    assert set(DELTAS) == {"kl", "loss", "logit_diff"}
    assert resolve_delta("kl") is kl
    assert resolve_delta("loss") is abs_loss_diff
    assert resolve_delta("logit_diff") is abs_logit_diff_diff
    with pytest.raises(
        InputError, match=r"unknown delta 'kld'; valid names are 'kl', 'loss', 'logit_diff'.*did you mean 'kl'"
    ):
        resolve_delta("kld")
    with pytest.raises(InputError, match="or a callable, got int"):
        resolve_delta(3)  # type: ignore[arg-type]


def test_resolve_delta_checks_callables():
    data = one_position([0, 1])
    ref, new = torch.zeros(2, 1, 2), torch.ones(2, 1, 2)

    def l1(r, p, d):
        return (r - p).abs().sum(-1).mean(-1)

    assert resolve_delta(l1)(ref, new, data).tolist() == [2.0, 2.0]
    with pytest.raises(
        InputError, match=r"delta scalar must return a tensor of shape \[batch\] = \(2,\), got shape \(\)"
    ):
        scalar = resolve_delta(_named("scalar", lambda r, p, d: (r - p).sum()))
        scalar(ref, new, data)
    with pytest.raises(InputError, match="returned NaN or infinite"):
        resolve_delta(lambda r, p, d: torch.full((2,), float("nan")))(ref, new, data)


def _named(name, f):
    f.__name__ = name
    return f


# ---------------------------------------------------------------- Estimate and bootstrap


def test_estimate_str_and_dict():
    e = Estimate(0.1234, 0.101, 0.1449)
    assert str(e) == "0.123 [0.101, 0.145]"
    assert e.to_dict() == {"value": 0.1234, "low": 0.101, "high": 0.1449, "level": 0.95}
    assert Estimate.from_dict(e.to_dict()) == e
    assert str(Estimate(1.5e-5, 0.0, 2e-5)) == "1.5e-05 [0.000, 2e-05]"


def test_bootstrap_contains_point_and_narrows_with_more_examples():
    rng = np.random.default_rng(1)
    small, big = rng.normal(1.0, 1.0, 20), rng.normal(1.0, 1.0, 2000)
    e_small = bootstrap(np.mean, small, n_boot=500)
    e_big = bootstrap(np.mean, big, n_boot=500)
    for e, a in [(e_small, small), (e_big, big)]:
        assert e.value == approx(a.mean(), steps=REDUCTION, dtype=np.float64)
        assert e.low <= e.value <= e.high
    assert (e_big.high - e_big.low) < (e_small.high - e_small.low) / 5


def test_bootstrap_vectorised_equals_loop_and_is_seeded():
    a = np.arange(10.0)
    b = np.arange(10.0) ** 2

    def stat(x, y):
        return x.mean(axis=-1) - y.mean(axis=-1)

    loop = bootstrap(stat, a, b, n_boot=200, seed=7)
    vec = bootstrap(stat, a, b, n_boot=200, seed=7, vectorised=True)
    assert loop == vec
    # Chunking the resamples (to bound memory) does not change the draws.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("pathpatch.estimates._BOOT_CHUNK", 35)  # 3 resamples of 10 per chunk
        assert bootstrap(stat, a, b, n_boot=200, seed=7, vectorised=True) == vec
    assert bootstrap(stat, a, b, n_boot=200, seed=8) != loop


def test_bootstrap_is_paired():
    # With identical arrays, a paired resample gives a difference of exactly 0 every time.
    a = np.random.default_rng(0).normal(size=50)
    e = bootstrap(lambda x, y: x.mean(-1) - y.mean(-1), a, a.copy(), vectorised=True)
    assert (e.value, e.low, e.high) == (0.0, 0.0, 0.0)


def test_bootstrap_constant_data_and_errors():
    e = bootstrap(np.mean, np.full(5, 2.0), n_boot=50)
    assert (e.value, e.low, e.high) == (2.0, 2.0, 2.0)
    with pytest.raises(ShapeMismatchError, match="lengths"):
        bootstrap(lambda x, y: 0.0, np.ones(3), np.ones(4))
    with pytest.raises(EmptyDatasetError, match="empty"):
        bootstrap(np.mean, np.ones(0))
    with pytest.raises(InputError, match="level must lie strictly between 0 and 1"):
        bootstrap(np.mean, np.ones(3), level=95)
    with pytest.raises(InputError, match=r"vectorised stat must return one value per resample, shape \(10,\)"):
        bootstrap(np.mean, np.ones(3), n_boot=10, vectorised=True)


# ---------------------------------------------------------------- summaries


def test_summary_literals():
    h, empty = np.array([1.0, 2.0, 3.0]), np.array([4.0, 4.0, 4.0])
    assert aue(h) == 2.0
    assert ate(empty) == 4.0
    assert proportion_explained(h, empty) == 0.5
    assert loss_recovered(np.array([3.0, 3.0]), np.array([1.0, 3.0]), np.array([4.0, 4.0])) == 0.5
    assert proportion_explained(np.zeros(3), empty) == 1.0  # H explains everything
    assert proportion_explained(empty, empty) == 0.0  # H = empty set explains nothing


def test_zero_denominators_raise():
    with pytest.raises(InputError, match="x_ref and x_new give identical outputs; proportion explained is undefined"):
        proportion_explained(np.ones(2), np.zeros(2))
    with pytest.raises(InputError, match="equals the clean loss; loss recovered is undefined"):
        loss_recovered(np.ones(2), np.ones(2), np.ones(2))


def test_summarise_keys_values_and_intervals():
    per = {
        "delta_h": [1.0, 2.0, 3.0, 2.0],
        "delta_empty": [4.0, 4.0, 3.0, 5.0],
        "loss_h": [2.5, 2.5, 2.5, 2.5],
        "loss_clean": [2.0] * 4,
        "loss_new": [3.0] * 4,
    }
    out = summarise(per, n_boot=300, seed=0)
    assert set(out) == {"aue", "ate", "proportion_explained", "loss_recovered"}
    assert out["aue"].value == 2.0 and out["ate"].value == 4.0
    assert out["proportion_explained"].value == 0.5
    assert out["loss_recovered"].value == 0.5
    for e in out.values():
        assert e.low <= e.value <= e.high and e.level == 0.95
    assert "loss_recovered" not in summarise({"delta_h": [1.0, 2.0], "delta_empty": [2.0, 2.0]}, n_boot=10)


def test_summarise_accepts_torch_and_drops_zero_denominator_resamples():
    # delta_empty = (0, 1): a quarter of resamples draw only example 0 (ATE 0) and are dropped.
    out = summarise({"delta_h": torch.tensor([0.0, 0.5]), "delta_empty": torch.tensor([0.0, 1.0])}, n_boot=400)
    pe = out["proportion_explained"]
    assert pe.value == 0.5
    assert math.isfinite(pe.low) and math.isfinite(pe.high) and pe.low <= 0.5 <= pe.high


def test_summarise_errors():
    with pytest.raises(InputError, match=r"missing \['delta_empty'\], unknown \['aue'\]"):
        summarise({"delta_h": [1.0], "aue": [1.0]})
    with pytest.raises(InputError, match="loss recovered needs all of .* got only \\['loss_h'\\]"):
        summarise({"delta_h": [1.0], "delta_empty": [1.0], "loss_h": [1.0]})
    with pytest.raises(InputError, match="identical outputs"):
        summarise({"delta_h": [1.0, 2.0], "delta_empty": [0.0, 0.0]})
    with pytest.raises(InputError, match="delta_h contains NaN"):
        summarise({"delta_h": [float("nan")], "delta_empty": [1.0]})


def test_targets_only_marks_a_callable_delta_and_built_ins_read_only_targets() -> None:
    from pathpatch.metrics import reads_targets_only, targets_only

    def delta(ref: torch.Tensor, patched: torch.Tensor, data: object) -> torch.Tensor:
        return (ref - patched).sum((1, 2))

    assert not reads_targets_only(delta)
    assert targets_only(delta) is delta
    assert reads_targets_only(delta)
    assert reads_targets_only("kl") and reads_targets_only("loss")
