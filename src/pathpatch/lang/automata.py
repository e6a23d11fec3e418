"""Deterministic automata that read paths backwards, from ``out`` towards the input (DESIGN §2).

A path ``embed -> a0.1.v -> out`` is read as the letters ``out``, ``a0.1.v``, ``embed``. Every
automaton here is deterministic and complete, with hashable states, and offers two sound
shortcuts the engine relies on: ``dead(q)`` (no continuation can be accepted: every leaf below
is NEW) and ``full(q)`` (every continuation is accepted: every leaf below is REF). They may
answer False when unsure, never True wrongly.

Patterns compile to one NFA per union of patterns, determinised lazily by subset construction;
set algebra is a lazy product; a subgraph is a small automaton that remembers the last port.

Position-resolved walks (DESIGN §4) feed letters ``(letter, t)``: the letter and the position of
the copy it names. Automata built without a :class:`~pathpatch.lang.pattern.PosContext` ignore
positions; a pattern automaton built with one matches each element's positions against ``t``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Protocol

from ..graph import Edge, Node, Port
from .pattern import Element, Gap, Letter, LetterSet, PosContext

__all__ = [
    "Automaton",
    "PatternAutomaton",
    "SubgraphAutomaton",
    "ConstAutomaton",
    "ProductAutomaton",
    "ComplementAutomaton",
]

State = Hashable


class Automaton(Protocol):
    start: State

    def step(self, state: State, letter: Letter) -> State: ...
    def accepts(self, state: State) -> bool: ...
    def dead(self, state: State) -> bool: ...
    def full(self, state: State) -> bool: ...


class ConstAutomaton:
    """All paths (``accept=True``) or none."""

    def __init__(self, accept: bool) -> None:
        self.start: State = accept
        self._accept = accept

    def step(self, state: State, letter: Letter) -> State:
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

    def __init__(self, patterns: Iterable[tuple[Element, ...]], ctx: PosContext | None = None,
                 texts: Iterable[str] = ()) -> None:
        self.patterns = [tuple(reversed(p)) for p in patterns]
        self.ctx = ctx
        self._where = dict(zip(range(len(self.patterns)), texts))
        self._resolved: dict[frozenset[int | str], frozenset[int]] = {}
        if ctx is not None:
            for p, els in enumerate(self.patterns):
                for el in els:
                    if isinstance(el, LetterSet) and el.positions is not None and el.positions not in self._resolved:
                        self._resolved[el.positions] = ctx.resolve(el.positions, self._where.get(p, ""))
        self.start: State = self._close({(p, 0) for p in range(len(self.patterns))})
        self._steps: dict[tuple[State, Letter], State] = {}
        self._full: dict[State, bool] = {}

    def _close(self, states: set[tuple[int, int]]) -> frozenset[tuple[int, int]]:
        todo, seen = list(states), set(states)
        while todo:
            p, i = todo.pop()
            els = self.patterns[p]
            if i < len(els) and isinstance(els[i], Gap) and (p, i + 1) not in seen:
                seen.add((p, i + 1))
                todo.append((p, i + 1))
        return frozenset(seen)

    def step(self, state: State, letter: Letter) -> State:
        key = (state, letter)
        hit = self._steps.get(key)
        if hit is not None:
            return hit
        nxt: set[tuple[int, int]] = set()
        t = None
        if isinstance(letter, tuple):
            letter, t = letter
        for p, i in state:  # type: ignore[attr-defined]
            els = self.patterns[p]
            if i == len(els):
                continue
            el = els[i]
            if isinstance(el, Gap):
                nxt.add((p, i))
            elif el.matches(letter) and (t is None or self.ctx is None or el.matches_at(t, self._resolved)):
                nxt.add((p, i + 1))
        result = self._close(nxt)
        self._steps[key] = result
        return result

    def accepts(self, state: State) -> bool:
        return any(i == len(self.patterns[p]) for p, i in state)  # type: ignore[attr-defined]

    def dead(self, state: State) -> bool:
        return not state

    def full(self, state: State) -> bool:
        hit = self._full.get(state)
        if hit is None:
            hit = self._full[state] = any(all(isinstance(e, Gap) for e in self.patterns[p][i:])
                                          for p, i in state)  # type: ignore[attr-defined]
        return hit


_DEAD = "dead"


class SubgraphAutomaton:
    """Paths whose every edge is in ``edges``. State: the last port read (or dead/accepted)."""

    def __init__(self, edges: Iterable[Edge]) -> None:
        self.edges = frozenset(edges)
        self.start: State = None

    def step(self, state: State, letter: Letter) -> State:
        if isinstance(letter, tuple):
            letter = letter[0]  # edges carry no positions
        if state == _DEAD or isinstance(state, Node):
            return _DEAD  # nothing follows the input letter
        if state is None:  # the first letter must be `out`
            return letter if isinstance(letter, Port) and letter.node.kind == "out" else _DEAD
        sender = letter if isinstance(letter, Node) else letter.node
        return letter if Edge(sender, state) in self.edges else _DEAD  # type: ignore[arg-type]

    def accepts(self, state: State) -> bool:
        return isinstance(state, Node)

    def dead(self, state: State) -> bool:
        return state == _DEAD

    def full(self, state: State) -> bool:
        return False


class ProductAutomaton:
    """Union (``|``), intersection (``&``) or difference (``-``) of two automata."""

    def __init__(self, op: str, a: Automaton, b: Automaton) -> None:
        assert op in ("|", "&", "-")
        self.op, self.a, self.b = op, a, b
        self.start: State = (a.start, b.start)

    def step(self, state: State, letter: Letter) -> State:
        qa, qb = state  # type: ignore[misc]
        return (self.a.step(qa, letter), self.b.step(qb, letter))

    def accepts(self, state: State) -> bool:
        qa, qb = state  # type: ignore[misc]
        x, y = self.a.accepts(qa), self.b.accepts(qb)
        return x or y if self.op == "|" else x and y if self.op == "&" else x and not y

    def dead(self, state: State) -> bool:
        qa, qb = state  # type: ignore[misc]
        if self.op == "|":
            return self.a.dead(qa) and self.b.dead(qb)
        if self.op == "&":
            return self.a.dead(qa) or self.b.dead(qb)
        return self.a.dead(qa) or self.b.full(qb)

    def full(self, state: State) -> bool:
        qa, qb = state  # type: ignore[misc]
        if self.op == "|":
            return self.a.full(qa) or self.b.full(qb)
        if self.op == "&":
            return self.a.full(qa) and self.b.full(qb)
        return self.a.full(qa) and self.b.dead(qb)


class ComplementAutomaton:
    """Every path that ``inner`` rejects."""

    def __init__(self, inner: Automaton) -> None:
        self.inner = inner
        self.start: State = inner.start

    def step(self, state: State, letter: Letter) -> State:
        return self.inner.step(state, letter)

    def accepts(self, state: State) -> bool:
        return not self.inner.accepts(state)

    def dead(self, state: State) -> bool:
        return self.inner.full(state)

    def full(self, state: State) -> bool:
        return self.inner.dead(state)
