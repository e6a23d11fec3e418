"""Position-resolved hypotheses (DESIGN §4): the engine against the literal positional tree.

Each model is checked on random hypotheses that name positions (absolute, from the end, the
dataset's END, sets), mixed with position-free ones by | & - ~. The two examples of the batch have
different END positions, so the engine plans each of them separately.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pathpatch.lang.hypothesis as H
from conftest import tiny_model
from oracle_draws import batches, positioned_paths
from oracle_stats import Tally
from oracle_zoo import get
from pathpatch.engine.api import Engine, evaluate
from pathpatch.errors import InputError, PatternError
from strategies import pos_hypotheses
from tolerance import FORWARD, close
from treeify import brute_force_positions

pytestmark = pytest.mark.numeric

N_POS = 3
END = [1, 2]  # END of example 0 and 1
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
# (model, longest sequence): positioned paths grow fast with length, so bigger graphs get shorter ones
MODELS = {"abs-mlp-2x4": 3, "short-mlp-2x3-relu": 4, "rot-partial-par-gqa-3x4": 3, "hf-gpt2-2x3": 3}


def _small():  # type: ignore[no-untyped-def]
    return tiny_model("absolute", 12, seed=11)


def _pair(model, seed=0):  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(seed)
    v = model.config.d_vocab
    return torch.randint(0, v, (2, N_POS), generator=gen), torch.randint(0, v, (2, N_POS), generator=gen)


def positional_check(
    name: str,
    examples: int,
    longest: int,
    ablations: tuple[str, ...] = ("resample", "mean", "zero"),
    each_ablation: int = 1,
    distinct: float = 0.75,
) -> None:
    """Random position-resolved hypotheses, ablations, token pairs (batch 3-4, length 2..longest)
    and END positions (one per example, several per batch) against the literal positional tree;
    every draw runs MIXED copies."""
    model = get(name)
    tally = Tally.of(f"{name} (positions) {'/'.join(ablations)}")

    @settings(max_examples=examples, **SETTINGS)
    @given(st.data(), st.sampled_from(ablations), batches(model, (2, longest)))
    def check(data, ablation, batch) -> None:  # type: ignore[no-untyped-def]
        ref, new, _ = batch
        n_pos = ref.shape[1]
        hyp, member = data.draw(pos_hypotheses(model.graph, n_pos))
        ends = data.draw(st.lists(st.integers(0, n_pos - 1), min_size=len(ref), max_size=len(ref)))
        engine = Engine(model, [hyp])
        got = engine.run(ref, new, ablation, positions={"END": torch.tensor(ends)})[0]
        assume(engine.stats.mixed_copies > 0)
        paths = positioned_paths(model, n_pos)
        meaning = set()
        for end in sorted(set(ends)):
            names = {"END": end}
            members = {p.name for p in paths if member(p, n_pos, names)}
            meaning |= {f"{end}:{m}" for m in members}
            if hyp.positional or end == ends[0]:
                assert {p.name for p in hyp.iter(model, n_pos=n_pos, positions=names)} == members
                assert hyp.count(model, n_pos=n_pos, positions=names) == len(members)
            # mean ablation averages over the whole batch, as the engine does
            want = brute_force_positions(model, members, ref, new, ablation)
            rows = torch.tensor([e == end for e in ends])
            close(got[rows], want[rows], steps=FORWARD)
        tally.add(meaning, ablation, engine.stats.mixed_copies)

    check()
    tally.check(examples, ablations, each_ablation, distinct)


@pytest.mark.parametrize("ablation", ["resample", "mean", "zero"])
@pytest.mark.parametrize("name", list(MODELS))
def test_random_positional_hypotheses_match_brute_force(name: str, ablation: str) -> None:
    """Every ablation reaches the executor on every model (3 draws each)."""
    positional_check(name, 3, MODELS[name], ablations=(ablation,))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS) + ["hf-neox-partial-parallel", "hf-llama-gqa", "abs-mlp-3x3"])
def test_random_positional_hypotheses_match_brute_force_many(name: str) -> None:
    positional_check(name, 60, MODELS.get(name, 3), distinct=0.25)  # many draws repeat meanings


@pytest.mark.parametrize("name", list(MODELS))
def test_position_free_hypotheses_agree_in_both_engines(name: str) -> None:
    """A hypothesis that names no position means the same in the positional engine."""
    model = get(name)
    ref, new = _pair(model, seed=1)
    never = H.paths("a0.0@0") - H.paths("a0.0@0")  # positional, holds no path
    for hyp in [
        H.through("a1.0"),
        H.paths("embed -> a1.*.v -> out"),
        ~H.through_edge("a0.1", "a1.0.k"),
        H.subgraph(model.graph.edges[::3]),
    ]:
        close(evaluate(model, hyp | never, ref, new), evaluate(model, hyp, ref, new), steps=FORWARD)


def test_every_position_of_a_node_is_the_node() -> None:
    """Restoring a head at every position equals restoring the head (causal tracing summed)."""
    model = _small()
    ref, new = _pair(model, seed=2)
    whole = evaluate(model, H.through("a0.1"), ref, new)
    by_position = evaluate(model, H.paths([f"a0.1@{t}" for t in range(N_POS)]), ref, new)
    close(by_position, whole, steps=FORWARD)


def test_positions_leave_earlier_outputs_alone() -> None:
    """Restoring a node at the last position changes only the last position's logits."""
    model = _small()
    ref, new = _pair(model, seed=3)
    got = evaluate(model, H.through("a0.1@-1"), ref, new)
    empty = evaluate(model, H.no_paths(), ref, new)
    torch.testing.assert_close(got[:, :-1], empty[:, :-1], atol=0, rtol=0)
    assert (got[:, -1] - empty[:, -1]).abs().max() > 1e-3


