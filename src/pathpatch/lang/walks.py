"""Walking the product of a graph and a compiled hypothesis, backwards from ``out``: the exact
count of the paths it accepts (memoised, no enumeration) and the paths themselves.

``n_pos`` is ``None`` for position-free paths; otherwise the walk covers the position-resolved
paths over ``n_pos`` positions (an edge into k or v comes from any position at or before the
receiver's, any other from the same position).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..graph import Graph, Node, Path, Port
from .automata import Automaton

__all__ = ["count_accepted", "iter_accepted"]


def _letter(x: Node | Port, t: int | None) -> Any:
    return x if t is None else (x, t)


def _sender_positions(port: Port, t: int | None) -> Iterable[int | None]:
    return (None,) if t is None else Graph.sender_positions(port, t)


def _ends(n_pos: int | None) -> Iterable[int | None]:
    return (None,) if n_pos is None else range(n_pos)


def count_accepted(dfa: Automaton, graph: Graph, n_pos: int | None) -> int:
    """How many paths of ``graph`` the automaton accepts."""
    memo: dict[tuple[Node, int | None, Any], int] = {}
    rows: dict[tuple[int, int | None, Any], int] = {}  # ports with the same senders share their sums

    def row(port: Port, t: int | None, q: Any) -> int:
        key = (graph.sender_group(port), t, q)
        if key not in rows:
            rows[key] = sum(
                int(dfa.accepts(dfa.step(q, _letter(u, t)))) if u.is_input else below(u, t, q)
                for u in graph.senders(port)
            )
        return rows[key]

    def below(node: Node, t: int | None, state: Any) -> int:
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

    return sum(below(Node("out"), t, dfa.start) for t in _ends(n_pos))


def iter_accepted(dfa: Automaton, graph: Graph, n_pos: int | None) -> Iterator[Path]:
    """The paths of ``graph`` the automaton accepts, input first (a pruned walk: small models)."""

    def walk(node: Node, t: int | None, state: Any, suffix: tuple[tuple[Port, int | None], ...]) -> Iterator[Path]:
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
                        where = None if n_pos is None else (u_t,) + tuple(x for _, x in here)
                        yield Path(sender, ports, where)  # type: ignore[arg-type]

    for t in _ends(n_pos):
        yield from walk(Node("out"), t, dfa.start, ())
