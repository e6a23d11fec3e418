"""Walking the product of a graph and a compiled hypothesis, backwards from ``out``: the exact
count of the paths it accepts (memoised, no enumeration), the edges on those paths, and the paths
themselves.

A copy ``(node, t, state)`` of the product is a node at a position with the automaton state of the
path suffix read so far, from ``out`` down to it. Counting and finding the edges share one memo of
how many accepted paths continue below each copy (:func:`_continuations`), so finding the edges
costs what counting does: (nodes × states reached) steps of the automaton, never one per path.

``n_pos`` is ``None`` for position-free paths; otherwise the walk covers the position-resolved
paths over ``n_pos`` positions (an edge into k or v comes from any position at or before the
receiver's, any other from the same position).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import cast

from ..graph import Edge, Graph, Node, Path, Port
from .automata import Automaton, State
from .nodecut import any_cut, count_cut
from .pattern import Symbol

__all__ = ["count_accepted", "accepted_edges", "iter_accepted"]


def _letter(x: Node | Port, t: int | None) -> Symbol:
    return x if t is None else (x, t)


def _sender_positions(port: Port, t: int | None) -> Iterable[int | None]:
    return (None,) if t is None else Graph.sender_positions(port, t)


def _ends(n_pos: int | None) -> Iterable[int | None]:
    return (None,) if n_pos is None else range(n_pos)


@dataclass(frozen=True)
class _Continuations:
    """How many accepted paths continue below the copies of a product walk (memoised).

    ``below(node, t, q)``: those entering ``node`` at ``t`` in state ``q`` (before reading its
    port); ``via(sender, t, q)``: those whose next letter is ``sender`` at ``t``, read in state ``q``
    at the port it sends into.
    """

    below: Callable[[Node, int | None, State], int]
    via: Callable[[Node, int | None, State], int]


def _continuations(dfa: Automaton, graph: Graph) -> _Continuations:
    memo: dict[tuple[Node, int | None, State], int] = {}
    rows: dict[tuple[int, int | None, State], int] = {}  # ports with the same senders share their sums

    def via(u: Node, t: int | None, q: State) -> int:
        return int(dfa.accepts(dfa.step(q, _letter(u, t)))) if u.is_input else below(u, t, q)

    def row(port: Port, t: int | None, q: State) -> int:
        key = (graph.sender_group(port), t, q)
        if key not in rows:
            rows[key] = sum(via(u, t, q) for u in graph.senders(port))
        return rows[key]

    def below(node: Node, t: int | None, state: State) -> int:
        if dfa.dead(state):
            return 0
        key = (node, t, state)
        if key not in memo:
            total = 0
            for port in (Port(node, c) for c in node.channels):
                q = dfa.step(state, _letter(port, t))
                total += sum(row(port, u, q) for u in _sender_positions(port, t))
            memo[key] = total
        return memo[key]

    return _Continuations(below, via)


def count_accepted(dfa: Automaton, graph: Graph, n_pos: int | None) -> int:
    """How many paths of ``graph`` the automaton accepts (a node or edge cut's from path counts, :mod:`.nodecut`)."""
    cut = any_cut(dfa, graph) if n_pos is not None else None
    if cut is not None and n_pos is not None:
        return count_cut(cut, graph, n_pos)
    below = _continuations(dfa, graph).below
    return sum(below(Node("out"), t, dfa.start) for t in _ends(n_pos))


def accepted_edges(dfa: Automaton, graph: Graph, n_pos: int | None) -> tuple[Edge, ...]:
    """The edges on at least one path the automaton accepts, in the graph's edge order (positions
    dropped): an edge ``w -> p`` is on one when some state reached at ``p`` from ``out`` has an
    accepted path continuing through ``w``."""
    via = _continuations(dfa, graph).via
    # down from out: the states reached at each port, with the positions of the senders feeding it
    reached: dict[Port, set[tuple[int | None, State]]] = {}
    for node in reversed(graph.nodes):
        if node.is_input:
            continue
        if node == Node("out"):
            here = {(t, dfa.start) for t in _ends(n_pos)}
        else:
            here = set().union(*(reached.get(p, ()) for p in graph.receivers[node]))
        for channel in node.channels:
            port = Port(node, channel)
            found = reached.setdefault(port, set())
            for t, state in here:
                q = dfa.step(state, _letter(port, t))
                if not dfa.dead(q):
                    found.update((u, q) for u in _sender_positions(port, t))
    live: dict[tuple[int, int | None, State], frozenset[Node]] = {}  # per port group, like the counts

    def senders(port: Port, u: int | None, q: State) -> frozenset[Node]:
        key = (graph.sender_group(port), u, q)
        if key not in live:
            live[key] = frozenset(w for w in graph.senders(port) if via(w, u, q) > 0)
        return live[key]

    kept = {Edge(w, port) for port, found in reached.items() for u, q in found for w in senders(port, u, q)}
    return tuple(e for e in graph.edges if e in kept)


def iter_accepted(dfa: Automaton, graph: Graph, n_pos: int | None) -> Iterator[Path]:
    """The paths of ``graph`` the automaton accepts, input first (a pruned walk: small models)."""

    def walk(node: Node, t: int | None, state: State, suffix: tuple[tuple[Port, int | None], ...]) -> Iterator[Path]:
        if dfa.dead(state):
            return
        for channel in node.channels:
            port = Port(node, channel)
            q = dfa.step(state, _letter(port, t))
            for u_t in _sender_positions(port, t):
                for sender in graph.senders(port):
                    here = ((port, t),) + suffix
                    if not sender.is_input:
                        yield from walk(sender, u_t, q, here)
                    elif dfa.accepts(dfa.step(q, _letter(sender, u_t))):
                        ports = tuple(p for p, _ in here)
                        where = None if n_pos is None else cast("tuple[int, ...]", (u_t, *(x for _, x in here)))
                        yield Path(sender, ports, where)  # with n_pos, every letter has its position

    for t in _ends(n_pos):
        yield from walk(Node("out"), t, dfa.start, ())
