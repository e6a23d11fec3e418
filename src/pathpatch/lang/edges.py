"""Edge-set hypotheses as one small automaton: "only kept edges" and "some dropped edge".

Many hypotheses people test are statements about edges, not about longer patterns:

- ``subgraph(K)``: the paths whose every edge is in ``K`` (edge / subgraph patching);
- ``through_edge(u, p)``: the paths that use the edge ``u -> p``; unions of these (a sender's
  edges into several receivers) use some edge of a set ``R``;
- their complements: ``~through_edge(u, p)`` is every path avoiding ``u -> p``, which is
  ``subgraph(E - {u -> p})`` (the IOI paper's sender→receiver patching).

All of them are ``Only(K)`` ("every edge kept") or its complement ``Uses(E - K)``, with ``K`` given
either as the kept edges or, when few are dropped, as the dropped ones. The algebra stays inside
this family where it can: ``Only(K1) & Only(K2) = Only(K1 ∩ K2)``, ``~Only(K) = Uses(E - K)``, and
``Uses(R1) | Uses(R2) = Uses(R1 ∪ R2)``. Staying inside pays twice: the planner plans ``Only(K)``
from edge flags in one pass over the graph, and an automaton given its dropped edges has only a
handful of states (the last port read matters only if an edge into it is dropped) and knows the
lowest stage a dropped edge reaches, below which every continuation is decided.

Reading backwards (docs/design.md §2): the state is ``None`` at the start, the last port read while an
edge into it may be dropped (``pending``), ``_OK`` otherwise, ``_DEAD`` once a dropped edge was
read, and ``_IN`` after an input letter.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, cast

from ..graph import Edge, Node, Port
from .pattern import Symbol

if TYPE_CHECKING:
    from ..graph import Graph

__all__ = ["SubgraphAutomaton", "combine_edges"]

State = Hashable
_DEAD, _OK, _IN = "dead", "ok", "in"


class SubgraphAutomaton:
    """``Only(K)``: paths whose every edge is kept, or with ``negated`` the paths using some edge
    not kept. ``K`` is ``edges`` (the kept edges), or every edge except ``dropped``."""

    def __init__(
        self,
        edges: Iterable[Edge] | None = None,
        *,
        dropped: Iterable[Edge] | None = None,
        negated: bool = False,
        graph: Graph | None = None,
    ) -> None:
        if (edges is None) == (dropped is None):
            raise ValueError("give the kept edges or the dropped ones, not both")
        self.edges = None if edges is None else frozenset(edges)
        self.dropped = None if dropped is None else frozenset(dropped)
        self.negated = negated
        self.start: State = None
        self._dropped: frozenset[Edge] = self.dropped or frozenset()
        self._receivers = frozenset(e.receiver for e in self._dropped)
        # below the lowest stage a dropped edge enters, no continuation can read one
        self._lowest = -1
        if self.dropped is not None and self.dropped:
            if graph is None:
                raise ValueError("an automaton of dropped edges needs the graph (for their stages)")
            self._lowest = min(graph.stage_of(p.node) for p in self._receivers)
        elif self.dropped is not None:
            self._lowest = 1 << 40  # nothing dropped: every continuation is kept

    @property
    def kept_form(self) -> bool:
        """Whether the kept edges are listed (else the dropped ones)."""
        return self.edges is not None

    def negate(self) -> SubgraphAutomaton:
        """The complement: the paths this automaton rejects."""
        other = SubgraphAutomaton.__new__(SubgraphAutomaton)
        other.__dict__.update(self.__dict__)
        other.negated = not self.negated
        return other

    def _drops(self, sender: Node, port: Port) -> bool:
        if self.edges is not None:
            return Edge(sender, port) not in self.edges
        return port in self._receivers and Edge(sender, port) in self._dropped

    def _pending(self, port: Port) -> State:
        return port if self.edges is not None or port in self._receivers else _OK

    def step(self, state: State, letter: Symbol) -> State:
        if isinstance(letter, tuple):
            letter = letter[0]  # edges carry no positions
        if state == _DEAD or state == _IN:
            return _DEAD  # nothing follows the input letter
        if state is None:  # the first letter must be `out`
            return self._pending(letter) if isinstance(letter, Port) and letter.node.kind == "out" else _DEAD
        if isinstance(letter, Node):  # the input letter, read last
            return _DEAD if state != _OK and self._drops(letter, cast(Port, state)) else _IN
        if state != _OK and self._drops(letter.node, cast(Port, state)):  # the state is the port read before
            return _DEAD
        return self._pending(letter)

    def _only_full(self, state: State, stage: int) -> bool:
        """Only(K) accepts every continuation at or below ``stage``."""
        if state == _IN:
            return True
        return state in (_OK, None) and self._lowest > stage

    def accepts(self, state: State) -> bool:
        return (state == _IN) != self.negated

    def dead(self, state: State) -> bool:
        return self._only_full(state, 1 << 30) if self.negated else state == _DEAD

    def full(self, state: State) -> bool:
        return state == _DEAD if self.negated else self._only_full(state, 1 << 30)

    def dead_at(self, state: State, stage: int) -> bool:
        return self._only_full(state, stage) if self.negated else state == _DEAD

    def full_at(self, state: State, stage: int) -> bool:
        return state == _DEAD if self.negated else self._only_full(state, stage)

    def kept(self, graph: Graph) -> list[bool]:
        """Per edge of ``graph.edges``: is it kept?"""
        if self.edges is not None:
            return [e in self.edges for e in graph.edges]
        return [e not in self._dropped for e in graph.edges]


def _meet(a: SubgraphAutomaton, b: SubgraphAutomaton, graph: Graph) -> SubgraphAutomaton:
    """``Only(Ka ∩ Kb)`` for two non-negated automata."""
    if a.edges is not None and b.edges is not None:
        return SubgraphAutomaton(a.edges & b.edges)
    if a.dropped is not None and b.dropped is not None:
        return SubgraphAutomaton(dropped=a.dropped | b.dropped, graph=graph)
    kept, dropped = (a.edges, b._dropped) if a.edges is not None else (b.edges, a._dropped)
    return SubgraphAutomaton((kept or frozenset()) - dropped)


def combine_edges(op: str, a: object, b: object, graph: Graph) -> SubgraphAutomaton | None:
    """``a op b`` (``|``, ``&`` or ``-``) as one edge automaton, or None outside the family."""
    if not (isinstance(a, SubgraphAutomaton) and isinstance(b, SubgraphAutomaton)):
        return None
    if op == "-":
        op, b = "&", b.negate()
    if op == "&" and not a.negated and not b.negated:
        return _meet(a, b, graph)
    if op == "|" and a.negated and b.negated:  # ~A | ~B = ~(A & B)
        return _meet(a.negate(), b.negate(), graph).negate()
    return None
