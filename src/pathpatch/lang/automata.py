"""Deterministic automata that read paths backwards, from ``out`` towards the input (docs/design.md §2).

A path ``embed -> a0.1.v -> out`` is read as the letters ``out``, ``a0.1.v``, ``embed``. Every
automaton here is deterministic and complete, with hashable states, and offers two sound
shortcuts the engine relies on: ``dead(q)`` (no continuation can be accepted: every leaf below
is NEW) and ``full(q)`` (every continuation is accepted: every leaf below is REF). They may
answer False when unsure, never True wrongly. ``dead_at(q, stage)`` and ``full_at(q, stage)`` say
the same for continuations made of the graph's letters at or below ``stage`` (a copy of a node
reads only its own ports and, below them, nodes of strictly earlier stages): a pattern whose
remaining letters cannot occur that low is dead there, so walks stop early without exploring
a subtree that the pattern can never reach.

Patterns compile to one NFA per union of patterns, determinised lazily by subset construction;
set algebra is a lazy product; edge-set hypotheses (subgraphs, edges used or avoided) have their
own small automaton (:mod:`.edges`).

Position-resolved walks (docs/design.md §4) feed letters ``(letter, t)``: the letter and the position of
the copy it names. Automata built without a :class:`~pathpatch.lang.pattern.PosContext` ignore
positions; a pattern automaton built with one matches each element's positions against ``t``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol, cast

from ..graph import Node, Port
from .edges import SubgraphAutomaton
from .nodecut import EdgeCut, NodeCut, any_cut, combine_cuts, cut_of_edges, cut_of_nodes
from .pattern import Element, Gap, Letter, LetterSet, PosContext, Symbol

if TYPE_CHECKING:
    from ..graph import Graph

__all__ = [
    "Automaton",
    "PatternAutomaton",
    "SubgraphAutomaton",
    "ConstAutomaton",
    "ProductAutomaton",
    "ComplementAutomaton",
    "Unstaged",
]

State = Hashable


def _positions(state: State) -> frozenset[tuple[int, int]]:
    """A :class:`PatternAutomaton` state: the (pattern, element) places the NFA is in."""
    return cast("frozenset[tuple[int, int]]", state)


def _pair(state: State) -> tuple[State, State]:
    """A :class:`ProductAutomaton` state: its two automata's states."""
    return cast("tuple[State, State]", state)


class Automaton(Protocol):
    start: State

    def step(self, state: State, letter: Symbol) -> State: ...
    def accepts(self, state: State) -> bool: ...
    def dead(self, state: State) -> bool: ...
    def full(self, state: State) -> bool: ...
    def dead_at(self, state: State, stage: int) -> bool: ...
    def full_at(self, state: State, stage: int) -> bool: ...


class Unstaged:
    """Mixin for automata that know nothing of stages: ``dead_at``/``full_at`` are the class's own
    ``dead``/``full``."""

    dead: Callable[[State], bool]
    full: Callable[[State], bool]

    def dead_at(self, state: State, stage: int) -> bool:
        return self.dead(state)

    def full_at(self, state: State, stage: int) -> bool:
        return self.full(state)


class ConstAutomaton(Unstaged):
    """All paths (``accept=True``) or none."""

    def __init__(self, accept: bool) -> None:
        self.start: State = accept
        self._accept = accept

    def step(self, state: State, letter: Symbol) -> State:
        return state

    def accepts(self, state: State) -> bool:
        return self._accept

    def dead(self, state: State) -> bool:
        return not self._accept

    def full(self, state: State) -> bool:
        return self._accept


