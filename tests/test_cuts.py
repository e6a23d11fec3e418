"""Node cuts (lang/nodecut.py, engine/cuts.py): hypotheses that are one patched forward run as one.

``through(v@t)``, its complement, ``residual_at(l, t)`` and unions of cuts at one stage are planned
as cuts (no walk) and run as patched forwards. Checked against the brute-force positional tree on
every architecture the oracle covers (absolute, shortformer, partial rotary with GQA and parallel
attention, Hugging Face GPT-2, NeoX and Llama), under every ablation; counted against the walk;
planned identically however they are written; the same with and without memory chunks.
"""

from __future__ import annotations

import pytest
import torch

import pathpatch as pp
import pathpatch.lang.hypothesis as H
from conftest import tiny_model
from oracle_draws import positioned_paths
from oracle_zoo import get
from pathpatch.engine.api import Engine
from pathpatch.graph import Graph, Node, Path
from pathpatch.lang.cut import residual_at
from pathpatch.lang.nodecut import NodeCut, node_cut
from pathpatch.lang.pattern import PosContext
from pathpatch.tracing import causal_trace
from tolerance import FORWARD, REDUCTION, close
from treeify import brute_force_positions

pytestmark = pytest.mark.numeric

ABLATIONS = ("resample", "mean", "zero")
MODELS = {  # model -> sequence length (positioned paths grow fast with it)
    "abs-mlp-2x4": 3,
    "short-attn-3x4": 3,
    "short-mlp-2x3-relu": 4,
    "rot-partial-par-gqa-3x4": 3,
    "hf-gpt2-2x3": 3,
}
SLOW_MODELS = {"hf-neox-partial-parallel": 3, "hf-llama-gqa": 3}


def _crossing(graph: Graph, path: Path, stage: int) -> tuple[Node, int]:
    """The first node at or below ``stage`` reading the path from ``out`` (and its position)."""
    assert path.positions is not None
    senders = (path.start,) + tuple(p.node for p in path.ports)
    for node, t in reversed(list(zip(senders, path.positions))):
        if graph.stage_of(node) <= stage:
            return node, t
    raise AssertionError("every path crosses every stage below out")


def _through(path: Path, nodes: set[Node], t: int) -> bool:
    assert path.positions is not None
    senders = (path.start,) + tuple(p.node for p in path.ports)
    return any(n in nodes and u == t for n, u in zip(senders, path.positions))


def _cases(model: pp.ResidualModel, n_pos: int):  # type: ignore[no-untyped-def]
    """Cut hypotheses and their members, decided from the paths alone (no automaton)."""
    graph, cfg = model.graph, model.config
    L, last = cfg.n_layers, n_pos - 1
    heads1 = {Node("head", 1, h) for h in range(cfg.n_heads)}
    resid_stage = graph.stage_of(Node("mlp", 0) if cfg.has_mlp else Node("head", 0, 0))
    cases = [
        (H.through("a1.*@1"), lambda p: _through(p, heads1, 1)),
        (~H.through("a0.0@0"), lambda p: not _through(p, {Node("head", 0, 0)}, 0)),
        (H.through("embed@1"), lambda p: p.start == Node("embed") and p.positions[0] == 1),
        (residual_at(0, 1), lambda p: _crossing(graph, p, resid_stage)[1] == 1),
        (~residual_at(0, 0), lambda p: _crossing(graph, p, resid_stage)[1] != 0),
        (~residual_at(L - 1, last), lambda p: _crossing(graph, p, 2 * L - 1)[1] != last),
        (
            H.through("a1.0@2") | H.through("a1.1@0"),
            lambda p: _through(p, {Node("head", 1, 0)}, 2) or _through(p, {Node("head", 1, 1)}, 0),
        ),
    ]
    if cfg.has_mlp:
        cases.append((H.through(f"m{L - 1}@{last}"), lambda p: _through(p, {Node("mlp", L - 1)}, last)))
    if graph.config.positions == "shortformer":
        cases.append((~H.through("pos@0"), lambda p: not (p.start == Node("pos") and p.positions[0] == 0)))
    return cases


