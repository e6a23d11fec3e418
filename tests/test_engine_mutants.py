"""Fixed, fast checks that kill wrong engines (the mutation-testing suite's fixed half).

Each test targets a way an engine can be wrong that the random property tests may miss or take
long to hit (``tests/mutation/`` lists them and measures which the suite catches): a channel
that reads the wrong run, a dropped sender delta, a k/v sender read at the wrong position, a
copy or row shared across automaton states, a missing reader bias, a reused attention pattern
whose k is mixed, the base of shortformer q/k inputs, row-only copies, named positions. Values
are compared with the brute-force treeifiers of ``treeify.py`` (one copy per path suffix).
"""

from __future__ import annotations

import pytest
import torch

import pathpatch.lang.hypothesis as H
from conftest import tiny_model
from pathpatch.engine.api import Engine, evaluate, evaluate_many
from pathpatch.engine.budget import chunk_work, example_bytes
from pathpatch.engine.rows import TargetRows
from pathpatch.engine.sums import SparseSum, rows_sum
from pathpatch.errors import InputError, ShapeMismatchError
from pathpatch.positions import check_positions, position_groups
from pathpatch.validate import parse_bytes
from tolerance import FORWARD, REDUCTION, SAME_OPS, close
from treeify import brute_force, brute_force_positions

pytestmark = pytest.mark.numeric

MODELS = {
    "absolute-mlp": tiny_model("absolute", 12, seed=21),
    "shortformer-attn": tiny_model("shortformer", None, seed=22),
    "shortformer-mlp": tiny_model("shortformer", 12, seed=23),
    "rotary-parallel-gqa": tiny_model(
        "rotary", 12, seed=24, n_kv_heads=1, parallel=True, norm_kind="rmsnorm", gated=True, act="silu"
    ),
}
# Hypotheses whose copies read one channel from one run and another from the other, whose nodes
# are reached in several automaton states, and whose rows mix REF, NEW and MIXED children.
HYPOTHESES = [
    "embed -> a0.0.v -> a1.1.k -> out",  # a mixed copy read only through k by a row-only head
    "embed -> a1.0.v -> out",  # v channel all REF, q and k cached NEW: pattern reuse
    "embed -> a1.1.k -> out",  # k mixed, q cached
    "embed -> a0.0 -> a1.1.q -> out",  # one node in two states (a0.0 via q and via nothing)
    "a0.1.k -> a1.0",  # k of layer 0 reaching layer 1 by any channel
    "embed -> ... -> a1.0.v -> out",
    "pos -> ... -> out",
    "a0.0.v -> ... -> a1.1.{q,v}",
]


def _hyps(model):  # type: ignore[no-untyped-def]
    out = [H.paths(p) for p in HYPOTHESES if model.config.has_pos_node or "pos" not in p]
    out += [
        ~H.through_edge("a0.1", "a1.0.k"),
        ~H.through_edge("embed", "a1.1.v"),  # rows from the clean run
        H.through("a0.0") & ~H.paths("a0.0.q"),
        H.subgraph(model.graph.edges[1::2]),
        # a0.0 reached in two live states that read different channels: copies and rows must
        # be memoised on the state (and on the states after a node's ports), not on the node
        H.paths(["embed -> a0.0.v -> a1.0.q -> out", "embed -> a0.0.k -> a1.1.v -> out"]),
    ]
    if model.config.has_mlp:
        out += [H.paths("embed -> m0 -> a1.0.k -> out"), H.paths("a0.1 -> m1 -> out") | H.paths("embed -> m1")]
    return out


def _pair(model, seed: int, batch: int = 2, length: int = 4):  # type: ignore[no-untyped-def]
    gen = torch.Generator().manual_seed(seed)
    v = model.config.d_vocab
    ref = torch.randint(0, v, (batch, length), generator=gen)
    new = torch.randint(0, v, (batch, length), generator=gen)
    new[0, 0] = ref[0, 0]  # the inputs agree somewhere and differ elsewhere
    return ref, new


def _members(model, hyp) -> set[str]:  # type: ignore[no-untyped-def]
    return {p.name for p in hyp.iter(model)}


# --- the pieces, against what they promise (first: they take no time) ---


