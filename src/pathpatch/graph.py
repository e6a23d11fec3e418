"""The computational graph of a transformer, as docs/design.md §1 defines it.

Nodes: ``embed``, ``pos`` (when positions are an input), heads ``a{layer}.{head}``, MLPs
``m{layer}`` and ``out``. Every node that writes to the residual stream has an edge into every
later reader; a head is read through one of three channels ``q``/``k``/``v``. With shortformer
positions, ``pos`` feeds only the ``q`` and ``k`` channels of every head.

The entities (:class:`Node`, :class:`Port`, :class:`Edge`, :class:`Path`) live in
:mod:`pathpatch.entities` and are re-exported here; :class:`Graph` holds those of one architecture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

from .entities import CHANNELS, Edge, Kind, Node, Path, Port
from .errors import PatternError, UnknownNodeError, close_matches

if TYPE_CHECKING:
    from .model.config import ModelConfig

__all__ = ["Node", "Port", "Edge", "Path", "Graph", "CHANNELS", "Kind", "HasGraph", "GraphSource", "graph_of"]


@dataclass(frozen=True)
class Graph:
    """All nodes, ports and edges of one architecture, in topological order."""

    config: ModelConfig
    nodes: tuple[Node, ...] = field(init=False)

    def __post_init__(self) -> None:
        cfg = self.config
        nodes: list[Node] = [Node("embed")]
        if cfg.has_pos_node:
            nodes.append(Node("pos"))
        for layer in range(cfg.n_layers):
            nodes += [Node("head", layer, h) for h in range(cfg.n_heads)]
            if cfg.has_mlp:
                nodes.append(Node("mlp", layer))
        nodes.append(Node("out"))
        object.__setattr__(self, "nodes", tuple(nodes))

    def stage_of(self, node: Node) -> int:
        """Nodes of one stage never read each other: -1 inputs, 2l heads, 2l+1 MLPs (2l when
        attention and MLP run in parallel), 2L out."""
        if node.kind in ("embed", "pos"):
            return -1
        if node.kind in ("head", "mlp"):
            assert node.layer is not None  # heads and MLPs always have a layer
            return 2 * node.layer + (1 if node.kind == "mlp" and not self.config.parallel else 0)
        return 2 * self.config.n_layers

    @cached_property
    def inputs(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_input)

    @cached_property
    def ports(self) -> tuple[Port, ...]:
        return tuple(Port(n, c) for n in self.nodes for c in n.channels)

    @cached_property
    def _senders(self) -> dict[Port, tuple[Node, ...]]:
        shortformer = self.config.positions == "shortformer"
        result: dict[Port, tuple[Node, ...]] = {}
        for port in self.ports:
            stage = self.stage_of(port.node)
            senders = []
            for n in self.nodes:
                if n.kind == "pos" and shortformer:
                    if port.channel in ("q", "k"):
                        senders.append(n)
                elif self.stage_of(n) < stage:
                    senders.append(n)
            result[port] = tuple(senders)
        return result

    @cached_property
    def _groups(self) -> dict[Port, int]:
        ids: dict[tuple[Node, ...], int] = {}
        return {port: ids.setdefault(senders, len(ids)) for port, senders in self._senders.items()}

    def sender_group(self, port: Port) -> int:
        """An id shared by all ports with the same senders (memo key for walks over many ports)."""
        return self._groups[port]

    @cached_property
    def receivers(self) -> dict[Node, tuple[Port, ...]]:
        """For each node, the ports it sends to."""
        out: dict[Node, list[Port]] = {n: [] for n in self.nodes}
        for port in self.ports:
            for sender in self._senders[port]:
                out[sender].append(port)
        return {n: tuple(p) for n, p in out.items()}

    def sender_index(self, port: Port) -> dict[Node, int]:
        """Each sender of ``port`` and its place in ``senders(port)`` (one dict per sender group)."""
        group = self._groups[port]
        index = self._indexes.get(group)
        if index is None:
            index = self._indexes[group] = {u: i for i, u in enumerate(self._senders[port])}
        return index

    def has_edge(self, edge: Edge) -> bool:
        """Whether ``edge`` is an edge of this graph (without listing every edge)."""
        return edge.receiver in self._senders and edge.sender in self.sender_index(edge.receiver)

    def downstream(self, nodes: frozenset[Node]) -> tuple[Node, ...]:
        """``nodes`` and every node they send to, directly or not, in topological order (cached)."""
        hit = self._downstream.get(nodes)
        if hit is None:
            reached = set(nodes)
            for n in self.nodes:
                if n in reached:
                    reached.update(p.node for p in self.receivers[n])
            hit = self._downstream[nodes] = tuple(n for n in self.nodes if n in reached)
        return hit

    @cached_property
    def _indexes(self) -> dict[int, dict[Node, int]]:
        return {}

    @cached_property
    def _downstream(self) -> dict[frozenset[Node], tuple[Node, ...]]:
        return {}

    def senders(self, port: Port) -> tuple[Node, ...]:
        """Nodes with an edge into ``port``, in topological order."""
        try:
            return self._senders[port]
        except KeyError:
            raise self.unknown(port.name) from None

    @cached_property
    def edges(self) -> tuple[Edge, ...]:
        return tuple(Edge(s, p) for p in self.ports for s in self._senders[p])

    @cached_property
    def edge_set(self) -> frozenset[Edge]:
        """The edges as a set, for membership tests."""
        return frozenset(self.edges)

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(n.name for n in self.nodes) | frozenset(p.name for p in self.ports)

    def node(self, name: str) -> Node:
        """The node called ``name``; a typed error with close matches if there is none."""
        by_name = {n.name: n for n in self.nodes}
        if name not in by_name:
            raise self.unknown(name)
        return by_name[name]

    def port(self, name: str) -> Port:
        port = Port.parse(name)
        if port not in self._senders:
            raise self.unknown(name)
        return port

    def unknown(self, name: str, pattern: str | None = None, column: int = 0) -> UnknownNodeError:
        return UnknownNodeError(
            f"no node or port {name!r} in this model ({self.describe()})",
            pattern if pattern is not None else name,
            name,
            column,
            close_matches(name, sorted(self.names)),
        )

    def describe(self) -> str:
        cfg = self.config
        mlp = "MLPs" if cfg.has_mlp else "attention-only"
        return f"{cfg.n_layers} layers x {cfg.n_heads} heads, {mlp}, {cfg.positions} positions"

    def why_no_edge(self, edge: Edge) -> str:
        """Why ``edge`` is not an edge of this graph, in words (for error messages)."""
        s, r = edge.sender, edge.receiver
        if s.kind == "pos" and self.config.positions == "shortformer" and r.channel not in ("q", "k"):
            return "with shortformer positions, pos feeds only the q and k inputs of heads"
        if s.kind == "pos" and not self.config.has_pos_node:
            return f"this model has no pos node ({self.config.positions} positions)"
        if s.kind == "out" or r.node.is_input:
            return "edges run from embed, pos, a head or an MLP into a head's q/k/v, an MLP or out"
        if s not in self.nodes or r.node not in self.nodes:
            return f"{s.name if s not in self.nodes else r.node.name} is not a node of this model"
        if self.stage_of(s) >= self.stage_of(r.node):
            return f"{s.name} does not come before {r.node.name}, and a sender must come before its receiver"
        return "a sender must come before its receiver"

    def validate(self, path: Path) -> Path:
        """Check that every edge of ``path`` exists and it ends at ``out``."""
        if not path.start.is_input or path.start not in self.nodes:
            raise self.unknown(path.start.name, path.name)
        if not path.ports or path.ports[-1].node.kind != "out":
            raise PatternError("a path must end at 'out'", path.name, path.ports[-1].name if path.ports else "", 0)
        for edge in path.edges:
            if edge.sender not in self.senders(edge.receiver):
                raise PatternError(
                    f"no edge {edge.name} in this model ({self.why_no_edge(edge)})",
                    path.name,
                    edge.name,
                    path.name.find(edge.receiver.name),
                )
        if path.positions is not None:
            if len(path.positions) != len(path.ports) + 1:
                raise PatternError("a path needs one position per letter", path.name, path.name, 0)
            for i, port in enumerate(path.ports):
                t_send, t = path.positions[i], path.positions[i + 1]
                if t_send not in self.sender_positions(port, t):
                    rule = "at or before" if port.channel in ("k", "v") else "at"
                    raise PatternError(
                        f"a sender into {port.name}@{t} must sit {rule} position {t}, got {t_send}",
                        path.name,
                        port.name,
                        path.name.find(port.name),
                    )
        return path

    @staticmethod
    def sender_positions(port: Port, t: int) -> range:
        """Positions a sender into ``port`` at position ``t`` may have: ``t`` itself, or every
        key position ``<= t`` for the ``k`` and ``v`` channels (docs/design.md §4)."""
        return range(0, t + 1) if port.channel in ("k", "v") else range(t, t + 1)

    def iter_paths(self) -> Iterator[Path]:
        """Every path, input first. Exponential in depth: for small models only."""

        def suffixes(node: Node) -> Iterator[tuple[Port, ...]]:
            if node.kind == "out":
                yield ()
                return
            for port in self.receivers[node]:
                for rest in suffixes(port.node):
                    yield (port,) + rest

        for start in self.inputs:
            for suffix in suffixes(start):
                yield Path(start, suffix)

    def iter_positioned_paths(self, n_pos: int) -> Iterator[Path]:
        """Every position-resolved path over ``n_pos`` positions. Exponential: tiny models only."""

        def suffixes(node: Node, t: int) -> Iterator[tuple[tuple[Port, int], ...]]:
            if node.kind == "out":
                yield ()
                return
            for port in self.receivers[node]:
                for t_recv in range(t, n_pos) if port.channel in ("k", "v") else (t,):
                    for rest in suffixes(port.node, t_recv):
                        yield ((port, t_recv),) + rest

        for start in self.inputs:
            for t in range(n_pos):
                for suffix in suffixes(start, t):
                    yield Path(start, tuple(p for p, _ in suffix), (t,) + tuple(u for _, u in suffix))

    def count_paths(self) -> int:
        """The number of paths, by dynamic programming (exact for any size)."""
        counts: dict[Node, int] = {Node("out"): 1}
        for node in reversed(self.nodes[:-1]):
            counts[node] = sum(counts[p.node] for p in self.receivers[node])
        return sum(counts[n] for n in self.inputs)


class HasGraph(Protocol):
    """Anything with a computational graph: a ResidualModel."""

    @property
    def graph(self) -> Graph: ...


GraphSource = Graph | HasGraph  # a model or its graph: what hypotheses compile on and renderers draw


def graph_of(model_or_graph: GraphSource) -> Graph:
    """The :class:`Graph` of a model (or the graph itself); a TypeError for anything else."""
    graph = getattr(model_or_graph, "graph", model_or_graph)
    if not isinstance(graph, Graph):
        raise TypeError(f"expected a ResidualModel or Graph, got {type(model_or_graph).__name__}")
    return graph
