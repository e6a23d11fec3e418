"""Edge cuts (lang/nodecut.py, engine/edgecut.py): positional edges into one receiver, one patched forward.

A sender scan's row at a position (``through_edge("u", "r.k@t")`` and its unions over the
receiver's ports), its complement, ``paths("u@s -> r.c@t")`` and ``| & -`` of such sets into one
receiver are planned as edge cuts (no walk) and run as the forward from the receiver on. Checked
against the brute-force positional tree on every architecture the oracle covers (absolute,
shortformer, partial rotary with GQA and parallel attention, Hugging Face GPT-2, NeoX and Llama),
under every ablation; planned identically however they are written; equal to the walked plan at
longer sequences, at target rows, with named positions and in small chunks.
"""

from __future__ import annotations

import pytest
import torch

import pathpatch as pp
import pathpatch.engine.cuts as cuts_module
import pathpatch.lang.hypothesis as H
from conftest import tiny_model
from oracle_draws import positioned_paths
from oracle_zoo import get
from pathpatch.engine.api import Engine
from pathpatch.graph import Graph, Node, Path, Port
from pathpatch.lang.nodecut import EdgeCut, PosEdge, edge_cut, node_cut
from pathpatch.lang.pattern import PosContext
from tolerance import FORWARD, close
from treeify import brute_force_positions

pytestmark = pytest.mark.numeric

ABLATIONS = ("resample", "mean", "zero")
MODELS = {
    "abs-mlp-2x4": 3,
    "short-attn-3x4": 3,
    "short-mlp-2x3-relu": 4,
    "rot-partial-par-gqa-3x4": 3,
    "hf-gpt2-2x3": 3,
}
SLOW_MODELS = {"hf-neox-partial-parallel": 3, "hf-llama-gqa": 3}

Edges = frozenset[tuple[Node, int, Port, int]]


def _uses(path: Path, edges: Edges) -> bool:
    """Whether the position-resolved path uses one of ``edges`` (sender, its position, port, its position)."""
    assert path.positions is not None
    senders = (path.start,) + tuple(p.node for p in path.ports[:-1])
    return any(
        (u, path.positions[i], port, path.positions[i + 1]) in edges
        for i, (u, port) in enumerate(zip(senders, path.ports))
    )


def _edges(graph: Graph, sender: str, port: str, at: range | list[int], t: int) -> Edges:
    u, p = graph.node(sender), graph.port(port)
    return frozenset((u, s, p, t) for s in at if s in graph.sender_positions(p, t))


def _cases(model: pp.ResidualModel, n_pos: int) -> list[tuple[H.Hypothesis, Edges, bool]]:
    """Edge cuts and their edges (the paths using one of them, or with True every other path)."""
    graph, cfg = model.graph, model.config
    L, last, every = cfg.n_layers, n_pos - 1, range(n_pos)
    receiver = f"a{L - 1}.1"
    senders = ["embed", "a0.0", f"a{L - 2}.2"] + (["m0"] if cfg.has_mlp else [])
    senders += ["pos"] if cfg.positions == "shortformer" else []
    cases: list[tuple[H.Hypothesis, Edges, bool]] = []
    for u in senders:  # sender-scan rows into the receiver at the last position, both directions
        ports = [f"{receiver}.{c}" for c in "qkv" if graph.node(u) in graph.senders(graph.port(f"{receiver}.{c}"))]
        h = H.through_edge(u, f"{ports[0]}@{last}")
        for p in ports[1:]:
            h = h | H.through_edge(u, f"{p}@{last}")
        edges = frozenset().union(*(_edges(graph, u, p, every, last) for p in ports))
        cases += [(h, edges, False), (~h, edges, True)]
    cases.append((H.through_edge("a0.1@0", f"{receiver}.k@1"), _edges(graph, "a0.1", f"{receiver}.k", [0], 1), False))
    heads0 = [f"a0.{h}" for h in range(cfg.n_heads)]
    v_edges = frozenset().union(*(_edges(graph, u, f"{receiver}.v", every, t) for u in heads0 for t in (1, last)))
    cases.append((pp.paths(f"a0.* -> {receiver}.v@{{1,{last}}}"), v_edges, False))
    cases.append((H.through_edge("a0.1", f"out@{last}"), _edges(graph, "a0.1", "out", [last], last), False))
    cases.append((~H.through_edge("embed@1", "out@1"), _edges(graph, "embed", "out", [1], 1), True))
    every_input = frozenset(
        (u, s, p, last)
        for p in graph.ports
        if p.node == graph.node(receiver)
        for u in graph.senders(p)
        for s in graph.sender_positions(p, last)
    )
    cases.append((~pp.paths(f"* -> {receiver}@{last}"), every_input, True))  # the copy reads only x_new
    early = "a0.1.v@1"  # a receiver below the last layer: later positions of m0 and a1 keep the base run
    cases.append((H.through_edge("embed", early), _edges(graph, "embed", "a0.1.v", every, 1), False))
    if cfg.has_mlp:
        cases.append((~H.through_edge("a0.1", f"m{L - 1}@1"), _edges(graph, "a0.1", f"m{L - 1}", [1], 1), True))
        every_mlp = frozenset((u, 1, graph.port(f"m{L - 1}"), 1) for u in graph.senders(graph.port(f"m{L - 1}")))
        cases.append((~pp.paths(f"* -> m{L - 1}@1"), every_mlp, True))
    return cases


