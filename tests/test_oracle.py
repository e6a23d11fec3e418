"""The engine against the brute-force treeifier (DESIGN §6), and the language against an oracle.

Every draw counts: a hypothesis that plans no MIXED copy (the engine would only return a cached
run) is discarded with ``assume``, so each example runs the executor; ``oracle_stats`` counts the
distinct hypotheses and the ablations that ran, and the summary prints them. Models: 3-4 layers x
3-4 heads (MLPs, absolute, shortformer, partial rotary, GQA, parallel attention, RMSNorm, gated
MLP) and a Hugging Face GPT-2; each draw takes fresh tokens (batch 3-4, length 2-8) and targets.
Models are built lazily (oracle_zoo), so the native tests run without transformers.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pathpatch.lang.hypothesis as H
from oracle_draws import all_paths, batches
from oracle_stats import Tally
from oracle_zoo import HF, NATIVE, get
from pathpatch.engine.api import Engine, evaluate, evaluate_many
from strategies import hypotheses
from tolerance import FORWARD, close
from treeify import brute_force

pytestmark = pytest.mark.numeric

BIG = ["abs-mlp-3x3", "abs-attn-4x3"]  # 16000 and 20000 paths: slow tests only
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
MODELS = [n for n in NATIVE if n not in BIG] + ["hf-gpt2-2x3"]


def oracle_check(
    name: str,
    examples: int,
    lengths: tuple[int, int] = (2, 8),
    ablations: tuple[str, ...] = ("resample", "mean", "zero"),
    each_ablation: int = 1,
    distinct: float = 0.75,
) -> None:
    """``examples`` random hypotheses, ablations, token pairs and targets on model ``name``, each
    run through MIXED copies and compared with the brute force, whole logits and target rows."""
    model = get(name)
    paths = all_paths(model)
    tally = Tally.of(f"{name} {'/'.join(ablations)}")

    @settings(max_examples=examples, **SETTINGS)
    @given(hypotheses(model.graph, list(paths)), st.sampled_from(ablations), batches(model, lengths), st.booleans())
    def check(pair, ablation, batch, no_new) -> None:  # type: ignore[no-untyped-def]
        hyp, member = pair
        ref, new, targets = batch
        if ablation != "resample" and no_new:
            new = None  # mean over x_ref; zero ignores it
        engine = Engine(model, [hyp])
        got = engine.run(ref, new, ablation)[0]
        assume(engine.stats.mixed_copies > 0)
        members = {p.name for p in paths if member(p)}
        assert {p.name for p in hyp.iter(model)} == members
        assert hyp.count(model) == len(members)
        want = brute_force(model, members, ref, new, ablation)
        close(got, want, steps=FORWARD)
        # only the target rows, computed by row-only copies where the plan allows
        rows = engine.run_batch(ref, new, ablation, targets=targets).logits[0]
        close(rows, want[targets], steps=FORWARD)
        tally.add(members, ablation, engine.stats.mixed_copies)

    check()
    tally.check(examples, ablations, each_ablation, distinct)


@pytest.mark.parametrize("ablation", ["resample", "mean", "zero"])
@pytest.mark.parametrize("name", MODELS)
def test_random_hypotheses_match_brute_force(name: str, ablation: str) -> None:
    """Every ablation reaches the executor on every model (4 draws each)."""
    oracle_check(name, 4, ablations=(ablation,))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NATIVE) + list(HF))
def test_random_hypotheses_match_brute_force_many(name: str) -> None:
    oracle_check(name, 120, distinct=0.25)  # many draws repeat a small model's meanings


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("ablation", ["resample", "mean", "zero"])
def test_all_and_no_paths(name: str, ablation: str) -> None:
    model = get(name)
    gen = torch.Generator().manual_seed(1)
    ref, new = torch.randint(0, 11, (3, 5), generator=gen), torch.randint(0, 11, (3, 5), generator=gen)
    close(evaluate(model, H.all_paths(), ref, new, ablation), model(ref), steps=FORWARD)
    empty = evaluate(model, H.no_paths(), ref, new, ablation)
    close(empty, brute_force(model, set(), ref, new, ablation), steps=FORWARD)
    if ablation == "resample":
        close(empty, model(new), steps=FORWARD)
    scale = (empty - model(ref)).abs().max()
    assert scale > 0.1, "the test model is too weak for the comparison to mean anything"


@pytest.mark.parametrize("name", MODELS)
def test_sender_receiver_complements(name: str) -> None:
    """IOI-style: all paths except those through one edge, for every edge into one receiver."""
    model = get(name)
    gen = torch.Generator().manual_seed(2)
    ref, new = torch.randint(0, 11, (3, 6), generator=gen), torch.randint(0, 11, (3, 6), generator=gen)
    receiver = model.graph.port("a1.0.k")
    hyps, members = [], []
    for sender in model.graph.senders(receiver):
        edge = next(e for e in model.graph.edges if e.sender == sender and e.receiver == receiver)
        hyps.append(~H.through_edge(sender.name, receiver.name))
        members.append({p.name for p in all_paths(model) if edge not in p.edges})
    batched = evaluate_many(model, hyps, ref, new)
    for got, m in zip(batched, members):
        close(got, brute_force(model, m, ref, new), steps=FORWARD)


def test_many_at_once_equals_one_at_a_time() -> None:
    model = get("short-mlp-2x3-relu")
    ref, new = torch.randint(0, 11, (3, 5)), torch.randint(0, 11, (3, 5))
    hyps = [H.through(n.name) for n in model.graph.nodes] + [
        H.paths("embed -> a1.*.v -> out"),
        H.subgraph(model.graph.edges[::2]),
        ~H.paths("a0.{0,1}.k"),
    ]
    together = evaluate_many(model, hyps, ref, new)
    for hyp, got in zip(hyps, together):
        close(got, evaluate(model, hyp, ref, new), steps=FORWARD)  # float sums in another order


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=8, deadline=None, derandomize=True)
@given(data=st.data())
def test_subgraph_needs_at_most_one_mixed_copy_per_node(name, data) -> None:  # type: ignore[no-untyped-def]
    model = get(name)
    kept = data.draw(st.sets(st.sampled_from(model.graph.edges)))
    engine = Engine(model, [H.subgraph(kept)])
    engine.run(torch.randint(0, 11, (2, 4)), torch.randint(0, 11, (2, 4)))
    assert all(n <= 1 for n in engine.stats.copies_per_node.values()), engine.stats.copies_per_node
    assert engine.stats.mixed_copies <= len(model.graph.nodes)


def test_shared_copies_are_computed_once() -> None:
    """Two hypotheses that differ only in one leaf share every copy that does not see the leaf."""
    model = get("abs-mlp-2x4")
    a = H.paths("embed -> a0.0.v -> a1.1.q -> out")
    b = a | H.paths("pos -> a0.0.v -> a1.1.q -> out")
    one = Engine(model, [a])
    both = Engine(model, [a, b])
    ref, new = torch.randint(0, 11, (2, 4)), torch.randint(0, 11, (2, 4))
    one.run(ref, new)
    both.run(ref, new)
    # b's mixed copies are a's plus at most one new copy per node on the shared suffix (a0.0, a1.1, out)
    assert both.stats.mixed_copies <= one.stats.mixed_copies + 3
