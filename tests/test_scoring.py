"""Tests of pathpatch.scoring: ``score`` and ``per_example`` end to end on a tiny model.

Invariants of DESIGN §1: H = all paths leaves nothing unexplained (AUE 0, proportion explained 1);
H = ∅ is the ablated run (AUE = ATE, proportion explained 0), for every δ and ablation kind.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pathpatch as pp
from conftest import tiny_model
from pathpatch.errors import InputError
from tolerance import REDUCTION, approx, close

pytestmark = pytest.mark.numeric

N, LENGTH, VOCAB = 12, 5, 11
N_BOOT = 50


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    return tiny_model("shortformer", 12, seed=1)


def _tokens(n: int = N, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (n, LENGTH), generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def pairs() -> pp.Pairs:
    return pp.pair_derangement(pp.Dataset.next_token(_tokens()), seed=0)


@pytest.fixture(scope="module")
def pairs_with_distractors() -> pp.Pairs:
    base = pp.Dataset.next_token(_tokens(seed=1))
    data = pp.Dataset(
        base.tokens, base.target_mask, base.target_tokens, distractor_tokens=(base.target_tokens + 1) % VOCAB
    )
    return pp.pair_derangement(data, seed=1)


def _hyps() -> dict[str, pp.Hypothesis]:
    return {
        "all": pp.all_paths(),
        "none": pp.no_paths(),
        "direct": pp.paths("embed -> out"),
        "not a1": ~pp.through("a1.*"),
    }


def _score(model, pairs, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("n_boot", N_BOOT)
    return pp.score(model, _hyps(), pairs, progress=False, **kw)


def _check_invariants(report: pp.Report, loss: bool = True) -> None:
    ate = report["all"].metrics["ate"].value
    assert ate > 1e-3, "x_ref and x_new must differ for the test to mean anything"
    close(report["all"].metrics["aue"].value, 0.0, steps=REDUCTION)
    assert report["all"].metrics["proportion_explained"].value == approx(1.0, steps=REDUCTION)
    assert report["none"].metrics["aue"].value == approx(ate, steps=REDUCTION)
    assert report["none"].metrics["proportion_explained"].value == approx(0.0, steps=REDUCTION)
    for s in report:
        assert s.metrics["ate"].value == approx(ate, steps=REDUCTION, dtype=torch.float64)  # the same float64 mean
        for name, est in s.metrics.items():
            assert np.isfinite([est.value, est.low, est.high]).all(), (s.name, name)
            assert est.low <= est.high, (s.name, name)
    if loss:
        assert report["all"].metrics["loss_recovered"].value == approx(1.0, steps=REDUCTION)
        assert report["none"].metrics["loss_recovered"].value == approx(0.0, steps=REDUCTION)


def test_score_kl_invariants_and_path_counts(model, pairs) -> None:  # type: ignore[no-untyped-def]
    report = _score(model, pairs)
    _check_invariants(report)
    assert report.names == list(_hyps())
    total = model.graph.count_paths()
    through_a1 = pp.through("a1.*").count(model)
    assert 0 < through_a1 < total
    assert [s.n_paths for s in report] == [total, 0, 1, total - through_a1]
    assert report.meta["delta"] == "kl" and report.meta["ablation"] == "resample"
    assert report.meta["examples"] == N
    # every AUE and proportion explained by hand: KL of the clean logits to pp.evaluate's logits
    ref, new, mask = pairs.ref.tokens, pairs.new_tokens, pairs.ref.target_mask
    clean = model(ref)
    ate = _kl(clean, model(new), mask).mean()
    assert report["none"].metrics["ate"].value == approx(ate, steps=REDUCTION)
    for name, hyp in _hyps().items():
        aue = _kl(clean, pp.evaluate(model, hyp, ref, new), mask).mean()
        assert report[name].metrics["aue"].value == approx(aue, steps=REDUCTION), name
        assert report[name].metrics["proportion_explained"].value == approx(1 - aue / ate, steps=REDUCTION), name
    assert 0.01 < report["not a1"].metrics["proportion_explained"].value < 0.99  # a case in between


@pytest.mark.parametrize("delta", ["loss", "logit_diff"])
def test_score_named_deltas(model, pairs_with_distractors, delta) -> None:  # type: ignore[no-untyped-def]
    report = _score(model, pairs_with_distractors, delta=delta)
    _check_invariants(report)
    assert report.meta["delta"] == delta


def test_logit_diff_without_distractors_is_an_input_error(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="distractor_tokens"):
        _score(model, pairs, delta="logit_diff")


def test_score_user_callable_delta(model, pairs) -> None:  # type: ignore[no-untyped-def]
    def sq_logits(ref, patched, data):  # type: ignore[no-untyped-def]
        return ((ref - patched) ** 2).mean(dim=(1, 2)).double()

    report = _score(model, pairs, delta=sq_logits)
    _check_invariants(report)
    assert report.meta["delta"] == "sq_logits"
    # by hand: ATE = mean over examples of the squared logit difference of the clean runs
    want = ((model(pairs.ref.tokens) - model(pairs.new_tokens)) ** 2).mean(dim=(1, 2)).double().mean()
    assert report["none"].metrics["ate"].value == approx(float(want), steps=REDUCTION)


@pytest.mark.parametrize("delta", ["kl", "loss", "logit_diff"])
def test_built_in_deltas_equal_the_same_callables(model, pairs_with_distractors, delta) -> None:  # type: ignore[no-untyped-def]
    # built-in deltas are computed from the target rows alone; as callables the same functions see the whole
    # logits (or, with reads_targets_only, the target rows written into the clean logits): the same numbers
    hyps = {**_hyps(), "one path": pp.paths("embed -> a1.*.v -> out"), "pos": pp.paths("pos -> a0.0.q -> m1 -> out")}
    built_in = pp.per_example(model, hyps, pairs_with_distractors, delta, progress=False)
    function = pp.metrics.DELTAS[delta]

    def full(ref, patched, data):  # type: ignore[no-untyped-def]
        return function(ref, patched, data)

    def rows(ref, patched, data):  # type: ignore[no-untyped-def]
        return function(ref, patched, data)

    rows.reads_targets_only = True  # type: ignore[attr-defined]
    # the same target rows: equal to float64 rounding; every position: the engine's float32 sums run another way
    for callable_delta, dtype in ((rows, torch.float64), (full, torch.float32)):
        got = pp.per_example(model, hyps, pairs_with_distractors, callable_delta, progress=False)
        for name in hyps:
            for key, value in built_in[name].items():
                close(got[name][key], value, steps=REDUCTION, dtype=dtype, msg=f"{name} {key}")
    assert built_in["one path"]["delta_h"].max() > 1e-4  # a hypothesis that differs from both runs


def test_unknown_delta_is_an_input_error(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="unknown delta 'kll'.*did you mean 'kl'"):
        _score(model, pairs, delta="kll")


@pytest.mark.parametrize("ablation", ["mean", "zero"])
def test_score_mean_and_zero_ablation(model, pairs, ablation) -> None:  # type: ignore[no-untyped-def]
    report = _score(model, pairs, ablation=ablation)
    _check_invariants(report)
    assert report.meta["ablation"] == ablation


def test_zero_ablation_ate_by_hand(model, pairs) -> None:  # type: ignore[no-untyped-def]
    """With every node zeroed, out reads only the constant biases: logits = unembed(Σ b_O)."""
    values = pp.per_example(model, {"none": pp.no_paths()}, pairs, ablation="zero", progress=False)["none"]
    resid = model.b_O.sum(0).expand(N, LENGTH, -1)
    ablated = model.unembed(resid)
    clean = model(pairs.ref.tokens)
    want = _kl(clean, ablated, pairs.ref.target_mask)
    close(values["delta_empty"], want, steps=REDUCTION)
    close(values["delta_h"], want, steps=REDUCTION)


def _kl(ref_logits: torch.Tensor, patched_logits: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    log_p = ref_logits.double().log_softmax(-1)
    log_q = patched_logits.double().log_softmax(-1)
    per_pos = (log_p.exp() * (log_p - log_q)).sum(-1)
    return ((per_pos * mask).sum(1) / mask.sum(1)).numpy()


def test_per_example_kl_by_hand(model, pairs) -> None:  # type: ignore[no-untyped-def]
    h = pp.paths(["embed -> a1.*.v -> out", "pos -> a0.0.q -> m1 -> out"])
    values = pp.per_example(model, {"h": h}, pairs, progress=False)["h"]
    ref, new, mask = pairs.ref.tokens, pairs.new_tokens, pairs.ref.target_mask
    clean = model(ref)
    patched = pp.evaluate(model, h, ref, new)
    assert set(values) == {"delta_h", "delta_empty", "loss_h", "loss_clean", "loss_new"}
    assert values["delta_h"].shape == (N,)
    close(values["delta_h"], _kl(clean, patched, mask), steps=REDUCTION)
    close(values["delta_empty"], _kl(clean, model(new), mask), steps=REDUCTION)
    assert values["delta_h"].max() > 1e-4, "the hypothesis must leave something unexplained"
    # losses by hand: cross-entropy of the next token, averaged over target positions
    targets = pairs.ref.target_tokens

    def ce(logits: torch.Tensor) -> np.ndarray:
        nll = -logits.double().log_softmax(-1).gather(-1, targets[..., None])[..., 0]
        return ((nll * mask).sum(1) / mask.sum(1)).numpy()

    close(values["loss_h"], ce(patched), steps=REDUCTION)
    close(values["loss_clean"], ce(clean), steps=REDUCTION)
    close(values["loss_new"], ce(model(new)), steps=REDUCTION)


def test_report_round_trips_and_renders(model, pairs) -> None:  # type: ignore[no-untyped-def]
    report = _score(model, pairs)
    again = pp.Report.from_json(report.to_json())
    assert again == report
    text = str(report)
    for name in _hyps():
        assert name in text
    assert "proportion explained" in text and "ATE =" in text


def test_batch_size_does_not_change_the_result(model, pairs) -> None:  # type: ignore[no-untyped-def]
    small = pp.per_example(model, _hyps(), pairs, batch_size=5, progress=False)
    big = pp.per_example(model, _hyps(), pairs, batch_size=N, progress=False)
    for name in _hyps():
        for key, value in big[name].items():
            close(small[name][key], value, steps=REDUCTION, msg=f"{name} {key}")
    a, b = _score(model, pairs, batch_size=5), _score(model, pairs, batch_size=N)
    for sa, sb in zip(a, b):
        for key, est in sb.metrics.items():
            got = sa.metrics[key]
            # A metric is a ratio r = a / b of loss differences (a, b each rounded by about
            # REDUCTION float32 steps of the losses, magnitude ~1): its error is (1 + |r|) * delta / |b|
            # with |b| ~ 1 / |r|, so the rounding scales with |r| * (1 + |r|), not |r| (a bootstrap bound
            # of -18 comes from a resample whose denominator is small).
            r = max(abs(v) for v in (got.value, got.low, got.high, est.value, est.low, est.high))
            scale = max(r, 1.0) * (1.0 + r)
            close((got.value, got.low, got.high), (est.value, est.low, est.high), steps=REDUCTION, scale=scale, msg=key)


def test_batch_size_with_mean_ablation(model, pairs) -> None:  # type: ignore[no-untyped-def]
    """The means are over the whole dataset, not per batch."""
    small = pp.per_example(model, _hyps(), pairs, ablation="mean", batch_size=5, progress=False)
    big = pp.per_example(model, _hyps(), pairs, ablation="mean", batch_size=N, progress=False)
    for name in _hyps():
        for key, value in big[name].items():
            close(small[name][key], value, steps=REDUCTION, msg=f"{name} {key}")


def test_pair_from_pool(model) -> None:  # type: ignore[no-untyped-def]
    data = pp.Dataset.next_token(_tokens(seed=2))
    pool = _tokens(n=7, seed=3)
    pairs = pp.pair_from_pool(data, pool, seed=4)
    assert pairs.new_index is not None and torch.equal(pairs.new_tokens, pool[pairs.new_index])
    report = _score(model, pairs)
    _check_invariants(report)
    values = pp.per_example(model, {"none": pp.no_paths()}, pairs, progress=False)["none"]
    close(values["delta_empty"], _kl(model(data.tokens), model(pairs.new_tokens), data.target_mask), steps=REDUCTION)


def test_a_list_of_hypotheses_is_named_by_str(model, pairs) -> None:  # type: ignore[no-untyped-def]
    hs = [pp.all_paths(), pp.paths("embed -> out")]
    report = pp.score(model, hs, pairs, n_boot=N_BOOT, progress=False)
    assert report.names == [str(h) for h in hs]


def test_bad_hypothesis_collections(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="no hypotheses to score"):
        pp.score(model, {}, pairs, progress=False)
    with pytest.raises(InputError, match="no hypotheses to score"):
        pp.score(model, [], pairs, progress=False)
    with pytest.raises(InputError, match="same name"):
        pp.score(model, [pp.paths("embed -> out"), pp.paths("embed -> out")], pairs, progress=False)
    with pytest.raises(InputError, match="same name"):
        pp.per_example(model, [pp.all_paths(), pp.all_paths()], pairs, progress=False)


def test_identical_pairs_have_undefined_proportion(model) -> None:  # type: ignore[no-untyped-def]
    data = pp.Dataset.next_token(_tokens(n=4))
    same = pp.Pairs(ref=data, new_tokens=data.tokens)
    with pytest.raises(InputError, match="average total effect"):
        pp.score(model, {"all": pp.all_paths()}, same, n_boot=N_BOOT, progress=False)


def test_bad_ablation_and_batch_size(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="ablation must be 'resample', 'mean' or 'zero', got 'random'"):
        pp.score(model, _hyps(), pairs, ablation="random", progress=False)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="batch_size must be a positive int, got 0"):
        pp.score(model, _hyps(), pairs, batch_size=0, progress=False)


class _Elsewhere:
    """A shard backend that does what a worker does, in this process: the job crosses by pickle,
    is planned again from it, and the units are computed last first."""

    name = "elsewhere"

    def __init__(self) -> None:
        self.calls = 0

    def map_units(self, job, units, done):  # type: ignore[no-untyped-def]
        import pickle

        from pathpatch.batches import plan_values, unit_values

        self.calls += 1
        copy = pickle.loads(pickle.dumps(job))
        plan = plan_values(copy.model, copy.named, copy.pairs, copy.options, copy.means)
        values = {i: unit_values(plan, units[i]) for i in reversed(range(len(units)))}
        done(len(units))
        return [values[i] for i in range(len(units))]


@pytest.mark.parametrize("ablation", ["resample", "mean"])
def test_a_pass_computed_elsewhere_gives_the_same_numbers(model, pairs, ablation) -> None:  # type: ignore[no-untyped-def]
    # a budget of about one example: several chunks of hypotheses and several batches each
    kw = dict(ablation=ablation, batch_size=5, max_memory=9_500, progress=False)
    here = pp.per_example(model, _hyps(), pairs, **kw)
    from pathpatch.batches import plan_values
    from pathpatch.options import Options

    plan = plan_values(model, _hyps(), pairs, Options(ablation=ablation, batch_size=5, max_memory=9_500))
    assert len(plan.chunks) > 1 and len(plan.units) > 2 * len(plan.chunks)  # the test exercises the gathering
    backend = _Elsewhere()
    there = pp.per_example(model, _hyps(), pairs, backend=backend, **kw)
    assert backend.calls == 1 and there.keys() == here.keys()
    for name in here:
        assert here[name].keys() == there[name].keys()
        for key in here[name]:
            assert np.array_equal(here[name][key], there[name][key]), (name, key)
    report = _score(model, pairs, ablation=ablation, backend=_Elsewhere())
    assert report.to_dict() == _score(model, pairs, ablation=ablation).to_dict()


def test_a_backend_that_is_not_one_is_refused(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pp.ArgumentError, match=r"RayBackend\(workers=2\)"):
        _score(model, pairs, backend="ray")
    with pytest.raises(TypeError, match="map_units"):
        _score(model, pairs, backend=object())
    assert _score(model, pairs, backend="local").to_dict() == _score(model, pairs).to_dict()
