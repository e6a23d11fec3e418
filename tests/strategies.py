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
    # No constant leaves (all_paths / no_paths): they plan to zero MIXED copies; their own tests cover them.
    kind = draw(st.sampled_from(["explicit", "pattern", "pattern", "through", "edge", "subgraph"]))
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
    # subgraph: each edge kept with its own coin (a set drawn with min_size=half kept nearly every edge)
    keep = draw(st.lists(st.booleans(), min_size=len(graph.edges), max_size=len(graph.edges)))
    kept = {e for e, k in zip(graph.edges, keep) if k}
    return H.subgraph(kept), lambda p: all(e in kept for e in p.edges)


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


# ---------------------------------------------------------------- position-resolved hypotheses
# An oracle here is member(path, n_pos, names) -> bool over position-resolved paths.

PosOracle = Callable[[Path, int, dict], bool]


def pos_tokens_of(path: Path) -> str:
    return "".join(f"|{name}" for name in path.name.split(" -> ")) + "|"


@st.composite
def _position(draw, n_pos: int):  # type: ignore[no-untyped-def]
    """A position suffix and a function (n_pos, names) -> regex of the positions it means."""
    kind = draw(st.sampled_from(["none", "abs", "neg", "name", "set"]))
    if kind == "none":
        return "", lambda n, names: r"\d+"
    if kind == "abs":
        t = draw(st.integers(0, n_pos - 1))
        return f"@{t}", lambda n, names: str(t)
    if kind == "neg":
        t = draw(st.integers(1, n_pos))
        return f"@-{t}", lambda n, names: str(n - t)
    if kind == "name":
        return "@END", lambda n, names: str(names["END"])
    chosen = sorted(draw(st.sets(st.integers(0, n_pos - 1), min_size=1, max_size=n_pos)))
    spec = "{" + ",".join(map(str, chosen)) + ",END}"
    return f"@{spec}", lambda n, names: "(?:" + "|".join(map(str, chosen + [names["END"]])) + ")"


@st.composite
def pos_patterns(draw, graph: Graph, n_pos: int) -> tuple[H.Hypothesis, PosOracle]:  # type: ignore[no-untyped-def]
    parts: list[tuple[str, Callable]] = []  # (text, (n, names) -> regex)
    head = draw(st.sampled_from([None] + [n.name for n in graph.inputs]))
    if head:
        suffix, where = draw(_position(n_pos))
        parts.append((head + suffix, lambda n, names, h=head, w=where: rf"\|{h}@{w(n, names)}"))
    for _ in range(draw(st.integers(0, 3))):
        text, regex = draw(elements(graph))
        if text == "...":
            parts.append((text, lambda n, names: GAP))
            continue
        suffix, where = draw(_position(n_pos))
        body = r"\|[^|@]+" if regex == r"\|[^|]+" else regex
        parts.append((text + suffix, lambda n, names, b=body, w=where: rf"{b}@{w(n, names)}"))
    tail = draw(st.booleans())
    if tail:
        suffix, where = draw(_position(n_pos))
        parts.append(("out" + suffix, lambda n, names, w=where: rf"\|out@{w(n, names)}"))
    if not parts:
        parts = [("...", lambda n, names: GAP)]
    texts = [t for t, _ in parts]
    if not any("@" in t for t in texts) and tail:  # make it positional ('out' must stay last)
        texts[-1] = "out@-1"
        parts[-1] = ("out@-1", lambda n, names: rf"\|out@{n - 1}")
    elif not any("@" in t for t in texts):
        texts.append("*@-1")
        parts.append(("*@-1", lambda n, names: rf"\|[^|@]+@{n - 1}"))

    def member(path: Path, n: int, names: dict) -> bool:
        regex = ("" if head else GAP) + "".join(r(n, names) for _, r in parts) + ("" if tail else GAP) + r"\|"
        return re.fullmatch(regex, pos_tokens_of(path)) is not None

    return H.paths(" -> ".join(texts)), member


@st.composite
def pos_leaves(draw, graph: Graph, n_pos: int) -> tuple[H.Hypothesis, PosOracle]:  # type: ignore[no-untyped-def]
    kind = draw(st.sampled_from(["pattern", "pattern", "pattern", "plain", "edge"]))
    if kind == "pattern":
        return draw(pos_patterns(graph, n_pos))
    if kind == "plain":  # a position-free hypothesis: positions do not matter
        hyp, member = draw(leaves(graph, list(graph.iter_paths())))
        return hyp, lambda p, n, names: member(Path(p.start, p.ports))
    edge = draw(st.sampled_from(graph.edges))
    t = draw(st.integers(0, n_pos - 1))
    t_send = draw(st.sampled_from(list(graph.sender_positions(edge.receiver, t))))

    def member(p: Path, n: int, names: dict) -> bool:
        letters = list(zip((p.start,) + tuple(x.node for x in p.ports[:-1]), p.ports, p.positions, p.positions[1:]))
        return any(s == edge.sender and r == edge.receiver and a == t_send and b == t for s, r, a, b in letters)

    return H.through_edge(f"{edge.sender.name}@{t_send}", f"{edge.receiver.name}@{t}"), member


def pos_hypotheses(graph: Graph, n_pos: int) -> st.SearchStrategy[tuple[H.Hypothesis, PosOracle]]:
    def extend(children: st.SearchStrategy) -> st.SearchStrategy:  # type: ignore[type-arg]
        def combine(pair):  # type: ignore[no-untyped-def]
            op, (a, fa), (b, fb) = pair
            if op == "|":
                return a | b, lambda *x: fa(*x) or fb(*x)
            if op == "&":
                return a & b, lambda *x: fa(*x) and fb(*x)
            if op == "-":
                return a - b, lambda *x: fa(*x) and not fb(*x)
            return ~a, lambda *x: not fa(*x)

        return st.tuples(st.sampled_from("|&-~"), children, children).map(combine)

    return st.recursive(pos_leaves(graph, n_pos), extend, max_leaves=3)
