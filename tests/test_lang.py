"""The graph entities and the path language: names, anchoring, wildcards, algebra, counting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pathpatch as pp
from pathpatch.graph import Edge, Graph, Node, Path, Port
from pathpatch.lang.kept import kept_edges


def graph(layers: int = 2, heads: int = 2, mlp: bool = True, positions: str = "absolute") -> Graph:
    return Graph(
        pp.ModelConfig(
            n_layers=layers,
            n_heads=heads,
            d_model=4,
            d_head=2,
            d_vocab=3,
            n_ctx=4,
            d_mlp=4 if mlp else None,
            positions=positions,
        )
    )  # type: ignore[arg-type]


SMALL = graph()
GPT2_SMALL = graph(12, 12, True, "absolute")


def test_names_round_trip() -> None:
    for node in SMALL.nodes:
        assert Node.parse(node.name) == node
    for port in SMALL.ports:
        assert Port.parse(port.name) == port
    for edge in SMALL.edges:
        assert Edge.parse(edge.name) == edge
    for path in SMALL.iter_paths():
        assert Path.parse(path.name) == path
    assert str(Path.parse("embed -> a0.1.v -> m1 -> out")) == "embed -> a0.1.v -> m1 -> out"
    assert Path.parse("embed -> a0.1.v -> out").edges == (Edge.parse("embed -> a0.1.v"), Edge.parse("a0.1 -> out"))


def test_graph_structure() -> None:
    shortformer = graph(positions="shortformer")
    assert [n.name for n in SMALL.nodes] == ["embed", "pos", "a0.0", "a0.1", "m0", "a1.0", "a1.1", "m1", "out"]
    assert [n.name for n in SMALL.senders(Port.parse("m0"))] == ["embed", "pos", "a0.0", "a0.1"]
    assert Node("pos") not in shortformer.senders(Port.parse("a1.0.v"))
    assert Node("pos") in shortformer.senders(Port.parse("a1.0.k"))
    assert Node("pos") not in shortformer.senders(Port.parse("out"))
    assert [n.name for n in graph(positions="none").inputs] == ["embed"]


@pytest.mark.parametrize("g", [SMALL, graph(positions="shortformer"), graph(3, 2, False), graph(positions="none")])
def test_count_by_dynamic_programming_equals_enumeration(g: Graph) -> None:
    listed = list(g.iter_paths())
    assert g.count_paths() == len(listed) == len(set(listed))
    assert pp.all_paths().count(g) == len(listed)
    assert pp.no_paths().count(g) == 0


@pytest.mark.parametrize(
    "pattern,expected",
    [
        ("embed -> out", ["embed -> out"]),
        ("embed -> m1 -> out", ["embed -> m1 -> out"]),
        ("embed -> a1.0.q -> out", ["embed -> a1.0.q -> out"]),
        (
            "embed -> a1.*.{q,k} -> out",
            ["embed -> a1.0.k -> out", "embed -> a1.0.q -> out", "embed -> a1.1.k -> out", "embed -> a1.1.q -> out"],
        ),
        ("embed -> a{0-1}.1.v -> out", ["embed -> a0.1.v -> out", "embed -> a1.1.v -> out"]),
        (
            "pos -> * -> out",
            [
                "pos -> a0.0.k -> out",
                "pos -> a0.0.q -> out",
                "pos -> a0.0.v -> out",
                "pos -> a0.1.k -> out",
                "pos -> a0.1.q -> out",
                "pos -> a0.1.v -> out",
                "pos -> a1.0.k -> out",
                "pos -> a1.0.q -> out",
                "pos -> a1.0.v -> out",
                "pos -> a1.1.k -> out",
                "pos -> a1.1.q -> out",
                "pos -> a1.1.v -> out",
                "pos -> m0 -> out",
                "pos -> m1 -> out",
            ],
        ),
        (
            "a0.0 -> m0 -> a1.1.v -> m1",
            [
                "embed -> a0.0.k -> m0 -> a1.1.v -> m1 -> out",
                "embed -> a0.0.q -> m0 -> a1.1.v -> m1 -> out",
                "embed -> a0.0.v -> m0 -> a1.1.v -> m1 -> out",
                "pos -> a0.0.k -> m0 -> a1.1.v -> m1 -> out",
                "pos -> a0.0.q -> m0 -> a1.1.v -> m1 -> out",
                "pos -> a0.0.v -> m0 -> a1.1.v -> m1 -> out",
            ],
        ),
    ],
)
def test_patterns_hold_exactly_these_paths(pattern: str, expected: list[str]) -> None:
    assert [p.name for p in pp.paths(pattern).list(SMALL)] == sorted(expected)


def test_anchoring_and_gaps() -> None:
    total = SMALL.count_paths()
    # open at both ends: every path through m0
    through_m0 = [p for p in SMALL.iter_paths() if any(x.node.name == "m0" for x in p.ports)]
    assert pp.paths("m0").count(SMALL) == len(through_m0) == pp.through("m0").count(SMALL)
    # anchored start only: every path from pos
    assert pp.paths("pos").count(SMALL) == sum(1 for p in SMALL.iter_paths() if p.start.name == "pos")
    # gaps: `...` may be empty
    assert pp.paths("embed -> ... -> out").count(SMALL) == pp.paths("embed").count(SMALL)
    assert pp.paths("embed -> ... -> m1 -> out").contains("embed -> m1 -> out", SMALL)
    assert pp.paths("...").count(SMALL) == pp.paths("*").count(SMALL) == pp.paths("out").count(SMALL) == total
    # a1 (layer only) means any head and channel of layer 1
    assert pp.paths("a1").count(SMALL) == pp.paths("a1.*.*").count(SMALL) == pp.through("a1.*").count(SMALL)


def test_helpers_and_algebra() -> None:
    edge = "a0.1 -> a1.0.k"
    via_edge = {p for p in SMALL.iter_paths() if Edge.parse(edge) in p.edges}
    assert set(pp.through_edge("a0.1", "a1.0.k").iter(SMALL)) == via_edge
    assert set((~pp.through_edge("a0.1", "a1.0.k")).iter(SMALL)) == set(SMALL.iter_paths()) - via_edge
    assert pp.through_edge("embed", "out").list(SMALL) == [Path.parse("embed -> out")]
    kept = [e for e in SMALL.edges if e.receiver.channel != "k"]
    sub = {p for p in SMALL.iter_paths() if all(e.receiver.channel != "k" for e in p.edges)}
    assert set(pp.subgraph(kept).iter(SMALL)) == sub
    assert set(pp.subgraph([e.name for e in kept]).iter(SMALL)) == sub
    assert pp.subgraph([]).count(SMALL) == 0
    assert pp.paths(list(SMALL.iter_paths())[:5]).count(SMALL) == 5


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    st.sampled_from(["a*.0", "a5.{1,2}.k", "m3", "embed -> a0.*.v", "a11.*.q -> out", "pos", "m{2-4} -> a7.3"]),
    st.sampled_from(["a*.{5,6}", "embed -> ... -> m0 -> ...", "a9.*.k", "a1.1.v -> a2.2", "pos -> a0.0"]),
)
def test_set_algebra_counts_on_gpt2_small_graph(a: str, b: str) -> None:
    """Counts on a 12x12 graph (~10^26 paths) by the product walk; never enumerated."""
    ha, hb = pp.paths(a), pp.paths(b)
    total = GPT2_SMALL.count_paths()
    na, nb = ha.count(GPT2_SMALL), hb.count(GPT2_SMALL)
    assert (ha | hb).count(GPT2_SMALL) + (ha & hb).count(GPT2_SMALL) == na + nb
    assert (~ha).count(GPT2_SMALL) == total - na
    assert (ha - hb).count(GPT2_SMALL) == na - (ha & hb).count(GPT2_SMALL)
    assert pp.paths([a, b]).count(GPT2_SMALL) == (ha | hb).count(GPT2_SMALL)


def test_gpt2_small_path_count_is_exact() -> None:
    total = GPT2_SMALL.count_paths()
    assert total > 10**20
    assert pp.all_paths().count(GPT2_SMALL) == total
    assert pp.paths("embed -> out").count(GPT2_SMALL) == 1
    # paths of length 2 through one head: 2 inputs x 3 channels x 144 heads
    assert pp.paths(["embed -> a*.* -> out", "pos -> a*.* -> out"]).count(GPT2_SMALL) == 2 * 3 * 144


def test_kept_edges_are_those_of_the_enumerated_paths() -> None:
    """The counting walk finds exactly the edges of the listed paths (positions dropped), in graph
    order; on the 12x12 graph, where nothing can be listed, the edges a literal count gives."""
    for hyp in (
        pp.paths("embed -> ... -> a1.1.k -> out") - pp.through("a0.0"),
        ~pp.through_edge("a0.1", "a1.0.k"),
        pp.through("m0") & ~pp.paths("pos -> ..."),
        pp.no_paths(),
        pp.all_paths(),
        pp.subgraph(["embed -> a0.0.q", "a0.0 -> out", "a0.1 -> a1.1.v"]),  # the last edge dangles
    ):
        want = {e for path in hyp.iter(SMALL) for e in path.edges}
        assert kept_edges(hyp, SMALL) == tuple(e for e in SMALL.edges if e in want), hyp
    for hyp in (pp.through("a1.1@-1"), pp.paths("embed@1 -> ... -> a1.0.k@2 -> out") | pp.through("m0@0")):
        want = {e for path in hyp.iter(SMALL, n_pos=3) for e in path.edges}
        assert kept_edges(hyp, SMALL, n_pos=3) == tuple(e for e in SMALL.edges if e in want), hyp
    a03 = Node.parse("a0.3")
    avoiding = kept_edges(~pp.through("a0.3"), GPT2_SMALL)
    assert set(avoiding) == {e for e in GPT2_SMALL.edges if a03 not in (e.sender, e.receiver.node)}
    assert len(kept_edges(pp.paths("embed -> a0.*.v -> out"), GPT2_SMALL)) == 2 * 12


def test_contains_validates_the_path() -> None:
    assert pp.paths("embed -> out").contains("embed -> out", SMALL)
    with pytest.raises(pp.PatternError, match="no edge a1.0 -> a0.0.q"):
        pp.all_paths().contains("embed -> a1.0.q -> a0.0.q -> out", SMALL)
    with pytest.raises(pp.PatternError, match="must end at 'out'"):
        pp.all_paths().contains("embed -> m0", SMALL)


def test_hypotheses_print_readably() -> None:
    h = (pp.paths("embed -> out") | pp.through("a1.0")) - ~pp.subgraph([])
    assert str(h) == "((embed -> out | a1.0) - ~subgraph(0 edges))"
    assert "embed -> out" in repr(pp.paths("embed -> out"))


def test_pattern_mistakes_are_named() -> None:
    with pytest.raises(pp.PatternError, match=r"^empty set \(token '\{\}' at column 0\)"):
        pp.paths("a{}.0")
    with pytest.raises(pp.PatternError, match=r"^an input node can only start a path \(token 'embed' at column 8\)"):
        pp.paths("a0.0 -> embed -> out")
    graph = Graph(pp.NativeConfig(n_layers=2, n_heads=2, d_model=8, d_head=4, d_vocab=11, n_ctx=6))
    for bad in (2.5, "3", 0):
        with pytest.raises(pp.InputError, match="n_pos is the sequence length, a positive int"):
            pp.through("a0.0@1").count(graph, n_pos=bad)  # type: ignore[arg-type]
