"""The engine against the brute-force treeifier (DESIGN §6), and the language against an oracle.

Together the property tests below draw well over 200 random hypotheses over tiny native models
(with and without MLPs, both position kinds) and tiny Hugging Face GPT-2s.
"""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, tiny_hf_gpt2, tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import hypotheses
from treeify import brute_force

import pathpatch.lang.hypothesis as H
from pathpatch.engine.api import Engine, evaluate, evaluate_many
from pathpatch.model.hf_gpt2 import from_hf

ATOL = 1e-5
SETTINGS = settings(max_examples=55, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _tokens(model, seed: int, batch: int = 2, length: int = 4):  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(seed)
    v = model.config.d_vocab
    return torch.randint(0, v, (batch, length), generator=gen), torch.randint(0, v, (batch, length), generator=gen)


def _models():  # type: ignore[no-untyped-def]
    out = [(f"native-{p}-{'mlp' if m else 'attn'}", tiny_model(p, m, seed=i)) for i, (p, m) in enumerate(TINY)]
    out.append(("hf-gpt2", from_hf(tiny_hf_gpt2(seed=3))))
    # rotary positions, parallel attention + MLP, grouped-query attention, RMSNorm, gated MLP
    out.append(("native-rotary-parallel-gqa", tiny_model("rotary", 12, seed=5, n_kv_heads=1, parallel=True,
                                                         norm_kind="rmsnorm", gated=True, act="silu")))
    return out


MODELS = _models()
# target masks for ``targets=``: ragged (2 rows and 1), one example without targets, a single row
TARGET_MASKS = [((False, True, False, True), (False, False, True, False)),
                ((True, True, True, True), (False, False, False, False)),
                ((False, False, False, False), (False, False, False, True))]


@pytest.mark.parametrize("name,model", MODELS, ids=[n for n, _ in MODELS])
def test_random_hypotheses_match_brute_force(name, model) -> None:  # type: ignore[no-untyped-def]
    all_paths = list(model.graph.iter_paths())
    ref, new = _tokens(model, seed=len(name))
    scale = (brute_force(model, set(), ref, new) - model(ref)).abs().max()
    assert scale > 0.1, "the test model is too weak for the comparison to mean anything"

    seen: list[str] = []

    @SETTINGS
    @given(hypotheses(model.graph, all_paths), st.sampled_from(["resample", "resample", "mean", "zero"]),
           st.sampled_from(TARGET_MASKS))
    def check(pair, ablation, mask) -> None:  # type: ignore[no-untyped-def]
        hyp, member = pair
        seen.append(f"{hyp} {ablation}")
        members = {p.name for p in all_paths if member(p)}
        assert {p.name for p in hyp.iter(model)} == members
        assert hyp.count(model) == len(members)
        got = evaluate(model, hyp, ref, new, ablation)
        want = brute_force(model, members, ref, new, ablation)
        torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
        # only the target rows, computed by row-only copies where the plan allows
        targets = torch.tensor(mask)
        rows = Engine(model, [hyp]).run_batch(ref, new, ablation, targets=targets)[2][0]
        torch.testing.assert_close(rows, want[targets], atol=ATOL, rtol=0)

    check()
    assert len(seen) >= SETTINGS.max_examples  # 6 models x 55 = 330 random hypotheses in all


@pytest.mark.parametrize("name,model", MODELS, ids=[n for n, _ in MODELS])
@pytest.mark.parametrize("ablation", ["resample", "mean", "zero"])
def test_all_and_no_paths(name, model, ablation) -> None:  # type: ignore[no-untyped-def]
    ref, new = _tokens(model, seed=1)
    torch.testing.assert_close(evaluate(model, H.all_paths(), ref, new, ablation), model(ref), atol=ATOL, rtol=0)
    empty = evaluate(model, H.no_paths(), ref, new, ablation)
    torch.testing.assert_close(empty, brute_force(model, set(), ref, new, ablation), atol=ATOL, rtol=0)
    if ablation == "resample":
        torch.testing.assert_close(empty, model(new), atol=ATOL, rtol=0)


@pytest.mark.parametrize("name,model", MODELS, ids=[n for n, _ in MODELS])
def test_sender_receiver_complements(name, model) -> None:  # type: ignore[no-untyped-def]
    """IOI-style: all paths except those through one edge, for every edge into one receiver."""
    ref, new = _tokens(model, seed=2)
    all_paths = list(model.graph.iter_paths())
    receiver = model.graph.port("a1.0.k")
    hyps, members = [], []
    for sender in model.graph.senders(receiver):
        edge = next(e for e in model.graph.edges if e.sender == sender and e.receiver == receiver)
        hyps.append(~H.through_edge(sender.name, receiver.name))
        members.append({p.name for p in all_paths if edge not in p.edges})
    batched = evaluate_many(model, hyps, ref, new)
    for got, m in zip(batched, members):
        torch.testing.assert_close(got, brute_force(model, m, ref, new), atol=ATOL, rtol=0)


def test_many_at_once_equals_one_at_a_time() -> None:
    model = tiny_model("shortformer", 12, seed=7)
    ref, new = _tokens(model, seed=3, batch=3, length=5)
    hyps = [H.through(n.name) for n in model.graph.nodes] + [
        H.paths("embed -> a1.*.v -> out"),
        H.subgraph(model.graph.edges[::2]),
        ~H.paths("a0.{0,1}.k"),
    ]
    together = evaluate_many(model, hyps, ref, new)
    for hyp, got in zip(hyps, together):
        torch.testing.assert_close(got, evaluate(model, hyp, ref, new), atol=ATOL, rtol=0)  # float sums in another order


@pytest.mark.parametrize("name,model", MODELS, ids=[n for n, _ in MODELS])
@settings(max_examples=15, deadline=None, derandomize=True)
@given(data=st.data())
def test_subgraph_needs_at_most_one_mixed_copy_per_node(name, model, data) -> None:  # type: ignore[no-untyped-def]
    kept = data.draw(st.sets(st.sampled_from(model.graph.edges)))
    engine = Engine(model, [H.subgraph(kept)])
    ref, new = _tokens(model, seed=4)
    engine.run(ref, new)
    assert all(n <= 1 for n in engine.stats.copies_per_node.values()), engine.stats.copies_per_node
    assert engine.stats.mixed_copies <= len(model.graph.nodes)


def test_shared_copies_are_computed_once() -> None:
    """Two hypotheses that differ only in one leaf share every copy that does not see the leaf."""
    model = tiny_model("absolute", 12, seed=5)
    a = H.paths("embed -> a0.0.v -> a1.1.q -> out")
    b = a | H.paths("pos -> a0.0.v -> a1.1.q -> out")
    one = Engine(model, [a])
    both = Engine(model, [a, b])
    ref, new = _tokens(model, seed=5)
    one.run(ref, new)
    both.run(ref, new)
    # b's mixed copies are a's plus at most one new copy per node on the shared suffix (a0.0, a1.1, out)
    assert both.stats.mixed_copies <= one.stats.mixed_copies + 3