def test_target_rows_layout_and_causal_mask() -> None:
    mask = torch.tensor([[False, True, False, True], [False, False, False, False], [True, False, False, False]])
    rows = TargetRows.of(mask)
    assert rows.batch_index.tolist() == [0, 0, 2] and rows.position.tolist() == [1, 3, 0]
    assert rows.slot.tolist() == [0, 1, 0] and rows.slots == 2 and len(rows) == 3
    assert rows.slot_position.tolist() == [[1, 3], [3, 3], [0, 3]]
    # attention at the rows' own positions (model.attend, the one place heads are computed)
    model = MODELS["rotary-parallel-gqa"]
    gen = torch.Generator().manual_seed(0)
    q, k = (
        torch.randn(1, 3, 2, model.config.d_head, generator=gen),
        torch.randn(1, 3, 4, model.config.d_head, generator=gen),
    )
    pattern = model.attend(q, k, rows.slot_position[None])
    assert (pattern[0, 0, 0, 2:] == 0).all() and (pattern[0, 0, 0, :2] > 0).all()  # query at 1 sees keys 0, 1
    assert (pattern[0, 2, 0, 1:] == 0).all() and pattern[0, 2, 0, 0] == 1  # query at 0 sees key 0 only
    close(pattern[:, :1, 1:], model.attend(q[:, :1, 1:], k[:, :1]), steps=REDUCTION)  # the last query
    x = torch.arange(3 * 4 * 2.0).view(3, 4, 2)
    taken = rows.take(x)
    assert taken.tolist() == [x[0, 1].tolist(), x[0, 3].tolist(), x[2, 0].tolist()]
    padded = rows.pad(taken[None])
    assert padded.shape == (1, 3, 2, 2) and padded[0, 1].abs().sum() == 0
    close(rows.unpad(padded), taken[None], steps=SAME_OPS)


@pytest.mark.parametrize("density", ["dense", "sparse"])
def test_sparse_sums_equal_the_matrix_product(density: str) -> None:
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(40, 3, 5, generator=gen)
    if density == "dense":
        rows, cols, signs = [0, 0, 1, 2, 2, 2], [0, 3, 1, 2, 3, 1], [1.0, -1.0, 1.0, 1.0, 1.0, -1.0]
    else:
        rows, cols, signs = [0, 1, 2], [5, 39, 17], [1.0, -1.0, 1.0]
    n = 3 if density == "dense" else 20
    w = torch.zeros(n, 40)
    for r, c, s in zip(rows, cols, signs):
        w[r, c] += s
    want = w @ table.flatten(1)
    s = SparseSum.of(rows, cols, n, signs)
    assert s.dense == (density == "dense")
    close(s.apply(table), want, steps=SAME_OPS)
    close(s.apply(table), want, steps=SAME_OPS)  # prepared once, applied again
    base = torch.randn(1, 15, generator=gen)
    close(s.apply(table, base=base), want + base, steps=SAME_OPS)
    out = torch.ones(n, 15)
    close(s.apply(table, out=out), want + 1, steps=SAME_OPS)
    close(rows_sum(rows, cols, n, table), (w.abs() @ table.flatten(1)), steps=SAME_OPS)
    close(SparseSum.of([], [], 2).apply(table, base=base), base.expand(2, -1), steps=SAME_OPS)


def test_sparse_sum_over_a_few_scattered_columns() -> None:
    """Dense in the columns used, but they are spread out: gathered, not a prefix."""
    table = torch.randn(100, 4)
    s = SparseSum.of([0, 1, 1], [90, 10, 90], 2, [1.0, 1.0, -1.0])
    assert s.dense
    close(s.apply(table), torch.stack([table[90], table[10] - table[90]]), steps=SAME_OPS)


def test_named_positions_are_checked_and_grouped() -> None:
    got = check_positions({"END": [-1, 0, 2]}, 3, 4)
    assert got["END"].tolist() == [3, 0, 2]
    assert check_positions({"END": 1}, 2, 4)["END"].tolist() == [1, 1]
    assert check_positions(None, 2, 4) == {}
    with pytest.raises(InputError, match=r"outside sequences of 4 tokens"):
        check_positions({"END": [0, 4]}, 2, 4)
    with pytest.raises(InputError, match=r"outside sequences"):
        check_positions({"END": [-5, 0]}, 2, 4)
    with pytest.raises(InputError, match="identifier"):
        check_positions({"1x": [0, 0]}, 2, 4)
    with pytest.raises(InputError, match="integers"):
        check_positions({"END": [0.5, 1.0]}, 2, 4)
    with pytest.raises(ShapeMismatchError, match=r"shape \(2,\)"):
        check_positions({"END": [0, 1, 2]}, 2, 4)
    assert position_groups(None, 3, 4) == [(None, {})]
    assert position_groups({"END": [1, 1]}, 2, 4) == [(None, {"END": 1})]
    groups = position_groups({"END": [2, -3, 2], "X": [0, 0, 0]}, 3, 4)
    assert [(g.tolist(), names) for g, names in groups] == [([1], {"END": 1, "X": 0}), ([0, 2], {"END": 2, "X": 0})]


