"""Edge-set hypotheses: the small automaton of lang/edges.py and the direct planner engine/edgeplan.py.

Subgraphs, edges used (``through_edge``) and their complements, intersections and unions stay in
one family that plans without a walk. Each test compares with something written independently:
path membership from the path's own edges, logits from the brute-force treeifier, and the same
path set written as a pattern (which the general walk plans).
"""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import pathpatch.lang.hypothesis as H
from oracle_draws import all_paths, batches
from oracle_zoo import get
from pathpatch.engine.api import Engine, evaluate_many
from pathpatch.graph import Edge
from pathpatch.lang.automata import ComplementAutomaton, ProductAutomaton
from pathpatch.lang.edges import SubgraphAutomaton
from tolerance import FORWARD, close
from treeify import brute_force

pytestmark = pytest.mark.numeric

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@st.composite
def edge_hypotheses(draw, graph, depth: int = 3):  # type: ignore[no-untyped-def]
    """``(hypothesis, member)``: a random expression over edge leaves, and membership written on
    a path's edges."""
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        if draw(st.booleans()):
            edges = draw(st.lists(st.sampled_from(graph.edges), min_size=1, max_size=3, unique=True))
            hyp = H.through_edge(edges[0].sender.name, edges[0].receiver.name)
            for e in edges[1:]:
                hyp = hyp | H.through_edge(e.sender.name, e.receiver.name)
            return hyp, lambda p: any(e in p.edges for e in edges)
        rng = random.Random(draw(st.integers(0, 2**20)))
        share = draw(st.sampled_from([0.3, 0.9]))
        kept = frozenset(e for e in graph.edges if rng.random() < share)
        return H.subgraph(kept), lambda p: all(e in kept for e in p.edges)
    op = draw(st.sampled_from("|&-~"))
    a, fa = draw(edge_hypotheses(graph, depth - 1))
    if op == "~":
        return ~a, lambda p: not fa(p)
    b, fb = draw(edge_hypotheses(graph, depth - 1))
    if op == "|":
        return a | b, lambda p: fa(p) or fb(p)
    if op == "&":
        return a & b, lambda p: fa(p) and fb(p)
    return a - b, lambda p: fa(p) and not fb(p)


@pytest.mark.parametrize("name", ["abs-mlp-2x4", "short-mlp-2x3-relu"])
def test_edge_hypotheses_match_membership_and_brute_force(name: str) -> None:
    model = get(name)
    paths = all_paths(model)

    @settings(max_examples=12, **SETTINGS)
    @given(edge_hypotheses(model.graph), st.sampled_from(["resample", "mean", "zero"]), batches(model, (2, 6)))
    def check(pair, ablation, batch) -> None:  # type: ignore[no-untyped-def]
        hyp, member = pair
        ref, new, targets = batch
        members = {p.name for p in paths if member(p)}
        assert {p.name for p in hyp.iter(model)} == members
        assert hyp.count(model) == len(members)
        engine = Engine(model, [hyp])
        got = engine.run(ref, new, ablation)[0]
        assume(engine.stats.mixed_copies > 0)
        want = brute_force(model, members, ref, new, ablation)
        close(got, want, steps=FORWARD)
        rows = engine.run_batch(ref, new, ablation, targets=targets).logits[0]
        close(rows, want[targets], steps=FORWARD)

    check()


def test_the_algebra_stays_in_the_edge_family() -> None:
    graph = get("abs-mlp-2x4").graph
    e1, e2 = H.through_edge("a0.1", "a1.0.k"), H.through_edge("m0", "a1.2.v")
    sub = H.subgraph(graph.edges[::2])
    inside = {
        "~edge": ~e1,
        "edge | edge": e1 | e2,
        "~(edge | edge)": ~(e1 | e2),
        "~edge & ~edge": ~e1 & ~e2,
        "sub & ~edge": sub & ~e1,
        "sub - edge": sub - e1,
        "~sub": ~sub,
        "~sub | edge": ~sub | e1,
    }
    for label, hyp in inside.items():
        assert isinstance(hyp.compile(graph), SubgraphAutomaton), label
    dropped = (~(e1 | e2)).compile(graph)
    assert not dropped.kept_form and not dropped.negated and len(dropped.dropped) == 2
    # outside the family: the general automata, still exact (membership tests above)
    assert isinstance((sub | H.subgraph(graph.edges[1::2])).compile(graph), ProductAutomaton)
    assert isinstance((e1 & e2).compile(graph), ProductAutomaton)
    assert isinstance((~H.paths("a0.1 -> a1.0.k")).compile(graph), ComplementAutomaton)


