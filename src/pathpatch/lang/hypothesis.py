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

from ..errors import EmptyPathSetError, InputError, PatternError
from ..graph import Edge, Graph, GraphSource, Node, Path, Port, graph_of
from .automata import (
    Automaton,
    ComplementAutomaton,
    ConstAutomaton,
    PatternAutomaton,
    ProductAutomaton,
    SubgraphAutomaton,
)
from .edges import combine_edges
from .pattern import LetterSet, PosContext, parse_pattern, uses_positions
from .walks import count_accepted, iter_accepted

__all__ = [
    "Hypothesis",
    "paths",
    "all_paths",
    "no_paths",
    "through",
    "through_edge",
    "subgraph",
    "check_hypotheses",
]


class Hypothesis(ABC):
    """A set of paths. Subclasses say how to build the automaton; this class gives the algebra.

    A hypothesis is *positional* when a pattern in it names positions (``a1.0@-1``); it then holds
    position-resolved paths, and counting or listing it needs the sequence length ``n_pos`` (and
    ``positions``, the named positions of one example, if it uses names like ``END``).
    """

    @abstractmethod
    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        """The automaton on ``graph``; raise a typed error for names the graph lacks."""

    @property
    def positional(self) -> bool:
        """Whether a pattern in this hypothesis names positions."""
        return False

    def compile(self, model_or_graph: GraphSource, ctx: PosContext | None = None) -> Automaton:
        """The automaton of this hypothesis on a model's graph (names checked, cached)."""
        return _compile(self, graph_of(model_or_graph), ctx)

    def context(self, n_pos: int | None, positions: dict[str, int] | None = None) -> PosContext | None:
        """The position context for counting or listing: None (position-free) unless ``n_pos`` is given."""
        if n_pos is not None and (isinstance(n_pos, bool) or not isinstance(n_pos, int) or n_pos < 1):
            raise InputError(f"n_pos is the sequence length, a positive int, got {n_pos!r}")
        if positions is not None and not isinstance(positions, dict):
            raise TypeError(f"positions must be a dict {{name: position}}, got {type(positions).__name__}")
        if n_pos is None:
            if self.positional:
                raise InputError(
                    f"{self} names positions: pass n_pos= (the sequence length) and, for named "
                    "positions like END, positions={'END': 5} to count or list its paths"
                )
            return None
        return PosContext.of(n_pos, positions)

    def __or__(self, other: Hypothesis) -> Hypothesis:
        return _Binary("|", self, _check(other))

    def __and__(self, other: Hypothesis) -> Hypothesis:
        return _Binary("&", self, _check(other))

    def __sub__(self, other: Hypothesis) -> Hypothesis:
        return _Binary("-", self, _check(other))

    def __invert__(self) -> Hypothesis:
        return _Complement(self)

    def count(
        self, model_or_graph: GraphSource, n_pos: int | None = None, positions: dict[str, int] | None = None
    ) -> int:
        """How many paths of the model this hypothesis holds (exact, no enumeration).

        With ``n_pos``, the position-resolved paths over ``n_pos`` positions are counted.
        """
        graph = graph_of(model_or_graph)
        ctx = self.context(n_pos, positions)
        return count_accepted(self.compile(graph, ctx), graph, n_pos if ctx else None)

    def iter(
        self, model_or_graph: GraphSource, n_pos: int | None = None, positions: dict[str, int] | None = None
    ) -> Iterator[Path]:
        """The paths this hypothesis holds, input first (pruned walk: use on small models).

        With ``n_pos``, the position-resolved paths over ``n_pos`` positions.
        """
        graph = graph_of(model_or_graph)
        ctx = self.context(n_pos, positions)
        return iter_accepted(self.compile(graph, ctx), graph, n_pos if ctx else None)

    def list(
        self,
        model_or_graph: GraphSource,
        limit: int | None = None,
        n_pos: int | None = None,
        positions: dict[str, int] | None = None,
    ) -> list[Path]:
        """Up to ``limit`` paths (all if None), sorted by their names."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InputError(f"limit must be None (all paths) or a non-negative int, got {limit!r}")
        if limit == 0:
            return []
        out: list[Path] = []
        for path in self.iter(model_or_graph, n_pos, positions):
            out.append(path)
            if limit is not None and len(out) >= limit:
                break
        return sorted(out, key=lambda p: p.name)

    def contains(
        self,
        path: Path | str,
        model_or_graph: GraphSource,
        n_pos: int | None = None,
        positions: dict[str, int] | None = None,
    ) -> bool:
        """Whether ``path`` (checked against the model's graph) is in this hypothesis.

        A position-resolved path (``embed@0 -> a1.0.k@2 -> out@2``) needs ``n_pos`` when the
        hypothesis names positions.
        """
        graph = graph_of(model_or_graph)
        path = graph.validate(Path.parse(path) if isinstance(path, str) else path)
        if path.positions is None and self.positional:
            raise InputError(f"{self} names positions; give the path's positions, e.g. 'embed@0 -> a1.0.k@2 -> out@2'")
        if path.positions is not None and n_pos is None:
            n_pos = max(path.positions) + 1
        ctx = self.context(n_pos, positions) if path.positions is not None else None
        dfa = self.compile(graph, ctx)
        state = dfa.start
        for letter in reversed(path.letters):
            state = dfa.step(state, letter)
        return dfa.accepts(state)

    def __repr__(self) -> str:
        return f"<Hypothesis {self}>"


def _check(other: object) -> Hypothesis:
    if not isinstance(other, Hypothesis):
        raise TypeError(f"hypotheses combine with hypotheses, not {type(other).__name__}; wrap patterns in paths(...)")
    return other


@lru_cache(maxsize=1024)
def _compile(hyp: Hypothesis, graph: Graph, ctx: PosContext | None) -> Automaton:
    return hyp.automaton(graph, ctx)


@dataclass(frozen=True, repr=False)
class Patterns(Hypothesis):
    """The union of path patterns (see :mod:`pathpatch.lang.pattern`)."""

    texts: tuple[str, ...]

    def __post_init__(self) -> None:
        for text in self.texts:
            parse_pattern(text)  # syntax errors surface at construction

    @property
    def positional(self) -> bool:
        return any(uses_positions(parse_pattern(t)) for t in self.texts)

    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        parsed = [parse_pattern(t) for t in self.texts]
        letters = list(graph.inputs) + list(graph.ports)
        for text, elements in zip(self.texts, parsed):
            for el in elements:
                if isinstance(el, LetterSet) and not any(el.matches(x) for x in letters):
                    raise graph.unknown(el.text, text, el.column)
        return PatternAutomaton(parsed, ctx, self.texts, graph)

    def __str__(self) -> str:
        return " | ".join(self.texts) if len(self.texts) < 4 else f"{self.texts[0]} | ... ({len(self.texts)} patterns)"


def missing_edge(graph: Graph, edge: Edge, text: str) -> EmptyPathSetError:
    """The error for a named edge that is not in ``graph``, saying why."""
    why = graph.why_no_edge(edge)
    return EmptyPathSetError(
        f"no edge {edge.name} in this model ({graph.describe()}): {why}; list the edges with model.graph.edges",
        text,
        text,
        0,
    )


def _edge_positions_possible(text: str, ctx: PosContext, channel: str | None) -> bool:
    """Whether some sender position can feed some receiver position in ``text`` (``u@s -> v@r``):
    into k or v from any position at or before the query's, else at the same position."""
    first, second = [el for el in parse_pattern(text) if isinstance(el, LetterSet)][:2]
    every = frozenset(range(ctx.n_pos))
    senders = every if first.positions is None else ctx.resolve(first.positions, text)
    receivers = every if second.positions is None else ctx.resolve(second.positions, text)
    if channel in ("k", "v"):
        return bool(senders and receivers) and min(senders) <= max(receivers)
    return bool(senders & receivers)


@dataclass(frozen=True, repr=False)
class _EdgePattern(Patterns):
    """The paths through one named edge: an edge the model lacks, or positions it cannot join, are
    an :class:`~pathpatch.errors.EmptyPathSetError`, never an empty set that scores as something."""

    edge: Edge | None = None

    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        text, edge = self.texts[0], self.edge
        assert edge is not None  # through_edge always names one (the default only orders the fields)
        if "@" not in text and graph.has_edge(edge):
            # the paths that use one edge: the edge-set family's small automaton (lang/edges.py)
            return SubgraphAutomaton(dropped={edge}, negated=True, graph=graph)
        dfa = super().automaton(graph, ctx)  # unknown names first
        if not graph.has_edge(edge):
            raise missing_edge(graph, edge, text)
        if ctx is not None and not _edge_positions_possible(text, ctx, edge.receiver.channel):
            raise EmptyPathSetError(
                f"the edge {text} joins no positions of a {ctx.n_pos}-token sequence: an edge "
                "into k or v comes from a position at or before the receiver's, any other "
                "edge stays at one position",
                text,
                text,
                0,
            )
        return dfa


@dataclass(frozen=True, repr=False)
class _Const(Hypothesis):
    accept: bool

    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        return ConstAutomaton(self.accept)

    def __str__(self) -> str:
        return "all_paths()" if self.accept else "no_paths()"


@dataclass(frozen=True, repr=False)
class Subgraph(Hypothesis):
    """Paths whose every edge is in ``edges`` (edge / subgraph patching)."""

    edges: frozenset[Edge]

    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        missing = self.edges - graph.edge_set  # the planner lists every edge anyway
        nodes, ports = set(graph.nodes), set(graph.ports)
        for edge in sorted(missing):
            if edge.sender not in nodes:
                raise graph.unknown(edge.sender.name, edge.name, 0)
            if edge.receiver not in ports:
                raise graph.unknown(edge.receiver.name, edge.name, edge.name.index("->") + 3)
            raise missing_edge(graph, edge, edge.name)
        return SubgraphAutomaton(self.edges)

    def __str__(self) -> str:
        return f"subgraph({len(self.edges)} edges)"


@dataclass(frozen=True, repr=False)
class _Binary(Hypothesis):
    op: str
    a: Hypothesis
    b: Hypothesis

    @property
    def positional(self) -> bool:
        return self.a.positional or self.b.positional

    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        a, b = self.a.compile(graph, ctx), self.b.compile(graph, ctx)
        return combine_edges(self.op, a, b, graph) or ProductAutomaton(self.op, a, b)

    def __str__(self) -> str:
        return f"({self.a} {self.op} {self.b})"


@dataclass(frozen=True, repr=False)
class _Complement(Hypothesis):
    inner: Hypothesis

    @property
    def positional(self) -> bool:
        return self.inner.positional

    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        inner = self.inner.compile(graph, ctx)
        return inner.negate() if isinstance(inner, SubgraphAutomaton) else ComplementAutomaton(inner)

    def __str__(self) -> str:
        return f"~{self.inner}"


def paths(spec: str | Path | Iterable[str | Path]) -> Hypothesis:
    """A hypothesis from one pattern, or the union of several (strings or :class:`Path` objects)."""
    if isinstance(spec, (str, Path)):
        spec = [spec]
    if not isinstance(spec, Iterable) or isinstance(spec, (bytes, Hypothesis)):
        raise TypeError(
            f"paths() takes a pattern string (e.g. 'embed -> a1.*.v -> out'), a Path, or a list of "
            f"them, got {type(spec).__name__}"
        )
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
    if not isinstance(node, (str, Node, Port)):
        raise TypeError(f"through() takes a node name such as 'a0.3' or 'a1.*', or a Node, got {type(node).__name__}")
    name = node if isinstance(node, str) else node.name
    if "->" in name:
        raise PatternError(
            "through() takes one node, not a path; use paths(...) for chains", name, "->", name.index("->")
        )
    return Patterns((name.strip(),))


def through_edge(sender: str | Node, receiver: str | Port) -> Hypothesis:
    """Every path that uses the edge ``sender -> receiver`` (receiver ``a1.5.k``, ``m2`` or ``out``).

    Either end may carry a position: ``through_edge("a0.2@4", "a1.0.k@7")``.
    """
    if not isinstance(sender, (str, Node)):
        raise TypeError(
            f"through_edge: sender must be a node name such as 'a0.3', or a Node, got {type(sender).__name__}"
        )
    if not isinstance(receiver, (str, Port)):
        raise TypeError(
            f"through_edge: receiver must be a port name such as 'a1.5.k', 'm2' or 'out', or a Port, "
            f"got {type(receiver).__name__}"
        )
    s = (sender.name if isinstance(sender, Node) else sender).strip()
    r = (receiver.name if isinstance(receiver, Port) else receiver).strip()
    edge = Edge.parse(f"{s.partition('@')[0]} -> {r.partition('@')[0]}")
    if "@" in s or "@" in r:
        return _EdgePattern((f"{s} -> {r}",), edge)
    return _EdgePattern((edge.name,), edge)


def subgraph(edges: Iterable[Edge | str]) -> Hypothesis:
    """Paths whose every edge is kept: ``edges`` as :class:`Edge` objects or ``"a0.1 -> a1.0.k"``."""
    if isinstance(edges, (str, Edge)) or not isinstance(edges, Iterable):
        raise TypeError(
            f"subgraph() takes a list of edges ('a0.1 -> a1.0.k' strings or Edge objects), got {type(edges).__name__}"
        )
    items = list(edges)
    bad = [e for e in items if not isinstance(e, (str, Edge))]
    if bad:
        raise TypeError(f"subgraph() edges are 'a0.1 -> a1.0.k' strings or Edge objects, got {type(bad[0]).__name__}")
    return Subgraph(frozenset(e if isinstance(e, Edge) else Edge.parse(e) for e in items))


def check_hypotheses(hypotheses: object, where: str) -> list[Hypothesis]:
    """A non-empty list of :class:`Hypothesis` objects (the check at the edge of every public function)."""
    if isinstance(hypotheses, Hypothesis):
        raise TypeError(
            f"{where}: hypotheses must be a list of Hypothesis objects, got one Hypothesis; wrap it in a list: [h]"
        )
    if isinstance(hypotheses, (str, bytes)) or not isinstance(hypotheses, Iterable):
        raise TypeError(
            f"{where}: hypotheses must be a list of Hypothesis objects (see pathpatch.paths), "
            f"got {type(hypotheses).__name__}"
        )
    out = list(hypotheses)
    for h in out:
        if not isinstance(h, Hypothesis):
            raise TypeError(
                f"{where}: expected Hypothesis objects (see pathpatch.paths), got {type(h).__name__}"
                + ("; wrap pattern strings in pathpatch.paths(...)" if isinstance(h, str) else "")
            )
    if not out:
        raise InputError(f"{where}: got no hypotheses; pass at least one, e.g. [pathpatch.all_paths()]")
    return out