class PatternAutomaton:
    """Union of patterns, each a tuple of elements, read right to left.

    NFA state ``(p, i)``: in pattern ``p``, the last ``i`` elements are consumed. The DFA state
    is the epsilon-closed frozenset of such pairs.
    """

    def __init__(
        self,
        patterns: Iterable[tuple[Element, ...]],
        ctx: PosContext | None = None,
        texts: Iterable[str] = (),
        graph: Graph | None = None,
    ) -> None:
        self.patterns = [tuple(reversed(p)) for p in patterns]
        # per element: the graph's letters it matches (so matching is a set lookup) and their
        # sorted stages (for dead_at); None where no graph is known
        elements = [el for els in self.patterns for el in els if isinstance(el, LetterSet)]
        self._letters: dict[int, frozenset[Letter]] | None = None
        self._stages: dict[int, list[int]] | None = None
        if graph is not None:
            matched = {id(el): _matched(el, graph) for el in elements}
            self._letters = {k: v[0] for k, v in matched.items()}
            self._stages = {k: v[1] for k, v in matched.items()}
        self._dead_at: dict[tuple[State, int], bool] = {}
        self.ctx = ctx
        self.graph = graph
        self._where = dict(zip(range(len(self.patterns)), texts))
        self._resolved: dict[frozenset[int | str], frozenset[int]] = {}
        if ctx is not None:
            for p, els in enumerate(self.patterns):
                for el in els:
                    if isinstance(el, LetterSet) and el.positions is not None and el.positions not in self._resolved:
                        self._resolved[el.positions] = ctx.resolve(el.positions, self._where.get(p, ""))
        self._closed: dict[frozenset[tuple[int, int]], frozenset[tuple[int, int]]] = {}
        self.start: State = self._close({(p, 0) for p in range(len(self.patterns))})
        self._steps: dict[tuple[State, Symbol], State] = {}
        self._full: dict[State, bool] = {}

    def _close(self, states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        key = frozenset(states)
        hit = self._closed.get(key)
        if hit is None:
            hit = self._closed[key] = self._closure(states)
        return hit

    def _closure(self, states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        todo, seen = list(states), set(states)
        while todo:
            p, i = todo.pop()
            els = self.patterns[p]
            if i < len(els) and isinstance(els[i], Gap) and (p, i + 1) not in seen:
                seen.add((p, i + 1))
                todo.append((p, i + 1))
        return frozenset(seen)

    def step(self, state: State, letter: Symbol) -> State:
        key = (state, letter)
        hit = self._steps.get(key)
        if hit is not None:
            return hit
        nxt: set[tuple[int, int]] = set()
        t = None
        if isinstance(letter, tuple):
            letter, t = letter
        for p, i in _positions(state):
            els = self.patterns[p]
            if i == len(els):
                continue
            el = els[i]
            if isinstance(el, Gap):
                nxt.add((p, i))
            elif (letter in self._letters[id(el)] if self._letters is not None else el.matches(letter)) and (
                t is None or self.ctx is None or el.matches_at(t, self._resolved)
            ):
                nxt.add((p, i + 1))
        result = self._close(nxt)
        self._steps[key] = result
        return result

    def accepts(self, state: State) -> bool:
        return any(i == len(self.patterns[p]) for p, i in _positions(state))

    def dead(self, state: State) -> bool:
        return not state

    def full(self, state: State) -> bool:
        hit = self._full.get(state)
        if hit is None:
            rests = (self.patterns[p][i:] for p, i in _positions(state))
            hit = self._full[state] = any(all(isinstance(e, Gap) for e in rest) for rest in rests)
        return hit

    def full_at(self, state: State, stage: int) -> bool:
        return self.full(state)

    def dead_at(self, state: State, stage: int) -> bool:
        if self._stages is None:
            return self.dead(state)
        key = (state, stage)
        hit = self._dead_at.get(key)
        if hit is None:
            hit = self._dead_at[key] = not any(self._live(p, i, stage) for p, i in _positions(state))
        return hit

    def as_cut(self, graph: Graph) -> NodeCut | EdgeCut | None:
        """The cut these patterns are (:mod:`.nodecut`), with a position context only: a node cut
        if each is one element naming whole nodes (every channel) of one stage (``... -> a1.{2,3}@5
        -> ...``, or ``embed@3 -> ...``); an edge cut if each is one edge, whole sender nodes into
        ports of one receiver (``a0.* -> a1.2.k@5``, ``embed@{0,1} -> m1``); else None."""
        if self.ctx is None or (graph is not self.graph and graph != self.graph):
            return None
        node = self._node_cut(graph)
        return node if node is not None else self._edge_cut(graph)

    def _node_cut(self, graph: Graph) -> NodeCut | None:
        assert self.ctx is not None
        cuts = []
        for els in self.patterns:  # read backwards: the implicit gaps come first
            letters = [el for el in els if isinstance(el, LetterSet)]
            if len(letters) != 1 or not isinstance(els[0], Gap):
                return None
            el = letters[0]
            if el.kind in ("out", "any") or (isinstance(els[-1], LetterSet) and not el.is_input):
                return None
            matched = _matched(el, graph)[0]
            nodes = {x if isinstance(x, Node) else x.node for x in matched}
            if any(not n.is_input and any(Port(n, c) not in matched for c in n.channels) for n in nodes):
                return None  # a port of a head, not the whole node: not a node cut
            where = range(self.ctx.n_pos) if el.positions is None else self._resolved[el.positions]
            cut = cut_of_nodes(graph, nodes, where)
            if cut is None:
                return None
            cuts.append(cut)
        if not cuts or len({c.stage for c in cuts}) != 1:
            return None
        return NodeCut(cuts[0].stage, frozenset().union(*(c.cut for c in cuts)))

    def _edge_cut(self, graph: Graph) -> EdgeCut | None:
        assert self.ctx is not None
        cuts = []
        for els in self.patterns:  # read backwards: receiver, then sender, gaps around them only
            core = list(els)
            while core and isinstance(core[0], Gap):
                core.pop(0)
            while core and isinstance(core[-1], Gap):
                core.pop()
            if len(core) != 2 or not all(isinstance(el, LetterSet) for el in core):
                return None
            receiver, sender = cast("tuple[LetterSet, LetterSet]", tuple(core))
            ports = [x for x in _matched(receiver, graph)[0] if isinstance(x, Port)]
            matched = _matched(sender, graph)[0]
            nodes = {x if isinstance(x, Node) else x.node for x in matched}
            if not all(n.is_input or all(Port(n, c) in matched for c in n.channels) for n in nodes):
                return None  # through one port of the sender: a longer path, no edge
            cut = cut_of_edges(graph, nodes, self._where_of(sender), ports, self._where_of(receiver))
            if cut is None:
                return None
            cuts.append(cut)
        if not cuts or len({c.receiver for c in cuts}) != 1:
            return None
        return EdgeCut(cuts[0].receiver, frozenset().union(*(c.edges for c in cuts)))

    def _where_of(self, el: LetterSet) -> frozenset[int]:
        assert self.ctx is not None
        return frozenset(range(self.ctx.n_pos)) if el.positions is None else self._resolved[el.positions]

    def _live(self, p: int, i: int, stage: int) -> bool:
        """Whether the rest of pattern ``p`` from element ``i`` can match letters read downwards
        from ``stage``: each letter lies at a strictly lower stage than the one before it."""
        assert self._stages is not None
        for el in self.patterns[p][i:]:
            if isinstance(el, Gap):
                continue
            stages = self._stages[id(el)]
            k = bisect_right(stages, stage)
            if k == 0:
                return False
            stage = stages[k - 1] - 1
        return True


@lru_cache(maxsize=1 << 14)
def _matched(el: LetterSet, graph: Graph) -> tuple[frozenset[Letter], list[int]]:
    """The letters of ``graph`` that ``el`` matches, and their sorted stages (cached: the same
    element recurs across the hypotheses of a scan)."""
    letters = [(x, -1) for x in graph.inputs] + [(p, graph.stage_of(p.node)) for p in graph.ports]
    hits = [(x, s) for x, s in letters if el.matches(x)]
    return frozenset(x for x, _ in hits), sorted({s for _, s in hits})


class ProductAutomaton:
    """Union (``|``), intersection (``&``) or difference (``-``) of two automata."""

    def __init__(self, op: str, a: Automaton, b: Automaton) -> None:
        assert op in ("|", "&", "-")
        self.op, self.a, self.b = op, a, b
        self.start: State = (a.start, b.start)

    def step(self, state: State, letter: Symbol) -> State:
        qa, qb = _pair(state)
        return (self.a.step(qa, letter), self.b.step(qb, letter))

    def accepts(self, state: State) -> bool:
        qa, qb = _pair(state)
        x, y = self.a.accepts(qa), self.b.accepts(qb)
        return x or y if self.op == "|" else x and y if self.op == "&" else x and not y

    def dead(self, state: State) -> bool:
        qa, qb = _pair(state)
        if self.op == "|":
            return self.a.dead(qa) and self.b.dead(qb)
        if self.op == "&":
            return self.a.dead(qa) or self.b.dead(qb)
        return self.a.dead(qa) or self.b.full(qb)

    def full(self, state: State) -> bool:
        qa, qb = _pair(state)
        if self.op == "|":
            return self.a.full(qa) or self.b.full(qb)
        if self.op == "&":
            return self.a.full(qa) and self.b.full(qb)
        return self.a.full(qa) and self.b.dead(qb)

    def dead_at(self, state: State, stage: int) -> bool:
        qa, qb = _pair(state)
        if self.op == "|":
            return self.a.dead_at(qa, stage) and self.b.dead_at(qb, stage)
        if self.op == "&":
            return self.a.dead_at(qa, stage) or self.b.dead_at(qb, stage)
        return self.a.dead_at(qa, stage) or self.b.full_at(qb, stage)

    def full_at(self, state: State, stage: int) -> bool:
        qa, qb = _pair(state)
        if self.op == "|":
            return self.a.full_at(qa, stage) or self.b.full_at(qb, stage)
        if self.op == "&":
            return self.a.full_at(qa, stage) and self.b.full_at(qb, stage)
        return self.a.full_at(qa, stage) and self.b.dead_at(qb, stage)

    def as_cut(self, graph: Graph) -> NodeCut | EdgeCut | None:
        """Two cuts of one kind at one place (node cuts at one stage, edge cuts into one
        receiver) combine into one: their sets combine as sets (:func:`.nodecut.combine_cuts`)."""
        return combine_cuts(self.op, any_cut(self.a, graph), any_cut(self.b, graph))


class ComplementAutomaton:
    """Every path that ``inner`` rejects."""

    def __init__(self, inner: Automaton) -> None:
        self.inner = inner
        self.start: State = inner.start

    def step(self, state: State, letter: Symbol) -> State:
        return self.inner.step(state, letter)

    def accepts(self, state: State) -> bool:
        return not self.inner.accepts(state)

    def dead(self, state: State) -> bool:
        return self.inner.full(state)

    def full(self, state: State) -> bool:
        return self.inner.dead(state)

    def dead_at(self, state: State, stage: int) -> bool:
        return self.inner.full_at(state, stage)

    def full_at(self, state: State, stage: int) -> bool:
        return self.inner.dead_at(state, stage)

    def as_cut(self, graph: Graph) -> NodeCut | EdgeCut | None:
        inner = any_cut(self.inner, graph)
        return None if inner is None else ~inner