def test_named_positions_group_examples_and_plans_are_cached() -> None:
    model = _small()
    ref, new = _pair(model, seed=4)
    engine = Engine(model, [H.through("a1.0@END"), H.through("a1.1")])
    ends = torch.tensor([2, 0])
    got = engine.run(ref, new, positions={"END": ends})
    for i, end in enumerate(ends.tolist()):
        alone = evaluate(model, H.through(f"a1.0@{end}"), ref, new)[i]
        close(got[0, i], alone, steps=FORWARD)
    assert len(engine.last_pos_plans) == 2
    engine.run(ref, new, positions={"END": ends})
    assert len(engine._pos_plans) == 2


def test_position_errors_say_what_to_do() -> None:
    model = _small()
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
    model = _small()
    paths = list(model.graph.iter_positioned_paths(N_POS))
    assert H.all_paths().count(model, n_pos=N_POS) == len(paths) == len(set(paths))
    from pathpatch.graph import Path

    assert all(Path.parse(p.name) == p for p in paths[:200])
    assert H.through("a1.0@-1").contains("embed@0 -> a1.0.v@2 -> out@2", model, n_pos=3)
    assert not H.through("a1.0@-1").contains("embed@0 -> a1.0.v@1 -> out@1", model, n_pos=3)


def test_targets_compute_only_what_the_metric_reads() -> None:
    """``targets=`` returns ``logits[targets]`` and plans roots only at the target positions."""
    model = _small()
    ref, new = _pair(model, seed=5)
    hyps = [H.through("a1.0@END"), H.through("a0.1"), H.through("m1@-1")]
    engine = Engine(model, hyps)
    full = engine.run(ref, new, positions={"END": torch.tensor(END)})
    targets = torch.zeros(2, N_POS, dtype=torch.bool)
    targets[0, 1] = targets[1, 2] = True
    rows = engine.run_batch(ref, new, positions={"END": torch.tensor(END)}, targets=targets).logits
    for got, want in zip(rows, full):
        close(got, want[targets], steps=FORWARD)
    assert all(plan.at == (1, 2) for plan in engine.last_pos_plans)