def _check(name: str, n_pos: int, every_ablation: bool) -> None:
    model = get(name)
    gen = torch.Generator().manual_seed(len(name) + 1)
    v = model.config.d_vocab
    ref, new = torch.randint(0, v, (3, n_pos), generator=gen), torch.randint(0, v, (3, n_pos), generator=gen)
    paths = positioned_paths(model, n_pos)
    cases = _cases(model, n_pos)
    for a, ablation in enumerate(ABLATIONS):
        engine = Engine(model, [h for h, _, _ in cases])
        got = engine.run(ref, new, ablation)
        (plan,) = engine.last_pos_plans
        assert all(isinstance(c, EdgeCut) for c in plan.cuts.values()) and len(plan.cuts) == len(cases)
        assert not plan.copies  # nothing walked
        for i, ((_, edges, outside), logits) in enumerate(zip(cases, got)):
            if every_ablation or i % len(ABLATIONS) == a:
                members = {p.name for p in paths if _uses(p, edges) != outside}
                close(logits, brute_force_positions(model, members, ref, new, ablation), steps=FORWARD)


@pytest.mark.parametrize("name", list(MODELS))
def test_edge_cuts_match_brute_force(name: str) -> None:
    _check(name, MODELS[name], every_ablation=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS) + list(SLOW_MODELS))
def test_edge_cuts_match_brute_force_every_ablation(name: str) -> None:
    _check(name, {**MODELS, **SLOW_MODELS}[name], every_ablation=True)


def test_a_hand_written_edge_cut_is_planned_as_through_edge() -> None:
    """The planner reads the compiled automaton: an edge written as a pattern, with a gap-free
    ``...`` around it, or with ``through_edge`` is one cut and one plan."""
    model = tiny_model("absolute", 12, seed=0, n_heads=3)
    graph = model.graph
    ctx = PosContext.of(5)
    written = [
        H.through_edge("a0.1", "a1.2.k@3"),
        pp.paths("a0.1 -> a1.2.k@3"),
        pp.paths("... -> a0.1 -> a1.2.k@3 -> ..."),
        pp.paths("a0.{1}@* -> a1.2.{k}@3"),
    ]
    port = graph.port("a1.2.k")
    want = EdgeCut(Node("head", 1, 2), frozenset(PosEdge(pp.Edge(Node("head", 0, 1), port), s, 3) for s in range(4)))
    assert {edge_cut(h.compile(model, ctx), graph) for h in written} == {want}
    plans = [Engine(model, [h]).pos_plan(ctx) for h in written]
    assert all(p.cuts == plans[0].cuts and not p.copies and p.roots == [()] for p in plans)
    assert edge_cut((~written[1]).compile(model, ctx), graph) == ~want
    assert node_cut(written[0].compile(model, ctx), graph) is None


@pytest.mark.parametrize(
    "text", ["a0.1 -> ... -> a1.2.k@3", "a0.1.v -> a1.2.k@3", "a0.1 -> a1.*.k@3", "embed -> a0.1 -> a1.2@3", "a1.2@3"]
)
def test_sets_that_are_not_edge_cuts_are_not_planned_as_one(text: str) -> None:
    """A gap, a sender's port, several receivers, a longer chain or a node is no edge cut."""
    model = tiny_model("absolute", 12, seed=0, n_heads=3)
    ctx = PosContext.of(5)
    assert edge_cut(pp.paths(text).compile(model, ctx), model.graph) is None
    # an edge cut and a node cut do not combine
    assert edge_cut((H.through_edge("a0.1", "a1.2.k@3") | H.through("a1.2@3")).compile(model, ctx), model.graph) is None


