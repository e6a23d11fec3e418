"""Memory-safe by default: every entry point chunks to a budget, and chunking changes nothing."""

from __future__ import annotations

import pytest
import torch

import pathpatch as pp
from conftest import tiny_model
from pathpatch.engine import budget
from pathpatch.engine.api import Engine, equal_inputs
from pathpatch.engine.budget import AUTO_SHARE, chunk_work, example_bytes, free_memory, resolve_budget
from tolerance import REDUCTION, close

pytestmark = pytest.mark.numeric


def _data(model, batch: int = 6, length: int = 5):  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(0)
    v = model.config.d_vocab
    return torch.randint(0, v, (batch, length), generator=g), torch.randint(0, v, (batch, length), generator=g)


def test_the_default_budget_is_a_share_of_free_memory() -> None:
    free = free_memory("cpu")
    assert free > 0
    got = resolve_budget(None, "cpu")
    assert abs(got - AUTO_SHARE * free) <= 0.05 * free  # free memory moves a little between the calls
    assert resolve_budget("auto") == pytest.approx(got, rel=0.05)
    assert resolve_budget("1MB") == 1 << 20


@pytest.mark.parametrize("ablation", ["resample", "mean"])
def test_a_chunked_evaluate_many_equals_the_unchunked_one(ablation: str) -> None:
    model = tiny_model("shortformer", None, seed=1)
    ref, new = _data(model)
    hyps = [pp.paths(p.name) for p in list(model.graph.iter_paths())[:12]] + [~pp.through("a1.0"), pp.all_paths()]
    whole = pp.evaluate_many(model, hyps, ref, new, ablation)  # type: ignore[arg-type]
    engine = Engine(model, hyps)
    per_example = example_bytes(model, engine, ref.shape[1], None, both=equal_inputs(model, ablation))  # type: ignore[arg-type]
    out = len(hyps) * ref.numel() * model.config.d_vocab * 4
    # room for the output and about one example of one group: forces groups of hypotheses and batches of 1
    small = out + per_example // 3
    chunks = chunk_work(
        model, Engine(model, hyps), ref.shape[1], None, small - out, ref.shape[0], None, equal_inputs(model, ablation)
    )
    assert len(chunks) > 1 and max(c.batch_size for c in chunks) < ref.shape[0]  # really chunked
    chunked = Engine(model, hyps).run(ref, new, ablation, max_memory=small)  # type: ignore[arg-type]
    close(chunked, whole, steps=REDUCTION)
    single = pp.evaluate(model, hyps[-2], ref, new, ablation, max_memory=small)  # type: ignore[arg-type]
    close(single, whole[-2], steps=REDUCTION)