def test_memory_budget() -> None:
    assert parse_bytes(1000) == 1000 and parse_bytes("2GB") == 2 << 30 and parse_bytes("512 MiB") == 512 << 20
    assert parse_bytes("1.5k") == 1536 and parse_bytes("3b") == 3
    for bad in (0, -1, "lots", "2XB", "", True):
        with pytest.raises(InputError, match="max_memory"):
            parse_bytes(bad)  # type: ignore[arg-type]
    model = MODELS["absolute-mlp"]
    one = Engine(model, [H.through("a0.0")])
    many = Engine(model, [H.through(n.name) for n in model.graph.nodes])
    small, big = example_bytes(model, one, 4, None), example_bytes(model, many, 4, None)
    assert 0 < small < big
    assert example_bytes(model, many, 4, 1) < big  # one target row per example costs less
    assert example_bytes(model, many, 8, None) > big
    hyps = [H.through(n.name) for n in model.graph.nodes]
    make = Engine(model, hyps)
    chunks = chunk_work(model, make, 4, None, big * 3, 16)
    assert [c.indices for c in chunks] == [tuple(range(len(hyps)))] and chunks[0].batch_size == 3
    split = chunk_work(model, make, 4, None, big - 1, 16)
    assert len(split) > 1 and sorted(i for c in split for i in c.indices) == list(range(len(hyps)))
    assert all(c.bytes_per_example <= big - 1 and c.batch_size >= 1 for c in split)
    with pytest.raises(InputError, match="raise max_memory"):
        chunk_work(model, make, 4, None, 10, 16)


# --- whole hypotheses against the brute force ---


@pytest.mark.parametrize("name", ["shortformer-attn", "rotary-parallel-gqa", "absolute-mlp"])
def test_fixed_hypotheses_match_brute_force(name: str) -> None:
    """All hypotheses in one engine (shared copies), full logits and target rows; resampling, and
    mean and zero ablation on a few."""
    model = MODELS[name]
    ref, new = _pair(model, seed=len(name))
    hyps = _hyps(model)
    members = [_members(model, h) for h in hyps]
    mask = torch.tensor([[False, True, False, True], [False, False, True, False]])
    cheap = not model.config.has_mlp or model.config.parallel
    for ablation, n in (("resample", len(hyps) if cheap else 8), ("mean", 3 if cheap else 2), ("zero", 2)):
        engine = Engine(model, hyps[:n])
        full = engine.run(ref, new, ablation)
        rows = engine.run_batch(ref, new, ablation, targets=mask).logits
        for hyp, member, got, got_rows in zip(hyps, members, full, rows):
            want = brute_force(model, member, ref, new, ablation)
            close(got, want, steps=FORWARD, msg=f"{hyp} {ablation}")
            close(got_rows, want[mask], steps=FORWARD, msg=f"{hyp} rows")


def test_hypotheses_are_not_all_trivial() -> None:
    """The fixed hypotheses differ from the clean and the ablated run, so they test something."""
    model = MODELS["absolute-mlp"]
    ref, new = _pair(model, seed=1)
    clean, ablated = model(ref), model(new)
    for hyp, got in zip(_hyps(model), evaluate_many(model, _hyps(model), ref, new)):
        assert (got - clean).abs().max() > 1e-3, str(hyp)
        if not str(hyp).startswith("pos"):  # positions are equal in both runs
            assert (got - ablated).abs().max() > 1e-3, str(hyp)


def test_mean_ablation_averages_over_new_tokens() -> None:
    model = MODELS["absolute-mlp"]
    ref, new = _pair(model, seed=2, batch=3)
    got = evaluate(model, H.paths("embed -> a1.0.v -> out"), ref, new, "mean")
    members = _members(model, H.paths("embed -> a1.0.v -> out"))
    close(got, brute_force(model, members, ref, new, "mean"), steps=FORWARD)
    assert (got - brute_force(model, members, ref, None, "mean")).abs().max() > 1e-3


def test_identical_inputs_and_partly_identical_inputs() -> None:
    """x_new == x_ref gives the clean run for every hypothesis; inputs equal in only some examples
    are not treated as equal in all."""
    model = MODELS["shortformer-mlp"]
    ref, new = _pair(model, seed=3)
    hyps = [H.no_paths(), H.paths("embed -> a1.0.k -> out"), ~H.through("a0.1")]
    for got in evaluate_many(model, hyps, ref, ref.clone()):
        close(got, model(ref), steps=FORWARD)
    new[1] = ref[1]
    for hyp, got in zip(hyps, evaluate_many(model, hyps, ref, new)):
        close(got, brute_force(model, _members(model, hyp), ref, new), steps=FORWARD)


def test_sender_scan_rows_from_the_clean_run() -> None:
    """Every edge into one receiver ablated in turn (rows summed from the clean run)."""
    model = MODELS["shortformer-attn"]
    ref, new = _pair(model, seed=4)
    for receiver in ("a1.1.k", "a1.0.v"):
        port = model.graph.port(receiver)
        hyps = [~H.through_edge(s.name, receiver) for s in model.graph.senders(port)]
        for hyp, got in zip(hyps, evaluate_many(model, hyps, ref, new)):
            close(got, brute_force(model, _members(model, hyp), ref, new), steps=FORWARD)


