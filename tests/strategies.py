"""Random hypotheses paired with an independent membership oracle (for property tests).

Each strategy draws ``(hypothesis, member)`` where ``member(path) -> bool`` is written here in
plain Python (regexes over path names, sets of edges), not with the package's automata.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hypothesis import strategies as st

import pathpatch.lang.hypothesis as H
from pathpatch.graph import Edge, Graph, Path

Oracle = Callable[[Path], bool]
GAP = r"(?:\|[^|]+)*"


def _num(draw, values: list[int]) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["one", "star", "set"]))
    if kind == "one":
        v = draw(st.sampled_from(values))
        return str(v), str(v)
    if kind == "star":
        return "*", r"\d+"
    chosen = sorted(draw(st.sets(st.sampled_from(values), min_size=1, max_size=len(values))))
    return "{" + ",".join(map(str, chosen)) + "}", "(?:" + "|".join(map(str, chosen)) + ")"


@st.composite
def elements(draw, graph: Graph) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A middle element (not an input, not out): its text and its regex over ``|name`` tokens."""
    cfg = graph.config
    kinds = ["head", "head", "layer", "star", "gap"] + (["mlp"] if cfg.has_mlp else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "gap":
        return "...", GAP
    if kind == "star":
        return "*", r"\|[^|]+"
    if kind == "mlp":
        t, r = _num(draw, list(range(cfg.n_layers)))
        return f"m{t}", rf"\|m{r}"
    lt, lr = _num(draw, list(range(cfg.n_layers)))
    if kind == "layer":
        return f"a{lt}", rf"\|a{lr}\.\d+\.[qkv]"
    ht, hr = _num(draw, list(range(cfg.n_heads)))
    ch = draw(st.sampled_from(["", "q", "k", "v", "*", "{q,k}", "{k,v}"]))
    cr = {"": "[qkv]", "*": "[qkv]", "{q,k}": "[qk]", "{k,v}": "[kv]"}.get(ch, ch)
    return f"a{lt}.{ht}" + (f".{ch}" if ch else ""), rf"\|a{lr}\.{hr}\.{cr}"


def tokens_of(path: Path) -> str:
    return "".join("|" + t for t in [path.start.name] + [p.name for p in path.ports]) + "|"


@st.composite
def patterns(draw, graph: Graph) -> tuple[H.Hypothesis, Oracle]:  # type: ignore[no-untyped-def]
    inputs = [n.name for n in graph.inputs]
    middle = draw(st.lists(elements(graph), min_size=0, max_size=3))
    head = draw(st.sampled_from([None] + inputs))
    tail = draw(st.booleans())
    texts = ([head] if head else []) + [t for t, _ in middle] + (["out"] if tail else [])
    if not texts:
        texts, middle = ["..."], [("...", GAP)]
    regex = (rf"\|{head}" if head else GAP) + "".join(r for _, r in middle) + (r"\|out" if tail else GAP) + r"\|"
    compiled = re.compile(regex)
    return H.paths(" -> ".join(texts)), lambda p: compiled.fullmatch(tokens_of(p)) is not None


@st.composite
def leaves(draw, graph: Graph, all_paths: list[Path]) -> tuple[H.Hypothesis, Oracle]:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["explicit", "pattern", "pattern", "through", "edge", "subgraph", "const"]))
    if kind == "explicit":
        chosen = draw(st.sets(st.sampled_from(all_paths), max_size=len(all_paths)))
        names = {p.name for p in chosen}
        return H.paths(sorted(names)), lambda p: p.name in names
    if kind == "pattern":
        return draw(patterns(graph))
    if kind == "through":
        node = draw(st.sampled_from(graph.nodes))
        return H.through(node.name), lambda p: node in (p.start,) + tuple(x.node for x in p.ports)
    if kind == "edge":
        edge = draw(st.sampled_from(graph.edges))
        return H.through_edge(edge.sender.name, edge.receiver.name), lambda p: edge in p.edges
    if kind == "subgraph":
        kept = draw(st.sets(st.sampled_from(graph.edges), min_size=len(graph.edges) // 2))
        return H.subgraph(kept), lambda p: all(e in kept for e in p.edges)
    accept = draw(st.booleans())
    return (H.all_paths() if accept else H.no_paths()), lambda p: accept


def hypotheses(graph: Graph, all_paths: list[Path]) -> st.SearchStrategy[tuple[H.Hypothesis, Oracle]]:
    def extend(children: st.SearchStrategy) -> st.SearchStrategy:  # type: ignore[type-arg]
        def combine(pair):  # type: ignore[no-untyped-def]
            op, (a, fa), (b, fb) = pair
            if op == "|":
                return a | b, lambda p: fa(p) or fb(p)
            if op == "&":
                return a & b, lambda p: fa(p) and fb(p)
            if op == "-":
                return a - b, lambda p: fa(p) and not fb(p)
            return ~a, lambda p: not fa(p)

        return st.tuples(st.sampled_from("|&-~"), children, children).map(combine)

    return st.recursive(leaves(graph, all_paths), extend, max_leaves=4)


def edge_of(text: str) -> Edge:
    return Edge.parse(text)
