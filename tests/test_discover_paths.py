"""discover_paths (discovery/paths.py): path-level circuit search, and the cached scorer it runs on."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import torch

import pathpatch as pp
from pathpatch.discovery import Circuit, roc_auc
from pathpatch.discovery import paths as paths_module
from pathpatch.discovery.cached import CachedScorer
from pathpatch.discovery.paths import discover_paths
from pathpatch.discovery.planted import PLANTED, planted
from pathpatch.engine.api import Engine
from pathpatch.errors import ArgumentError, InputError
from pathpatch.options import Options
from tolerance import REDUCTION, close, tol

pytestmark = pytest.mark.numeric

QUICK = dict(progress=False, n_boot=100)


@cache
def setup(d_mlp: int | None = None, init_std: float = 0.3, seed: int = 0) -> tuple[pp.ResidualModel, pp.Pairs]:
    model = pp.native_model(
        pp.NativeConfig(
            n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8, d_mlp=d_mlp, init_std=init_std, seed=seed
        )
    )
    tokens = torch.randint(0, 20, (24, 8), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(tokens, dtype=torch.bool)
    mask[:, -1] = False
    data = pp.Dataset(
        tokens=tokens,
        target_mask=mask,
        target_tokens=tokens.roll(-1, 1),
        distractor_tokens=(tokens.roll(-1, 1) + 1) % 20,
    )
    return model, pp.pair_derangement(data, seed=seed)


def edges_on(hyp: pp.Hypothesis, model: pp.ResidualModel) -> set:  # type: ignore[type-arg]
    return {e for path in hyp.iter(model) for e in path.edges}


def check_honest(circuit: Circuit, model: pp.ResidualModel) -> None:
    """Patterns re-parse; the count, the edges (in graph order) and the score describe their union."""
    hyp = pp.paths(circuit.patterns)
    assert hyp.count(model) == circuit.found_by["paths"]
    if circuit.score is not None:
        assert circuit.score.n_paths == circuit.found_by["paths"] and circuit.score.name == "paths"
    assert set(circuit.edges) == edges_on(hyp, model)
    assert list(circuit.edges) == [e for e in model.graph.edges if e in set(circuit.edges)]
    assert len(circuit.found_by["importance"]) == len(circuit.patterns)


@pytest.mark.parametrize(
    "d_mlp, delta, ablation",
    [(None, "kl", "resample"), (16, "kl", "resample"), (None, "loss", "mean"), (None, "logit_diff", "zero")],
)
def test_reaches_target_compactly_and_honestly(d_mlp: int | None, delta: str, ablation: str) -> None:
    model, pairs = setup(d_mlp)
    c = discover_paths(model, pairs, target=0.9, delta=delta, ablation=ablation, **QUICK)
    assert c.found_by["target_reached"] and c.found_by["proportion_explained"] >= 0.9
    # the search measured what score says (a proportion: a ratio of float32 results, on the scale of 1)
    close(c.metric(), c.found_by["proportion_explained"], steps=REDUCTION)
    assert c.found_by["paths"] < model.graph.count_paths()
    assert not any("..." in p for p in c.patterns)  # split to the end: complete paths only
    check_honest(c, model)
    starts = {p.split(" -> ")[0] for p in c.patterns}
    assert starts <= ({"embed"} if ablation == "resample" else {"embed", "pos"})  # pos is equal in both runs
    assert (c.found_by["algorithm"], c.found_by["delta"], c.found_by["ablation"]) == ("paths", delta, ablation)


def test_the_fit_leaves_nothing_to_trim() -> None:
    """Ended by a fit round that found nothing to remove: without its least important pattern per
    path (importances measured in the final set), the set falls below the target."""
    model, pairs = setup(d_mlp=16)
    c = discover_paths(model, pairs, target=0.9, max_steps=40, **QUICK)
    assert c.found_by["steps"] < 40
    hyp = pp.paths(c.patterns)
    per_path = [imp / pp.paths(p).count(model) for imp, p in zip(c.found_by["importance"], c.patterns)]
    least = per_path.index(min(per_path))
    rest = pp.paths([p for i, p in enumerate(c.patterns) if i != least])
    pe = pp.score(model, {"all": hyp, "rest": rest}, pairs, n_boot=100, progress=False)
    assert pe["all"].metrics["proportion_explained"].value >= 0.9 > pe["rest"].metrics["proportion_explained"].value


def test_refine_spends_half_the_slack_and_fit_repairs() -> None:
    """A refine step drops new items only within half of PE - target; a fit round below the target
    adds dropped items back until it is reached."""
    model, pairs = setup(d_mlp=16)
    space, scorer = paths_module._Space(model, "resample"), CachedScorer(model, pairs)
    search = paths_module._Search(space, scorer, target=0.9, min_gain=1.0, width=256)
    spent = []
    for _ in range(4):
        before = set(search.dropped)
        assert search.refine()
        spent.append(sum(max(search.importance[i], 0.0) for i in search.dropped if i not in before))
        # search.pe: the state before the drops; the slack: float64 sums of terms at most 1
        assert spent[-1] <= max(search.pe - 0.9, 0.0) / 2 + tol(1.0, torch.float64, REDUCTION)
    assert max(spent) > 0
    search.dropped += search.items[1:]
    search.items, pool = search.items[:1], list(search.dropped)
    assert search.fit() and search.pe >= 0.9 and scorer.passes == 6
    added = search.items[1:]  # the most important per path first, as few as reach the target
    ranked = sorted(pool, key=lambda i: -search.importance[i] / space.count(i))
    assert added == ranked[: len(added)] and 0 < len(added) < len(pool)


def test_stops_cleanly_on_a_model_with_nothing_to_find() -> None:
    """Default init: embed -> out alone carries the output; the search says so and stops."""
    model, pairs = setup(init_std=0.02)
    c = discover_paths(model, pairs, target=0.99, **QUICK)
    assert c.patterns == ("embed -> out",) and c.metric() >= 0.99
    assert c.found_by["steps"] < c.found_by["max_steps"]
    check_honest(c, model)


def test_target_out_of_reach_stops_at_max_steps_with_the_best_found() -> None:
    model, pairs = setup()
    c = discover_paths(model, pairs, target=1.0, max_steps=4, **QUICK)
    assert c.found_by["steps"] <= 4 and c.found_by["target_reached"] == (c.found_by["proportion_explained"] >= 1.0)
    check_honest(c, model)


def test_open_suffixes_are_counted_in_full() -> None:
    """With one refine step only, open suffixes stay; under resampling they are anchored at embed."""
    model, pairs = setup(d_mlp=16)
    for ablation, anchor in (("resample", "embed -> ... -> "), ("mean", "")):
        c = discover_paths(model, pairs, target=0.9, ablation=ablation, max_steps=3, **QUICK)
        assert c.found_by["steps"] == 3
        opened = [p for p in c.patterns if p.split(" -> ")[0] not in ("embed", "pos") or "..." in p]
        assert opened and all(p.startswith(anchor) for p in opened)
        check_honest(c, model)
        close(c.metric(), c.found_by["proportion_explained"], steps=REDUCTION)


def test_rescores_to_the_same_numbers() -> None:
    model, pairs = setup()
    c = discover_paths(model, pairs, target=0.95, delta="loss", **QUICK)
    again = pp.score(model, {"paths": pp.paths(c.patterns)}, pairs, delta="loss", n_boot=100, progress=False)
    assert again["paths"] == c.score
    assert pp.paths(c.patterns).count(model) == c.hypothesis.count(model) == again["paths"].n_paths


def test_each_step_is_one_engine_call(monkeypatch: pytest.MonkeyPatch) -> None:
    model, pairs = setup(d_mlp=16)
    calls: list[int] = []
    run = Engine.run_caches

    def counted(self, *args, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(self.hypotheses))
        return run(self, *args, **kw)

    monkeypatch.setattr(Engine, "run_caches", counted)
    for kw in (dict(), dict(max_candidates=3), dict(max_steps=5)):
        calls.clear()
        c = discover_paths(model, pairs, target=0.9, batch_size=len(pairs), score=False, **kw, **QUICK)  # type: ignore[arg-type]
        f = c.found_by
        assert len(calls) == f["steps"] == f["passes"] <= f["max_steps"]  # one batch: one run per call
        assert sum(calls) == f["hypotheses"] and c.score is None
        assert f["steps"] > 3 or kw


def test_callable_delta_goes_through_per_example_with_the_same_result() -> None:
    model, pairs = setup()
    fast = discover_paths(model, pairs, target=0.9, score=False, **QUICK)
    slow = discover_paths(model, pairs, target=0.9, delta=lambda a, b, d: pp.metrics.kl(a, b, d), score=False, **QUICK)
    assert slow.patterns == fast.patterns and slow.edges == fast.edges
    assert slow.found_by["passes"] == slow.found_by["steps"] + 1 == fast.found_by["steps"] + 1  # + the total effect
    # the two paths batch the float32 forwards differently: equal to float32 rounding of a proportion (scale 1)
    close(slow.found_by["proportion_explained"], fast.found_by["proportion_explained"], steps=REDUCTION)


def test_json_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup()
    c = discover_paths(model, pairs, target=0.9, **QUICK)
    back = Circuit.load(c.save(tmp_path / "paths.json"))
    assert back == c and back.level == "paths"
    assert json.loads((tmp_path / "paths.json").read_text())["found_by"]["algorithm"] == "paths"
    assert back.hypothesis.count(model) == c.found_by["paths"]


@pytest.mark.parametrize("ablation", ["resample", "mean"])
@pytest.mark.parametrize("name", PLANTED)
def test_recovers_planted_circuits(name: str, ablation: str) -> None:
    task = planted(name)
    c = discover_paths(task.model, task.pairs, target=0.99, ablation=ablation, **QUICK)
    assert c.metric() >= 0.99
    check_honest(c, task.model)
    if (name, ablation) == ("induction", "resample"):
        # every x_new repeats at the same offsets, so a1.0's q and k read from x_new together give the
        # same attention as x_ref: the value path alone explains everything, and is the minimum
        assert c.patterns == ("embed -> a1.0.v -> out",) and c.metric() > 1 - tol(1.0, torch.float32, REDUCTION)
        return
    assert set(c.edges) == task.edges and set(c.patterns) == set(task.patterns)
    assert roc_auc({e: 1.0 for e in c.edges}, task.edges, task.model.graph.edges) == 1.0


@pytest.mark.parametrize("delta, ablation", [("kl", "resample"), ("loss", "mean"), ("logit_diff", "zero")])
def test_cached_scorer_equals_per_example(delta: str, ablation: str) -> None:
    model, pairs = setup(d_mlp=16)
    hyps = {
        "a": pp.paths("embed -> a1.*.v -> out"),
        "b": ~pp.through("a0.1"),
        "c": pp.all_paths(),
        "d": pp.subgraph(list(model.graph.edges)[::3]),
        "e": pp.no_paths(),
    }
    want = pp.per_example(model, hyps, pairs, delta=delta, ablation=ablation, progress=False)
    for kw in (dict(batch_size=32), dict(batch_size=7), dict(batch_size=32, max_memory=60_000)):
        scorer = CachedScorer(model, pairs, Options(delta, ablation, **kw))  # type: ignore[arg-type]
        got = scorer.proportions(hyps)
        for k, v in want.items():
            # other batch sizes round the float32 forwards differently: float32 rounding of a proportion
            close(got[k], 1 - v["delta_h"].mean() / v["delta_empty"].mean(), steps=REDUCTION, msg=f"{k} {kw}")
        close(scorer.ate, want["a"]["delta_empty"].mean(), steps=REDUCTION)
        assert scorer.keep == ("max_memory" not in kw)  # runs are cached unless the budget is small
        assert scorer.passes == 1 and scorer.hypotheses == len(hyps)


def test_errors_say_what_to_pass() -> None:
    model, pairs = setup()
    for target in (0, 1.5, -0.1, float("nan"), True, "0.9"):
        with pytest.raises(ArgumentError, match=r"target is the proportion explained .*\(0, 1\]"):
            discover_paths(model, pairs, target=target, **QUICK)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="max_steps must be an int of at least 3"):
        discover_paths(model, pairs, max_steps=2, **QUICK)
    with pytest.raises(ArgumentError, match="min_gain .* a number >= 0"):
        discover_paths(model, pairs, min_gain=-0.01, **QUICK)
    with pytest.raises(ArgumentError, match="max_candidates must be a positive int"):
        discover_paths(model, pairs, max_candidates=0, **QUICK)
    with pytest.raises(TypeError, match="score must be True or False"):
        discover_paths(model, pairs, score="yes", **QUICK)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pair it first"):
        discover_paths(model, pairs.ref, **QUICK)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ResidualModel"):
        discover_paths("gpt2", pairs, **QUICK)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown delta 'kll'"):
        discover_paths(model, pairs, delta="kll", **QUICK)
    same = pp.Pairs(ref=pairs.ref, new_tokens=pairs.ref.tokens)
    with pytest.raises(InputError, match="average total effect is 0"):
        discover_paths(model, same, **QUICK)


def test_ladder_comparison_runs_end_to_end_small() -> None:
    """The demo's comparison on a few sequences (the numbers are measured by the slow test)."""
    from pathpatch.discovery.induction import compare_with_ladder
    from pathpatch.induction.study import naive_patterns

    result = compare_with_ladder(
        ladder=naive_patterns([2], [0, 3, 7]) + ["embed -> a0.{0-7} -> out"],
        prev=[2],
        ind=[0, 3, 7],
        study_examples=8,
        search_examples=6,
        eval_examples=8,
        target=0.9,
        max_steps=4,
        n_boot=100,
        acdc_examples=4,
    )
    rows = {s.name: s for s in result.report}
    assert list(rows) == [
        "naive (Olsson et al.)",
        "ladder best compact (hand-built)",
        "paths search (discover_paths)",
        "ACDC subgraph (threshold 0.02)",
    ]
    assert result.acdc is not None and result.acdc.found_by["examples"] == 4
    assert rows["ACDC subgraph (threshold 0.02)"].n_paths == result.acdc.hypothesis.count(pp.load("induction-2l"))
    assert rows["naive (Olsson et al.)"].n_paths == 16 and rows["ladder best compact (hand-built)"].n_paths == 16 + 24
    assert rows["paths search (discover_paths)"].n_paths == result.circuit.found_by["paths"]
    assert result.report.meta["examples"] == 8 and result.circuit.found_by["examples"] == 6
    assert "paths search:" in str(result) and json.dumps(result.to_dict())


@pytest.mark.slow
def test_discovery_beats_the_ladder_on_held_out_sequences() -> None:
    """The demo's comparison, ladder included: fewer paths, at least as much explained, held out."""
    from pathpatch.discovery.induction import compare_with_ladder

    result = compare_with_ladder()
    rows = {s.name: s for s in result.report}
    ladder, found = rows["ladder best compact (hand-built)"], rows["paths search (discover_paths)"]
    assert ladder.n_paths == 650 and found.n_paths < 100
    assert found.metrics["proportion_explained"].low > ladder.metrics["proportion_explained"].high
    acdc = rows["ACDC subgraph (threshold 0.02)"]  # ACDC's subgraph, found on 16 sequences, also beats the ladder
    assert acdc.n_paths < 100 and acdc.metrics["proportion_explained"].low > ladder.metrics["proportion_explained"].high
    assert np.isfinite(result.seconds)