def _check(name: str, n_pos: int, every_ablation: bool) -> None:
    """Each case under every ablation, or (the default suite) each under one, in turn."""
    model = get(name)
    gen = torch.Generator().manual_seed(len(name))
    v = model.config.d_vocab
    ref, new = torch.randint(0, v, (3, n_pos), generator=gen), torch.randint(0, v, (3, n_pos), generator=gen)
    paths = positioned_paths(model, n_pos)
    cases = _cases(model, n_pos)
    hyps = [h for h, _ in cases]
    for h, member in cases:
        members = {p.name for p in paths if member(p)}
        assert h.count(model, n_pos=n_pos) == len(members) == (h & H.all_paths()).count(model, n_pos=n_pos)
    for a, ablation in enumerate(ABLATIONS):
        engine = Engine(model, hyps)
        got = engine.run(ref, new, ablation)
        assert [sorted(p.cuts) for p in engine.last_pos_plans] == [list(range(len(hyps)))]
        assert not engine.last_pos_plans[0].copies  # nothing walked
        for i, ((_, member), logits) in enumerate(zip(cases, got)):
            if every_ablation or i % len(ABLATIONS) == a:
                members = {p.name for p in paths if member(p)}
                close(logits, brute_force_positions(model, members, ref, new, ablation), steps=FORWARD)


@pytest.mark.parametrize("name", list(MODELS))
def test_cuts_match_brute_force(name: str) -> None:
    _check(name, MODELS[name], every_ablation=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS) + list(SLOW_MODELS))
def test_cuts_match_brute_force_every_ablation(name: str) -> None:
    _check(name, {**MODELS, **SLOW_MODELS}[name], every_ablation=True)


def test_cut_route_equals_walk_at_longer_sequences() -> None:
    """The walked plan (the same sets behind a product the recogniser does not read) agrees,
    at every position, for sequences longer than the brute force can afford; also at target rows."""
    model = tiny_model("shortformer", 12, seed=4, n_ctx=8)
    gen = torch.Generator().manual_seed(1)
    ref, new = torch.randint(0, 11, (3, 7), generator=gen), torch.randint(0, 11, (3, 7), generator=gen)
    hyps = [
        causal
        for layer in (0, 1)
        for t in (0, 3, 6)
        for causal in (residual_at(layer, t), H.through(f"a{layer}.*@{t}"))
    ]
    hyps += [~h for h in hyps[:4]]
    for ablation in ABLATIONS:
        fast = Engine(model, hyps).run(ref, new, ablation)
        slow = Engine(model, [h & H.all_paths() for h in hyps]).run(ref, new, ablation)
        close(fast, slow, steps=FORWARD)
    targets = torch.zeros(3, 7, dtype=torch.bool)
    targets[0, 2] = targets[1, 5] = targets[2, 6] = True
    fast = Engine(model, hyps).run_batch(ref, new, targets=targets).logits
    slow = Engine(model, [h & H.all_paths() for h in hyps]).run_batch(ref, new, targets=targets).logits
    for a, b in zip(fast, slow):
        close(a, b, steps=FORWARD)


def test_a_hand_written_node_cut_is_planned_as_through() -> None:
    """The planner reads the compiled automaton, not the helper: patterns that name the same set
    of crossing nodes give the same cut and the same plan."""
    model = tiny_model("absolute", 12, seed=0, n_heads=3)
    graph = model.graph
    written = [H.through("a1.2@3"), pp.paths("a1.2@3"), pp.paths("... -> a1.2@3 -> ..."), pp.paths("a1.{2}.*@3")]
    ctx = PosContext.of(5)
    cuts = {node_cut(h.compile(model, ctx), graph) for h in written}
    assert cuts == {NodeCut(graph.stage_of(Node("head", 1, 2)), frozenset({(Node("head", 1, 2), 3)}))}
    plans = [Engine(model, [h]).pos_plan(ctx) for h in written]
    assert all(p.cuts == plans[0].cuts and not p.copies and p.roots == [()] for p in plans)
    assert node_cut((~written[1]).compile(model, ctx), graph) == ~next(iter(cuts))
    # a union of cuts at one stage is one cut, whether written as one pattern set or with |
    one = pp.paths(["a1.0@3", "a1.2@{1,3}"])
    two = H.through("a1.0@3") | H.through("a1.2@{1,3}")
    assert node_cut(one.compile(model, ctx), graph) == node_cut(two.compile(model, ctx), graph) is not None
    # embed, pos, a0.* and m0 at 3 are several stages: no cut (a path through embed@3 may cross above at 4)
    senders = [n.name for n in graph.nodes if n.kind != "out" and graph.stage_of(n) <= graph.stage_of(Node("mlp", 0))]
    assert node_cut(pp.paths([f"{s}@3" for s in senders]).compile(model, ctx), graph) is None


