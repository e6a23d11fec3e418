"""Planning edge-set hypotheses directly, without a walk (docs/design.md §3, step 2).

``Only(K)`` (every edge kept) and its complement ``Uses(E - K)`` (:mod:`~pathpatch.lang.edges`)
give each node at most one copy that matters: the one reached along kept edges. Its input at a
port is, per sender, that sender's copy if the edge is kept, else the sender's ablated value. The
complement has the same copies with REF and NEW swapped at the leaves.

- :func:`plan_kept` takes the kept edges: one pass over every edge of the graph (O(edges), the
  right cost for a subgraph that keeps or drops many edges);
- :func:`plan_dropped` takes the few dropped edges of a sender→receiver patch or an edge scan:
  only the nodes downstream of a dropped edge can differ from the clean run, and each of their
  rows is the all-clean row of its sender group with a few entries replaced (the dropped senders
  and the downstream copies), so one hypothesis costs its downstream copies, not the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..graph import Edge, Graph, Node, Port
from ..lang.edges import SubgraphAutomaton
from .copies import BOTH, NEW, REF, Builder, Cached, Ref, RunKind

__all__ = ["plan_kept", "plan_dropped"]


@dataclass(frozen=True)
class _RowKey:
    """Which row a port of a downstream node reads: its sender group's, or, for a port that
    receives a dropped edge, its own."""

    group: int  # Graph.sender_group of the port
    port: Port | None  # the port, if it receives a dropped edge


@dataclass(frozen=True)
class _DroppedRow:
    """A short, exact name of a row of :func:`plan_dropped`: the plain row of ``group`` (every
    sender ``on``, the inputs ``both`` BOTH) with the senders planned so far replaced by their
    ``copies`` and the senders ``cut`` by their ablated value. It names the row's content, so
    :meth:`Builder.row` interns by it instead of hashing the long row."""

    group: int
    both: frozenset[Node]
    on: RunKind
    copies: tuple[tuple[Node, Ref], ...]
    cut: tuple[Node, ...]


def plan_kept(graph: Graph, dfa: SubgraphAutomaton, both: frozenset[Node], builder: Builder) -> Ref:
    """The root copy of an edge-set hypothesis given by its kept edges, in one pass over the nodes.

    Every path of ``Only(K)`` reaches a node along kept edges only, so each node has one copy that
    matters: its input at a port is, per sender, that sender's copy if the edge is kept, else the
    sender's ablated value. Nodes no kept edge leads from to ``out`` need no copy. The complement
    ``Uses(E - K)`` has the same copies with REF and NEW swapped at the leaves.
    """
    on, off = (NEW, REF) if dfa.negated else (REF, NEW)
    flags = iter(dfa.kept(graph))  # graph.edges: port by port, senders in order
    kept: dict[Port, list[bool]] = {p: [next(flags) for _ in graph.senders(p)] for p in graph.ports}
    ports_of = {n: [Port(n, c) for c in n.channels] for n in graph.nodes}
    alive = {Node("out")}
    for node in reversed(graph.nodes):
        if node in alive:
            for p in ports_of[node]:
                alive.update(u for u, k in zip(graph.senders(p), kept[p]) if k)
    ablated = {u: Cached(BOTH if u in both else off, u) for u in graph.nodes}  # a dropped edge's value
    copy: dict[Node, Ref] = {}
    for node in graph.nodes:
        if node.is_input:
            copy[node] = Cached(BOTH if node in both else on, node)
        elif node in alive:
            copy[node] = builder.copy(
                node,
                None,
                tuple(
                    (
                        builder.row(
                            p, None, tuple(copy[u] if k else ablated[u] for u, k in zip(graph.senders(p), kept[p]))
                        ),
                    )
                    for p in ports_of[node]
                ),
            )
    return copy[Node("out")]


def plan_dropped(graph: Graph, dfa: SubgraphAutomaton, both: frozenset[Node], builder: Builder) -> Ref:
    """The root copy of an edge-set hypothesis given by its dropped edges (see the module doc)."""
    on, off = (NEW, REF) if dfa.negated else (REF, NEW)
    dropped = dfa.dropped or frozenset()
    into: dict[Port, list[Node]] = {}
    for e in dropped:
        into.setdefault(e.receiver, []).append(e.sender)
    below = graph.downstream(frozenset(p.node for p in into))
    unread = _unread(graph, below, dropped) if any(e.sender in set(below) for e in dropped) else frozenset()
    plain = _plain_rows(graph, both, on)
    copy: dict[Node, Ref] = {}
    row_ids: dict[_RowKey, int] = {}  # ports with the same senders share rows
    for node in below:
        if node in unread:
            continue
        rows = []
        for channel in node.channels:
            port = Port(node, channel)
            key = _RowKey(graph.sender_group(port), port if port in into else None)
            if key not in row_ids:
                cut = into.get(port, ())
                # the row is the plain row with these senders replaced: a short, exact name for it
                name = _DroppedRow(key.group, both, on, tuple(copy.items()), tuple(cut))
                row_ids[key] = builder.row(port, None, _patched(graph, port, plain, copy, cut, both, off), name)
            rows.append((row_ids[key],))
        copy[node] = builder.copy(node, None, tuple(rows))
    return copy.get(Node("out"), Cached(on, Node("out")))


def _patched(
    graph: Graph,
    port: Port,
    plain: dict[int, tuple[Ref, ...]],
    copy: dict[Node, Ref],
    cut: list[Node] | tuple[()],
    both: frozenset[Node],
    off: RunKind,
) -> tuple[Ref, ...]:
    """The plain row of ``port`` with the senders planned so far replaced by their copies and the
    senders of dropped edges (``cut``) by their ``off`` value."""
    index = graph.sender_index(port)
    row = list(plain[graph.sender_group(port)])
    for u, c in copy.items():
        if u in index:
            row[index[u]] = c
    for u in cut:
        row[index[u]] = Cached(BOTH if u in both else off, u)
    return tuple(row)


def _plain_rows(graph: Graph, both: frozenset[Node], on: RunKind) -> dict[int, tuple[Ref, ...]]:
    """Per sender group: the row whose every sender takes its ``on`` run's value (cached)."""
    cache: dict[tuple[frozenset[Node], RunKind], dict[int, tuple[Ref, ...]]]
    cache = graph.__dict__.setdefault("_plain_rows", {})
    key = (both, on)
    if key not in cache:
        cache[key] = {
            graph.sender_group(p): tuple(Cached(BOTH if u in both else on, u) for u in graph.senders(p))
            for p in graph.ports
        }
    return cache[key]


def _unread(graph: Graph, below: tuple[Node, ...], dropped: frozenset[Edge]) -> frozenset[Node]:
    """Nodes of ``below`` whose value reaches ``out`` along no kept edge (their copies are never
    read); only a node that sends a dropped edge can become one."""
    alive = {Node("out")}
    for node in reversed(below):
        if node in alive:
            for channel in node.channels:
                port = Port(node, channel)
                alive.update(u for u in graph.senders(port) if u not in alive and Edge(u, port) not in dropped)
    return frozenset(n for n in below if n not in alive)