@pytest.mark.parametrize("name", ["abs-mlp-2x4", "rot-partial-par-gqa-3x4"])
def test_a_sender_scan_plans_without_a_walk_and_as_the_walk_does(name: str) -> None:
    """``~through_edge`` (edge family, planned directly) against the same path set written as a
    pattern (planned by the general walk): the same MIXED copies and the same logits."""
    model = get(name)
    graph = model.graph
    receiver = graph.port(f"a{graph.config.n_layers - 1}.0.q")
    senders = [u for u in graph.senders(receiver) if not u.is_input]
    direct = [~H.through_edge(u.name, receiver.name) for u in senders]
    walked = [~H.paths(f"{u.name} -> {receiver.name}") for u in senders]
    gen = torch.Generator().manual_seed(0)
    ref, new = (torch.randint(0, model.config.d_vocab, (3, 5), generator=gen) for _ in range(2))
    fast, slow = Engine(model, direct), Engine(model, walked)
    got, want = fast.run(ref, new), slow.run(ref, new)
    assert fast.stats.walked == 0 < slow.stats.walked
    assert fast.stats.mixed_copies == slow.stats.mixed_copies > 0
    close(got, want, steps=FORWARD)
    close(evaluate_many(model, direct[:1], ref, new)[0], want[0], steps=FORWARD)


def test_graph_edge_facts() -> None:
    graph = get("abs-mlp-2x4").graph
    edges = set(graph.edges)
    for port in graph.ports:
        for u in graph.nodes:
            assert graph.has_edge(Edge(u, port)) == (Edge(u, port) in edges)
        assert list(graph.sender_index(port)) == list(graph.senders(port))
    a1 = graph.node("a1.0")
    below = graph.downstream(frozenset({a1}))
    assert below[0] == a1 and below[-1].kind == "out"
    assert all(graph.stage_of(n) > graph.stage_of(a1) for n in below[1:])
    assert graph.downstream(frozenset()) == ()


@pytest.mark.parametrize("receiver", ["a0.0.v", "a0.1.q", "m0", "a1.0.k"])
def test_one_dropped_edge_at_each_stage_matches_brute_force(receiver: str) -> None:
    """Every edge but one, alone and combined with a pattern (which the general walk plans, asking
    the edge automaton where it is decided), against path membership and the brute-force
    treeifier: the automaton is decided only strictly below the lowest stage a dropped edge
    enters, never at it (a copy at that stage can still read the dropped edge)."""
    model = get("abs-mlp-2x4")
    graph = model.graph
    paths = all_paths(model)
    port = graph.port(receiver)
    edge = Edge(graph.senders(port)[0], port)
    gen = torch.Generator().manual_seed(1)
    ref, new = (torch.randint(0, model.config.d_vocab, (3, 5), generator=gen) for _ in range(2))
    kept = ~H.through_edge(edge.sender.name, port.name)  # every edge but one: the dropped-edge form
    assert not kept.compile(graph).kept_form
    from_embed = H.paths("embed -> ... -> out")
    cases = (
        (kept, lambda p: edge not in p.edges),
        (~kept, lambda p: edge in p.edges),
        (kept & from_embed, lambda p: edge not in p.edges and p.start.kind == "embed"),
        (kept | ~from_embed, lambda p: edge not in p.edges or p.start.kind != "embed"),
    )
    for hyp, member in cases:
        members = {p.name for p in paths if member(p)}
        assert {p.name for p in hyp.iter(model)} == members
        assert hyp.count(model) == len(members)
        got = Engine(model, [hyp]).run(ref, new)[0]
        close(got, brute_force(model, members, ref, new, "resample"), steps=FORWARD)
