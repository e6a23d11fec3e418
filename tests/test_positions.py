"""Position-resolved hypotheses (DESIGN §4): the engine against the literal positional tree.

Each model is checked on random hypotheses that name positions (absolute, from the end, the
dataset's END, sets), mixed with position-free ones by | & - ~. The two examples of the batch have
different END positions, so the engine plans each of them separately.
"""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_hf_gpt2, tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import pos_hypotheses
from treeify import brute_force_positions

import pathpatch.lang.hypothesis as H
from pathpatch.engine.api import Engine, evaluate
from pathpatch.errors import InputError, PatternError
from pathpatch.model.hf_gpt2 import from_hf

ATOL = 1e-5
N_POS = 3
END = [1, 2]  # END of example 0 and 1
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _models():  # type: ignore[no-untyped-def]
    return [
        ("absolute-mlp", tiny_model("absolute", 12, seed=11)),
        ("shortformer-attn", tiny_model("shortformer", None, seed=12)),
        ("rotary-parallel-gqa", tiny_model("rotary", 12, seed=13, n_kv_heads=1, parallel=True,
                                           norm_kind="rmsnorm", gated=True, act="silu")),
        ("hf-gpt2", from_hf(tiny_hf_gpt2(seed=14))),
    ]


MODELS = _models()


def _pair(model, seed=0):  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(seed)
    v = model.config.d_vocab
    return torch.randint(0, v, (2, N_POS), generator=gen), torch.randint(0, v, (2, N_POS), generator=gen)


@pytest.mark.parametrize("name,model", MODELS, ids=[n for n, _ in MODELS])
def test_random_positional_hypotheses_match_brute_force(name, model) -> None:  # type: ignore[no-untyped-def]
    ref, new = _pair(model, seed=len(name))
    all_paths = list(model.graph.iter_positioned_paths(N_POS))
    seen: list[str] = []

    @SETTINGS
    @given(pos_hypotheses(model.graph, N_POS), st.sampled_from(["resample", "resample", "mean", "zero"]))
    def check(pair, ablation) -> None:  # type: ignore[no-untyped-def]
        hyp, member = pair
        seen.append(str(hyp))
        got = evaluate(model, hyp, ref, new, ablation, positions={"END": torch.tensor(END)})
        for i, end in enumerate(END):
            names = {"END": end}
            members = {p.name for p in all_paths if member(p, N_POS, names)}
            if hyp.positional or i == 0:
                assert {p.name for p in hyp.iter(model, n_pos=N_POS, positions=names)} == members
                assert hyp.count(model, n_pos=N_POS, positions=names) == len(members)
            # mean ablation averages over the whole batch, as the engine does
            want = brute_force_positions(model, members, ref, new, ablation)[i]
            torch.testing.assert_close(got[i], want, atol=ATOL, rtol=0)

    check()
    assert len(seen) >= SETTINGS.max_examples


@pytest.mark.parametrize("name,model", MODELS, ids=[n for n, _ in MODELS])
def test_position_free_hypotheses_agree_in_both_engines(name, model) -> None:  # type: ignore[no-untyped-def]
    """A hypothesis that names no position means the same in the positional engine."""
    ref, new = _pair(model, seed=1)
    never = H.paths("a0.0@0") - H.paths("a0.0@0")  # positional, holds no path
    for hyp in [H.through("a1.0"), H.paths("embed -> a1.*.v -> out"), ~H.through_edge("a0.1", "a1.0.k"),
                H.subgraph(model.graph.edges[::3])]:
        torch.testing.assert_close(evaluate(model, hyp | never, ref, new), evaluate(model, hyp, ref, new),
                                   atol=ATOL, rtol=0)


def test_every_position_of_a_node_is_the_node() -> None:
    """Restoring a head at every position equals restoring the head (causal tracing summed)."""
    model = MODELS[0][1]
    ref, new = _pair(model, seed=2)
    whole = evaluate(model, H.through("a0.1"), ref, new)
    by_position = evaluate(model, H.paths([f"a0.1@{t}" for t in range(N_POS)]), ref, new)
    torch.testing.assert_close(by_position, whole, atol=ATOL, rtol=0)