def test_a_cpu_pass_is_kept_small_by_fewer_examples_never_by_splitting_hypotheses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = tiny_model("shortformer", None, seed=1)
    ref, new = _data(model)
    hyps = [pp.paths(p.name) for p in list(model.graph.iter_paths())[:12]] + [pp.all_paths()]
    engine = Engine(model, hyps)
    both = equal_inputs(model, "resample")
    need = example_bytes(model, engine, ref.shape[1], None, both=both)
    roomy = 100 * need  # the budget alone would take the whole batch in one pass
    assert chunk_work(model, engine, ref.shape[1], None, roomy, ref.shape[0], None, both)[0].batch_size == 6
    monkeypatch.setattr(budget, "CPU_PASS_BYTES", 2 * need + 1)
    chunks = chunk_work(model, engine, ref.shape[1], None, roomy, ref.shape[0], None, both)
    assert [(len(c.indices), c.batch_size) for c in chunks] == [(len(hyps), 2)]
    monkeypatch.setattr(budget, "CPU_PASS_BYTES", need // 2)  # below one example: one at a time, still one group
    chunks = chunk_work(model, engine, ref.shape[1], None, roomy, ref.shape[0], None, both)
    assert [(len(c.indices), c.batch_size) for c in chunks] == [(len(hyps), 1)]
    whole = torch.stack(engine.run_batch(ref, new).logits)
    close(Engine(model, hyps).run(ref, new, max_memory=roomy * 10), whole, steps=REDUCTION)


def test_output_larger_than_the_budget_is_refused_before_any_work() -> None:
    model = tiny_model("absolute", 12, seed=2)
    ref, new = _data(model)
    with pytest.raises(pp.InputError, match="the patched logits alone .* take .* bytes, over the memory budget"):
        pp.evaluate_many(model, [pp.all_paths(), pp.no_paths()], ref, new, max_memory=1000)


def test_positions_are_sliced_with_their_examples() -> None:
    model = tiny_model("absolute", 12, seed=3)
    ref, new = _data(model)
    ends = torch.tensor([1, 2, 3, 4, 1, 2])
    hyp = pp.through("a1.0@END") | pp.paths("embed -> out")
    whole = pp.evaluate(model, hyp, ref, new, positions={"END": ends})
    engine = Engine(model, [hyp])
    per_example = example_bytes(model, engine, ref.shape[1], None, {"END": 1}, equal_inputs(model, "resample"))
    small = ref.numel() * model.config.d_vocab * 4 + 2 * per_example
    chunked = pp.evaluate(model, hyp, ref, new, positions={"END": ends}, max_memory=small)
    close(chunked, whole, steps=REDUCTION)


def test_a_positional_estimate_counts_the_cached_runs_too() -> None:
    model = tiny_model("absolute", 12, seed=4)
    names = {"END": 2}
    positional = example_bytes(model, Engine(model, [pp.through("a1.0@END")]), 5, None, names)
    nothing_mixed = example_bytes(model, Engine(model, [pp.all_paths()]), 5, None, names)  # the two runs and more
    assert positional > nothing_mixed > 0


def test_hypotheses_that_equal_a_run_share_its_rows() -> None:
    # 416 of the shipped model's 1,041 single paths equal the ablated run; each used to get its own copy of
    # that run's logits at the target rows, which took scoring them past its memory budget
    model = tiny_model("shortformer", None, seed=5)
    ref, new = _data(model)
    targets = torch.zeros_like(ref, dtype=torch.bool)
    targets[:, -2:] = True
    hyps = [pp.no_paths(), pp.no_paths(), pp.all_paths(), pp.all_paths(), pp.through("a1.0")]
    engine = Engine(model, hyps)
    run = engine.run_batch(ref, new, targets=targets)
    clean, ablated, rows = run.clean, run.ablated, run.logits
    assert rows[0].data_ptr() == rows[1].data_ptr() and rows[2].data_ptr() == rows[3].data_ptr()
    torch.testing.assert_close(rows[0], ablated.logits[targets], atol=0, rtol=0)
    torch.testing.assert_close(rows[2], clean.logits[targets], atol=0, rtol=0)
    assert rows[4].data_ptr() not in (rows[0].data_ptr(), rows[2].data_ptr())


def test_a_subset_engine_reuses_the_plans_and_equals_planning_alone() -> None:
    # budgets split work with Engine.subset: the parent's plans restricted to some hypotheses, no walk again
    model = tiny_model("shortformer", 12, seed=6)
    ref, new = _data(model)
    ends = torch.tensor([1, 2, 3, 4, 1, 2])
    hyps = [pp.paths(p.name) for p in list(model.graph.iter_paths())[:10]] + [
        ~pp.through("a1.0"),
        pp.all_paths(),
        pp.no_paths(),
        pp.through("a1.0@END") | pp.paths("embed -> out"),
        pp.through("a0.1@1"),
    ]
    whole = Engine(model, hyps)
    logits = whole.run(ref, new, positions={"END": ends})
    for picked in ([3, 0, 11, 13], [10, 14], [12], list(range(len(hyps)))):
        sub = whole.subset(picked)
        alone = Engine(model, [hyps[i] for i in picked])
        got, want = sub.run(ref, new, positions={"END": ends}), alone.run(ref, new, positions={"END": ends})
        close(got, want, steps=REDUCTION)
        close(got, logits[picked], steps=REDUCTION)
        assert sub._plans.keys() == whole._plans.keys() and sub._pos_plans.keys() == whole._pos_plans.keys()
        assert all(p.walked == 0 for p in [*sub._plans.values(), *sub._pos_plans.values()])  # nothing planned anew
        # the restricted plans hold the copies planning alone finds (interned by content), nothing more
        for mine, theirs in ((sub._plans, alone._plans), (sub._pos_plans, alone._pos_plans)):
            for key, plan in theirs.items():
                assert sorted((c.node.name, c.t) for c in mine[key].copies) == sorted(
                    (c.node.name, c.t) for c in plan.copies
                )
                assert len(mine[key].rows) <= len(plan.rows)  # planning keeps rows of copies found cached, too
