"""Hypotheses: symbolic sets of paths, combined with ``|``, ``&``, ``-`` and ``~``.

A hypothesis is model-independent until it is compiled against a :class:`~pathpatch.graph.Graph`
(``compile``), which also checks that every name it uses exists there. Counting and listing the
paths it holds on a model walk the product of the graph and the automaton, so counting is exact
and cheap even where listing would be astronomically long.

>>> h = paths("embed -> a1.*.v -> out") | through("a0.3")   # doctest: +SKIP
>>> h.count(model), h.list(model)[:3]                       # doctest: +SKIP
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..errors import PatternError
from ..graph import Edge, Graph, Node, Path, Port
from .automata import (
    Automaton,
    ComplementAutomaton,
    ConstAutomaton,
    PatternAutomaton,
    ProductAutomaton,
    SubgraphAutomaton,
)
from .pattern import LetterSet, parse_pattern

__all__ = [
    "Hypothesis",
    "paths",
    "all_paths",
    "no_paths",
    "through",
    "through_edge",
    "subgraph",
]


def _graph_of(model_or_graph: Any) -> Graph:
    graph = getattr(model_or_graph, "graph", model_or_graph)
    if not isinstance(graph, Graph):
        raise TypeError(f"expected a ResidualModel or Graph, got {type(model_or_graph).__name__}")
    return graph


class Hypothesis(ABC):
    """A set of paths. Subclasses say how to build the automaton; this class gives the algebra."""

    @abstractmethod
    def automaton(self, graph: Graph) -> Automaton:
        """The automaton on ``graph``; raise a typed error for names the graph lacks."""

    def compile(self, model_or_graph: Any) -> Automaton:
        """The automaton of this hypothesis on a model's graph (names checked, cached)."""
        return _compile(self, _graph_of(model_or_graph))

    def __or__(self, other: Hypothesis) -> Hypothesis:
        return _Binary("|", self, _check(other))

    def __and__(self, other: Hypothesis) -> Hypothesis:
        return _Binary("&", self, _check(other))

    def __sub__(self, other: Hypothesis) -> Hypothesis:
        return _Binary("-", self, _check(other))

    def __invert__(self) -> Hypothesis:
        return _Complement(self)

    def count(self, model_or_graph: Any) -> int:
        """How many paths of the model this hypothesis holds (exact, no enumeration)."""
        graph = _graph_of(model_or_graph)
        dfa = self.compile(graph)
        memo: dict[tuple[Node, Any], int] = {}
        rows: dict[tuple[int, Any], int] = {}  # ports with the same senders share their sums

        def row(port: Port, q: Any) -> int:
            key = (graph.sender_group(port), q)
            if key not in rows:
                rows[key] = sum(
                    int(dfa.accepts(dfa.step(q, u))) if u.is_input else below(u, q) for u in graph.senders(port)
                )
            return rows[key]

        def below(node: Node, state: Any) -> int:
            if dfa.dead(state):
                return 0
            key = (node, state)
            if key not in memo:
                memo[key] = sum(row(p, dfa.step(state, p)) for p in (Port(node, c) for c in node.channels))
            return memo[key]

        return below(Node("out"), dfa.start)

    def iter(self, model_or_graph: Any) -> Iterator[Path]:
        """The paths this hypothesis holds, input first (pruned walk: use on small models)."""
        graph = _graph_of(model_or_graph)
        dfa = self.compile(graph)

        def walk(node: Node, state: Any, suffix: tuple[Port, ...]) -> Iterator[Path]:
            if dfa.dead(state):
                return
            for channel in node.channels:
                port = Port(node, channel)
                q = dfa.step(state, port)
                for sender in graph.senders(port):
                    if sender.is_input:
                        if dfa.accepts(dfa.step(q, sender)):
                            yield Path(sender, (port,) + suffix)
                    else:
                        yield from walk(sender, q, (port,) + suffix)

        yield from walk(Node("out"), dfa.start, ())

    def list(self, model_or_graph: Any, limit: int | None = None) -> list[Path]:
        """Up to ``limit`` paths (all if None), sorted by their names."""
        out: list[Path] = []
        for path in self.iter(model_or_graph):
            out.append(path)
            if limit is not None and len(out) >= limit:
                break
        return sorted(out, key=lambda p: p.name)

    def contains(self, path: Path | str, model_or_graph: Any) -> bool:
        """Whether ``path`` (checked against the model's graph) is in this hypothesis."""
        graph = _graph_of(model_or_graph)
        path = graph.validate(Path.parse(path) if isinstance(path, str) else path)
        dfa = self.compile(graph)
        state = dfa.start
        for letter in reversed((path.start,) + path.ports):
            state = dfa.step(state, letter)
        return dfa.accepts(state)

    def __repr__(self) -> str:
        return f"<Hypothesis {self}>"


def _check(other: Any) -> Hypothesis:
    if not isinstance(other, Hypothesis):
        raise TypeError(f"hypotheses combine with hypotheses, not {type(other).__name__}; wrap patterns in paths(...)")
    return other