# --- position-resolved hypotheses ---

N_POS = 3
POS_HYPOTHESES = [
    "embed@0 -> a1.0.k@2 -> out",
    "embed@1 -> a0.1.v@1 -> a1.1.v@2 -> out",
    "a0.0@-1",
    "embed -> a1.1.k@END -> out",
    "pos@0 -> ... -> a1.0.{k,v}@2",
    "a0.1.v@{0,1} -> a1.0",
]


@pytest.mark.parametrize("name", ["shortformer-attn", "rotary-parallel-gqa", "absolute-mlp"])
def test_fixed_positional_hypotheses_match_brute_force(name: str) -> None:
    model = MODELS[name]
    ref, new = _pair(model, seed=5, length=N_POS)
    ends = [2, 1]
    hyps = [H.paths(p) for p in POS_HYPOTHESES if model.config.has_pos_node or "pos" not in p]
    hyps.append(H.through("a1.0@END") | H.paths("embed -> a0.1.v -> out"))
    # a0.0@1 reached in two live states reading different channels (rows memoised on the state)
    hyps.append(H.paths(["embed -> a0.0.v@1 -> a1.0.q@2 -> out", "embed -> a0.0.k@1 -> a1.1.v@2 -> out"]))
    if model.config.has_mlp:  # a1.0@2 from out and from m1: the same port rows, different children
        hyps.append(H.paths(["embed -> a1.0.v@2 -> out", "a0.0 -> a1.0.v@2 -> m1"]))
    for ablation in ("resample", "zero") if not model.config.has_mlp else ("resample",):
        got = evaluate_many(model, hyps, ref, new, ablation, positions={"END": torch.tensor([e - N_POS for e in ends])})
        for hyp, logits in zip(hyps, got):
            by_members: dict[frozenset[str], list[int]] = {}
            for i, end in enumerate(ends):
                members = frozenset(p.name for p in hyp.iter(model, n_pos=N_POS, positions={"END": end}))
                by_members.setdefault(members, []).append(i)
            for members, rows in by_members.items():
                want = brute_force_positions(model, set(members), ref, new, ablation)[rows]
                close(logits[rows], want, steps=FORWARD, msg=f"{hyp}")


def test_positional_target_rows() -> None:
    model = MODELS["absolute-mlp"]
    ref, new = _pair(model, seed=6, length=N_POS)
    hyps = [H.paths("embed@0 -> a1.0.k@2 -> out"), H.through("a0.1@1")]
    mask = torch.tensor([[False, False, True], [False, True, True]])
    rows = Engine(model, hyps).run_batch(ref, new, targets=mask).logits
    for hyp, got in zip(hyps, rows):
        want = brute_force_positions(model, {p.name for p in hyp.iter(model, n_pos=N_POS)}, ref, new)
        close(got, want[mask], steps=FORWARD)
    # a named position that differs between the examples: two groups, each computed at the target rows
    hyp, ends = H.through("a1.0@END") | H.paths("embed -> a0.1.v -> out"), [1, 2]
    got = Engine(model, [hyp]).run_batch(ref, new, positions={"END": torch.tensor(ends)}, targets=mask).logits[0]
    want = torch.stack(
        [
            brute_force_positions(
                model, {p.name for p in hyp.iter(model, n_pos=N_POS, positions={"END": end})}, ref, new
            )[i]
            for i, end in enumerate(ends)
        ]
    )
    close(got, want[mask], steps=FORWARD)


def test_grouped_query_attention_uses_the_key_value_head() -> None:
    """Four query heads over two key/value heads: head 1 must use key head 0, head 3 key head 1."""
    model = tiny_model("rotary", None, seed=25, n_heads=4, n_kv_heads=2)
    ref, new = _pair(model, seed=6)
    for hyp in [
        H.paths("embed -> a1.1.k -> out"),
        H.paths("embed -> a0.3.v -> a1.1.k -> out"),
        H.paths("embed -> a0.1.k -> a1.3.q -> out"),
    ]:
        want = brute_force(model, _members(model, hyp), ref, new)
        close(evaluate(model, hyp, ref, new), want, steps=FORWARD, msg=f"{hyp}")


def test_every_hand_made_mutation_still_applies() -> None:
    """Each hand-made mutation (tests/mutation/engine_mutations.py) names code that exists once: a
    refactor that moves it must move the mutation too, or the harness would test nothing."""
    import sys
    from pathlib import Path

    root = Path(__file__).parent.parent
    sys.path.insert(0, str(root / "tests" / "mutation"))
    from engine_mutations import MUTATIONS

    for m in MUTATIONS:
        assert (root / m.path).read_text().count(m.old) == 1, f"{m.name}: its snippet is not in {m.path} exactly once"