@pytest.mark.parametrize("text", ["a1.2.k@3", "a*@3", "embed -> a1.2@3", "a1.2@3 -> out", "a0.1@2 -> a1.2@3", "*@3"])
def test_sets_that_are_not_node_cuts_are_walked(text: str) -> None:
    """A port (not the whole node), nodes of several stages or a longer chain is no node cut."""
    model = tiny_model("absolute", 12, seed=0, n_heads=3)
    ctx = PosContext.of(5)
    assert node_cut(pp.paths(text).compile(model, ctx), model.graph) is None
    assert node_cut((pp.paths(text) & H.through("a1.2@3")).compile(model, ctx), model.graph) is None


def test_chunked_and_unchunked_traces_agree() -> None:
    """A trace over more cells than the budget holds is split into groups and batches, with the
    same numbers."""
    model = tiny_model("shortformer", None, seed=2, n_ctx=10)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 11, (6, 9), generator=gen)
    mask = torch.zeros(6, 9, dtype=torch.bool)
    mask[:, 4:-1] = True
    pairs = pp.pair_derangement(pp.Dataset.next_token(tokens, mask), 0)
    whole = causal_trace(model, pairs, delta="loss", progress=False, n_boot=50)
    parts = causal_trace(model, pairs, delta="loss", progress=False, n_boot=50, max_memory="600KB", batch_size=2)
    assert [r.name for r in whole.rows] == [r.name for r in parts.rows]
    close([r.estimate.value for r in parts.rows], [r.estimate.value for r in whole.rows], steps=REDUCTION)


def test_named_positions_and_target_rows_through_cuts() -> None:
    """Examples with different END positions are planned apart; their target rows land in the
    rows of the whole batch, as the walked plan puts them."""
    model = tiny_model("absolute", 12, seed=5, n_ctx=8)
    gen = torch.Generator().manual_seed(2)
    ref, new = torch.randint(0, 11, (4, 6), generator=gen), torch.randint(0, 11, (4, 6), generator=gen)
    positions = {"END": torch.tensor([2, 4, 2, 5])}
    targets = torch.zeros(4, 6, dtype=torch.bool)
    targets[0, 3] = targets[1, 1] = targets[1, 5] = targets[2, 4] = targets[3, 5] = True
    hyps = [H.through("a0.1@END"), ~residual_at(0, "END"), H.through("m1@END") | H.through("m1@0")]
    fast = Engine(model, hyps)
    got = fast.run_batch(ref, new, positions=positions, targets=targets).logits
    assert all(p.cuts for p in fast.last_pos_plans) and len(fast.last_pos_plans) == 3
    want = Engine(model, [h & H.all_paths() for h in hyps]).run_batch(ref, new, positions=positions, targets=targets)
    for a, b in zip(got, want.logits):
        assert a.shape == (5, 11)
        close(a, b, steps=FORWARD)


def test_a_large_trace_states_its_cost_up_front(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pathpatch.tracing as tracing

    model = tiny_model("absolute", 12, seed=2, n_ctx=10)
    cells = [("resid", 1, 0), ("attn", 0, 4), ("mlp", 1, -1)]
    # of 7 nodes (2 heads a layer), resid1 and m1 leave only out above them; a0.* leaves m0, a1.*, m1, out
    assert tracing.trace_cost(model.graph, cells, 8) == pytest.approx(1 / 7 + 5 / 7 * 4 / 8 + 1 / 7 / 8)
    tokens = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(0))
    pairs = pp.pair_derangement(pp.Dataset.next_token(tokens), 0)
    monkeypatch.setattr(tracing, "LARGE", 0.0)
    causal_trace(model, pairs, kinds=["mlp"], layers=[1], delta="loss", n_boot=50, progress=False)
    assert capsys.readouterr().err == ""
    causal_trace(model, pairs, kinds=["mlp"], layers=[1], delta="loss", n_boot=50)
    assert "causal trace: 8 cells on 4 examples of 8 tokens, about 1 forward passes of work" in capsys.readouterr().err