def test_set_algebra_and_the_walk_agree_at_longer_sequences() -> None:
    """``| & -`` of edge cuts into one receiver (negated or not) are edge cuts, equal to the walked
    sets at every position, at target rows and with named positions; the same in small chunks."""
    model = tiny_model("shortformer", 12, seed=4, n_ctx=8, n_heads=3)
    gen = torch.Generator().manual_seed(1)
    ref, new = torch.randint(0, 11, (3, 7), generator=gen), torch.randint(0, 11, (3, 7), generator=gen)
    x = H.through_edge("a0.1", "a1.2.k@5") | H.through_edge("pos", "a1.2.q@5")
    y = pp.paths("a0.{1,2}@{0-3} -> a1.2.k@{4,5}") | H.through_edge("embed", "a1.2.v@6")
    hyps = [x | y, x & y, x - y, ~x | y, x & ~y, ~x - y, ~x & ~y, ~x | ~y, y - ~x, H.through_edge("a0.0", "m1@{2,6}")]
    ctx = PosContext.of(7)
    assert all(edge_cut(h.compile(model, ctx), model.graph) is not None for h in hyps)
    for h in hyps:
        assert h.count(model, n_pos=7) == (h & H.all_paths()).count(model, n_pos=7)
    targets = torch.zeros(3, 7, dtype=torch.bool)
    targets[0, 2] = targets[1, 5] = targets[2, 6] = targets[2, 4] = True
    for ablation in ABLATIONS:
        fast = Engine(model, hyps).run(ref, new, ablation)
        slow = Engine(model, [h & H.all_paths() for h in hyps]).run(ref, new, ablation)
        close(fast, slow, steps=FORWARD)
        fast = Engine(model, hyps).run_batch(ref, new, ablation, targets=targets).logits
        slow = Engine(model, [h & H.all_paths() for h in hyps]).run_batch(ref, new, ablation, targets=targets).logits
        for a, b in zip(fast, slow):
            close(a, b, steps=FORWARD)
    positions = {"END": torch.tensor([2, 6, 4])}
    named = [~H.through_edge("a0.1", "a1.2.k@END"), H.through_edge("m0", "out@END") | H.through_edge("a0.1", "out@0")]
    fast = Engine(model, named).run_batch(ref, new, positions=positions, targets=targets).logits
    slow = Engine(model, [h & H.all_paths() for h in named]).run_batch(ref, new, positions=positions, targets=targets)
    for a, b in zip(fast, slow.logits):
        close(a, b, steps=FORWARD)


def test_small_chunks_give_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bucket and the receiver's cells split into pieces of a few elements: the same logits."""
    model = tiny_model("absolute", 12, seed=7, n_ctx=10, n_heads=3)
    gen = torch.Generator().manual_seed(3)
    ref, new = torch.randint(0, 11, (2, 9), generator=gen), torch.randint(0, 11, (2, 9), generator=gen)
    hyps = [~(H.through_edge(u, "a1.0.k@8") | H.through_edge(u, "a1.0.v@{3,8}")) for u in ("embed", "a0.1", "a0.2")]
    hyps += [pp.paths("a0.0 -> a1.1@{2,5,8}"), H.through_edge("a0.2", "m0@{0-8}")]
    whole = Engine(model, hyps).run(ref, new, "mean")
    monkeypatch.setattr(cuts_module, "CUT_WORK", 1)
    parts = Engine(model, hyps).run(ref, new, "mean")
    close(parts, whole, steps=FORWARD)
    slow = Engine(model, [h & H.all_paths() for h in hyps]).run(ref, new, "mean")
    close(parts, slow, steps=FORWARD)


def test_an_edge_cut_counts_the_values_its_forward_computes() -> None:
    """Statistics: the receiver at each of its positions, then every node after its stage at the
    positions from the first on."""
    model = tiny_model("absolute", 12, seed=0, n_heads=3)
    graph = model.graph
    ref = torch.randint(0, 11, (2, 5), generator=torch.Generator().manual_seed(0))
    engine = Engine(model, [H.through_edge("a0.1", "a1.2.k@3") | H.through_edge("a0.1", "a1.2.q@{3,4}")])
    engine.run(ref, ref.flip(0))
    stage = graph.stage_of(Node("head", 1, 2))
    above = sum(1 for n in graph.nodes if graph.stage_of(n) > stage)
    assert engine.stats.walked == 0 and engine.stats.mixed_copies == 2 + above * 2


def test_edge_cuts_are_counted_as_the_walk_counts() -> None:
    """Counted from path counts (an edge's: paths up to its sender there times suffixes from its
    receiver there, which depend on the position below the last layer), as the walk counts them."""
    model = tiny_model("shortformer", 12, seed=4, n_ctx=8, n_heads=3)
    hyps = [
        H.through_edge("embed", "a0.1.k@3"),
        pp.paths("embed@{0,1} -> a0.2.v@{2,5}"),
        ~H.through_edge("pos", "a0.0.q@4"),
        H.through_edge("a0.1", "m0@2") | H.through_edge("embed", "m0@{2,3}"),
        H.through_edge("m0", "a1.1.k@6"),
    ]
    ctx = PosContext.of(7)
    assert all(edge_cut(h.compile(model, ctx), model.graph) is not None for h in hyps)
    for h in hyps:
        assert h.count(model, n_pos=7) == (h & H.all_paths()).count(model, n_pos=7) > 0