def test_positions_leave_earlier_outputs_alone() -> None:
    """Restoring a node at the last position changes only the last position's logits."""
    model = MODELS[0][1]
    ref, new = _pair(model, seed=3)
    got = evaluate(model, H.through("a0.1@-1"), ref, new)
    empty = evaluate(model, H.no_paths(), ref, new)
    torch.testing.assert_close(got[:, :-1], empty[:, :-1], atol=0, rtol=0)
    assert (got[:, -1] - empty[:, -1]).abs().max() > 1e-3


def test_named_positions_group_examples_and_plans_are_cached() -> None:
    model = MODELS[0][1]
    ref, new = _pair(model, seed=4)
    engine = Engine(model, [H.through("a1.0@END"), H.through("a1.1")])
    ends = torch.tensor([2, 0])
    got = engine.run(ref, new, positions={"END": ends})
    for i, end in enumerate(ends.tolist()):
        alone = evaluate(model, H.through(f"a1.0@{end}"), ref, new)[i]
        torch.testing.assert_close(got[0, i], alone, atol=ATOL, rtol=0)
    assert len(engine.last_pos_plans) == 2
    engine.run(ref, new, positions={"END": ends})
    assert len(engine._pos_plans) == 2


def test_position_errors_say_what_to_do() -> None:
    model = MODELS[0][1]
    ref, new = _pair(model)
    with pytest.raises(PatternError, match="position name 'END' is not defined by the dataset"):
        evaluate(model, H.through("a1.0@END"), ref, new)
    with pytest.raises(PatternError, match="position 5 is outside sequences of 3 tokens"):
        evaluate(model, H.through("a1.0@5"), ref, new)
    with pytest.raises(InputError, match="positions\\['END'\\] holds 3..3, outside sequences of 3 tokens"):
        evaluate(model, H.through("a1.0@END"), ref, new, positions={"END": torch.tensor([3, 3])})
    with pytest.raises(InputError, match="pass n_pos="):
        H.through("a1.0@-1").count(model)
    with pytest.raises(PatternError, match="'...' has no position"):
        H.paths("...@3 -> out")
    with pytest.raises(PatternError, match="a position is a number"):
        H.paths("a1.0@3.5")
    with pytest.raises(PatternError, match="must sit at or before position 1, got 2"):
        H.through("a1.0").contains("embed@2 -> a1.0.k@1 -> out@1", model)


def test_positioned_paths_round_trip_and_count() -> None:
    model = MODELS[0][1]
    paths = list(model.graph.iter_positioned_paths(N_POS))
    assert H.all_paths().count(model, n_pos=N_POS) == len(paths) == len(set(paths))
    from pathpatch.graph import Path

    assert all(Path.parse(p.name) == p for p in paths[:200])
    assert H.through("a1.0@-1").contains("embed@0 -> a1.0.v@2 -> out@2", model, n_pos=3)
    assert not H.through("a1.0@-1").contains("embed@0 -> a1.0.v@1 -> out@1", model, n_pos=3)


def test_targets_compute_only_what_the_metric_reads() -> None:
    """``targets=`` returns ``logits[targets]`` and plans roots only at the target positions."""
    model = MODELS[0][1]
    ref, new = _pair(model, seed=5)
    hyps = [H.through("a1.0@END"), H.through("a0.1"), H.through("m1@-1")]
    engine = Engine(model, hyps)
    full = engine.run(ref, new, positions={"END": torch.tensor(END)})
    targets = torch.zeros(2, N_POS, dtype=torch.bool)
    targets[0, 1] = targets[1, 2] = True
    rows = engine.run_batch(ref, new, positions={"END": torch.tensor(END)}, targets=targets)[2]
    for got, want in zip(rows, full):
        torch.testing.assert_close(got, want[targets], atol=ATOL, rtol=0)
    assert all(plan.at == (1, 2) for plan in engine.last_pos_plans)