def _sender_rows(graph: Graph, receiver: str) -> list[tuple[H.Hypothesis, set[Node], set]]:  # type: ignore[type-arg]
    """A sender scan's rows into ``receiver`` (every channel): each sender's edges, as
    ``sender_scan`` builds them, restored and ablated."""
    ports = [p for p in graph.ports if p.node == graph.node(receiver)]
    rows = []
    for u in graph.nodes:
        edges = [H.through_edge(u, p) for p in ports if u in graph.senders(p)]
        if edges:
            h = edges[0]
            for e in edges[1:]:
                h = h | e
            rows.append((h, {u}, set(ports)))
    return rows


@pytest.mark.parametrize("name", list(MODELS))
def test_receiver_cuts_match_brute_force(name: str) -> None:
    """Sender-scan rows (every path except those from a sender into one receiver, and those
    paths alone) run as patched forwards from the receiver on; equal to the literal tree."""
    from treeify import brute_force

    model = get(name)
    graph = model.graph
    gen = torch.Generator().manual_seed(3)
    v = model.config.d_vocab
    ref, new = torch.randint(0, v, (3, 4), generator=gen), torch.randint(0, v, (3, 4), generator=gen)
    receivers = [f"a{model.config.n_layers - 1}.1", "out"] + (["m0"] if model.config.has_mlp else [])
    cases = []
    for receiver in receivers:
        rows = _sender_rows(graph, receiver)
        for h, senders, ports in rows[:: max(1, len(rows) // 3)]:

            def uses(p: Path, senders: set[Node] = senders, ports: set = ports) -> bool:  # type: ignore[type-arg]
                return any(e.sender in senders and e.receiver in ports for e in p.edges)

            cases += [(h, uses), (~h, lambda p, uses=uses: not uses(p))]
    paths = list(graph.iter_paths())
    for ablation in ABLATIONS:
        engine = Engine(model, [h for h, _ in cases])
        got = engine.run(ref, new, ablation)
        assert engine.last_plan is not None and len(engine.last_plan.cuts) == len(cases)
        for (_, member), logits in zip(cases, got):
            members = {p.name for p in paths if member(p)}
            close(logits, brute_force(model, members, ref, new, ablation), steps=FORWARD)


def test_receiver_cuts_equal_the_walk_at_target_rows() -> None:
    """With targets, the receiver cuts give the walked plan's rows, and the same statistics."""
    model = get("short-mlp-2x3-relu")
    gen = torch.Generator().manual_seed(4)
    ref, new = torch.randint(0, 11, (3, 6), generator=gen), torch.randint(0, 11, (3, 6), generator=gen)
    targets = torch.zeros(3, 6, dtype=torch.bool)
    targets[0, 2] = targets[1, 5] = targets[2, 1] = targets[2, 5] = True
    hyps = [~h for h, _, _ in _sender_rows(model.graph, "a1.2")]
    for ablation in ABLATIONS:
        fast = Engine(model, hyps)
        got = fast.run_batch(ref, new, ablation, targets=targets).logits
        slow = Engine(model, [h & H.all_paths() for h in hyps])
        want = slow.run_batch(ref, new, ablation, targets=targets).logits
        for a, b in zip(got, want):
            close(a, b, steps=FORWARD)


def test_set_algebra_of_cuts_at_one_stage() -> None:
    """| & - of cuts at one stage (negated or not) are cuts, and equal the walked sets."""
    model = tiny_model("absolute", 12, seed=6, n_heads=3, n_ctx=8)
    gen = torch.Generator().manual_seed(5)
    ref, new = torch.randint(0, 11, (3, 5), generator=gen), torch.randint(0, 11, (3, 5), generator=gen)
    x, y = H.through("a1.{0,1}@{1,3}"), H.through("a1.{1,2}@{3,4}")
    hyps = [x | y, x & y, x - y, ~x | y, x & ~y, ~x - y, ~x & ~y, ~x | ~y, y - ~x]
    ctx = PosContext.of(5)
    assert all(node_cut(h.compile(model, ctx), model.graph) is not None for h in hyps)
    for h in hyps:
        assert h.count(model, n_pos=5) == (h & H.all_paths()).count(model, n_pos=5)
    for ablation in ABLATIONS:
        fast = Engine(model, hyps).run(ref, new, ablation)
        slow = Engine(model, [h & H.all_paths() for h in hyps]).run(ref, new, ablation)
        close(fast, slow, steps=FORWARD)


def test_a_long_trace_is_chunked_with_the_same_numbers() -> None:
    """128 tokens: a budget that holds a few cells per pass gives the unbounded numbers, and its
    groups' estimates fit it."""
    from pathpatch.engine.budget import chunk_work
    from pathpatch.lang.cut import residual_at as cut

    model = tiny_model("absolute", 12, seed=3, n_ctx=128)
    gen = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 11, (3, 128), generator=gen)
    mask = torch.zeros(3, 128, dtype=torch.bool)
    mask[:, 120:127] = True
    pairs = pp.pair_derangement(pp.Dataset.next_token(tokens, mask), 0)
    kw = dict(kinds=["resid"], delta="loss", progress=False, n_boot=50)
    whole = causal_trace(model, pairs, **kw)
    budget = 2_000_000
    parts = causal_trace(model, pairs, max_memory=budget, **kw)
    close([r.estimate.value for r in parts.rows], [r.estimate.value for r in whole.rows], steps=REDUCTION)
    hyps = [cut(layer, t) for layer in range(2) for t in range(128)]
    chunks = chunk_work(
        model, Engine(model, hyps), 128, 7, budget, 32, {}, frozenset({Node("pos")}), tuple(range(120, 127))
    )
    assert len(chunks) > 1 and all(c.bytes_per_example * c.batch_size <= budget for c in chunks)


@pytest.mark.parametrize("name", ["abs-mlp-2x4", "short-mlp-2x3-relu"])
def test_edges_into_several_receivers_are_planned_by_their_dropped_edges(name: str) -> None:
    """Dropped edges into two nodes are no receiver cut: the dropped-edge planner plans them,
    against the brute force (both directions, a port whose sender group other ports share)."""
    from treeify import brute_force

    model = get(name)
    graph = model.graph
    gen = torch.Generator().manual_seed(7)
    v = model.config.d_vocab
    ref, new = torch.randint(0, v, (3, 4), generator=gen), torch.randint(0, v, (3, 4), generator=gen)
    pairs = [("a0.1", "a1.0.k"), ("embed", "m1"), ("a0.0", "a1.2.v"), ("m0", "out")]
    edges = [pp.Edge(graph.node(s), graph.port(r)) for s, r in pairs]
    uses = H.through_edge(*pairs[0]) | H.through_edge(*pairs[1])
    more = H.through_edge(*pairs[2]) | H.through_edge(*pairs[3]) | H.through_edge(*pairs[0])
    cases = [
        (uses, set(edges[:2])),
        (~uses, set(edges[:2])),
        (more, {edges[0], *edges[2:]}),
        (~more, {edges[0], *edges[2:]}),
    ]
    engine = Engine(model, [h for h, _ in cases])
    paths = list(graph.iter_paths())
    for ablation in ABLATIONS:
        got = engine.run(ref, new, ablation)
        assert engine.last_plan is not None and not engine.last_plan.cuts and engine.last_plan.copies
        for i, ((_, used), logits) in enumerate(zip(cases, got)):
            members = {p.name for p in paths if (any(e in used for e in p.edges)) == (i % 2 == 0)}
            close(logits, brute_force(model, members, ref, new, ablation), steps=FORWARD)


def test_cuts_with_no_target_rows_give_empty_rows() -> None:
    """A batch whose target mask holds no position (a draw the oracle found): node and receiver
    cuts read no row at all and return ``[0, vocab]``, as the walked plan does."""
    model = tiny_model("absolute", 12, seed=5, n_ctx=8)
    gen = torch.Generator().manual_seed(4)
    ref, new = torch.randint(0, 11, (3, 2), generator=gen), torch.randint(0, 11, (3, 2), generator=gen)
    hyps = [H.through_edge("embed", "a1.0.q"), ~H.through_edge("embed", "a0.0.q"), H.through("a0.1@1")]
    fast = Engine(model, hyps)
    got = fast.run_batch(ref, new, targets=torch.zeros(3, 2, dtype=torch.bool)).logits
    assert fast.last_plan is not None and fast.last_plan.cuts or all(p.cuts for p in fast.last_pos_plans)
    assert [tuple(g.shape) for g in got] == [(0, 11)] * 3