@lru_cache(maxsize=1024)
def _compile(hyp: Hypothesis, graph: Graph) -> Automaton:
    return hyp.automaton(graph)


@dataclass(frozen=True, repr=False)
class Patterns(Hypothesis):
    """The union of path patterns (see :mod:`pathpatch.lang.pattern`)."""

    texts: tuple[str, ...]

    def __post_init__(self) -> None:
        for text in self.texts:
            parse_pattern(text)  # syntax errors surface at construction

    def automaton(self, graph: Graph) -> Automaton:
        parsed = [parse_pattern(t) for t in self.texts]
        letters = list(graph.inputs) + list(graph.ports)
        for text, elements in zip(self.texts, parsed):
            for el in elements:
                if isinstance(el, LetterSet) and not any(el.matches(x) for x in letters):
                    raise graph.unknown(el.text, text, el.column)
        return PatternAutomaton(parsed)

    def __str__(self) -> str:
        return " | ".join(self.texts) if len(self.texts) < 4 else f"{self.texts[0]} | ... ({len(self.texts)} patterns)"


@dataclass(frozen=True, repr=False)
class _Const(Hypothesis):
    accept: bool

    def automaton(self, graph: Graph) -> Automaton:
        return ConstAutomaton(self.accept)

    def __str__(self) -> str:
        return "all_paths()" if self.accept else "no_paths()"


@dataclass(frozen=True, repr=False)
class Subgraph(Hypothesis):
    """Paths whose every edge is in ``edges`` (edge / subgraph patching)."""

    edges: frozenset[Edge]

    def automaton(self, graph: Graph) -> Automaton:
        known = set(graph.edges)
        for edge in sorted(self.edges):
            if edge.sender not in graph.nodes:
                raise graph.unknown(edge.sender.name, edge.name, 0)
            if edge.receiver not in set(graph.ports):
                raise graph.unknown(edge.receiver.name, edge.name, edge.name.index("->") + 3)
            if edge not in known:
                raise PatternError("no such edge: a sender must come before its receiver", edge.name, edge.name, 0)
        return SubgraphAutomaton(self.edges)

    def __str__(self) -> str:
        return f"subgraph({len(self.edges)} edges)"


@dataclass(frozen=True, repr=False)
class _Binary(Hypothesis):
    op: str
    a: Hypothesis
    b: Hypothesis

    def automaton(self, graph: Graph) -> Automaton:
        return ProductAutomaton(self.op, self.a.compile(graph), self.b.compile(graph))

    def __str__(self) -> str:
        return f"({self.a} {self.op} {self.b})"


@dataclass(frozen=True, repr=False)
class _Complement(Hypothesis):
    inner: Hypothesis

    def automaton(self, graph: Graph) -> Automaton:
        return ComplementAutomaton(self.inner.compile(graph))

    def __str__(self) -> str:
        return f"~{self.inner}"


def paths(spec: str | Path | Iterable[str | Path]) -> Hypothesis:
    """A hypothesis from one pattern, or the union of several (strings or :class:`Path` objects)."""
    if isinstance(spec, (str, Path)):
        spec = [spec]
    texts = tuple(s.name if isinstance(s, Path) else s for s in spec)
    if not texts:
        return no_paths()
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"patterns are strings or Path objects, got {type(bad[0]).__name__}")
    return Patterns(texts)


def all_paths() -> Hypothesis:
    """Every path: evaluates to the clean run on x_ref."""
    return _Const(True)


def no_paths() -> Hypothesis:
    """No path: evaluates to the ablated run (x_new, or the mean / zero ablation)."""
    return _Const(False)


def through(node: str | Node) -> Hypothesis:
    """Every path through ``node`` (any channel); for an input, every path starting there.

    ``node`` may be one pattern element with wildcards: ``through("a1.*")`` is every path through
    some layer-1 head, ``through("a1.0.k")`` every path entering head 1.0 through k.
    """
    name = node.name if isinstance(node, Node) else node
    if "->" in name:
        raise PatternError("through() takes one node, not a path; use paths(...) for chains", name, "->",
                           name.index("->"))
    return Patterns((name.strip(),))


def through_edge(sender: str | Node, receiver: str | Port) -> Hypothesis:
    """Every path that uses the edge ``sender -> receiver`` (receiver ``a1.5.k``, ``m2`` or ``out``)."""
    s = sender.name if isinstance(sender, Node) else sender
    r = receiver.name if isinstance(receiver, Port) else receiver
    edge = Edge.parse(f"{s} -> {r}")
    return Patterns((edge.name,))


def subgraph(edges: Iterable[Edge | str]) -> Hypothesis:
    """Paths whose every edge is kept: ``edges`` as :class:`Edge` objects or ``"a0.1 -> a1.0.k"``."""
    return Subgraph(frozenset(e if isinstance(e, Edge) else Edge.parse(e) for e in edges))
