"""The entities of the computational graph (docs/design.md §1): nodes, the ports through which a node is
read, edges and paths. Frozen, hashable dataclasses whose names round-trip through ``parse``:

>>> Path.parse("embed -> a0.1.v -> m1 -> out")
Path('embed -> a0.1.v -> m1 -> out')

:class:`~pathpatch.graph.Graph` holds the entities of one architecture; it re-exports these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, cast

from .errors import PatternError

__all__ = ["Node", "Port", "Edge", "Path", "CHANNELS", "Kind"]

Kind = Literal["embed", "pos", "head", "mlp", "out"]
CHANNELS = ("q", "k", "v")
_NODE_RE = re.compile(r"^(?:(embed|pos|out)|a(\d+)\.(\d+)|m(\d+))$")


def _cache_hash(entity: object, fields: tuple[object, ...]) -> None:
    """Graph entities are hashed millions of times by the planner: hash their fields once, into
    ``_hash`` (a field left out of ``__init__``, ``__repr__``, equality and order). String hashes
    differ between processes, so a pickled entity is rebuilt from its fields (``__reduce__``) and
    hashes again where it is unpickled, never carrying another process's hash."""
    object.__setattr__(entity, "_hash", hash(fields))


@dataclass(frozen=True, order=True)
class Node:
    """One component: an input, a head, an MLP or the output."""

    kind: Kind
    layer: int | None = None
    head: int | None = None

    _hash: int = field(init=False, repr=False, compare=False)  # set once by __post_init__

    def __post_init__(self) -> None:
        _cache_hash(self, (self.kind, self.layer, self.head))

    def __reduce__(self) -> tuple[type[Node], tuple[Kind, int | None, int | None]]:
        return (Node, (self.kind, self.layer, self.head))

    def __hash__(self) -> int:
        return self._hash

    @property
    def name(self) -> str:
        if self.kind == "head":
            return f"a{self.layer}.{self.head}"
        if self.kind == "mlp":
            return f"m{self.layer}"
        return self.kind

    @property
    def is_input(self) -> bool:
        return self.kind in ("embed", "pos")

    @property
    def channels(self) -> tuple[str | None, ...]:
        """Input channels: q/k/v for heads, a single unnamed one (None) otherwise."""
        if self.is_input:
            return ()
        return CHANNELS if self.kind == "head" else (None,)

    @classmethod
    def parse(cls, name: str) -> Node:
        m = _NODE_RE.match(name.strip())
        if not m:
            raise PatternError("not a node name (expected embed, pos, aL.H, mL or out)", name, name, 0)
        if m.group(1):
            return cls(cast(Kind, m.group(1)))
        if m.group(2) is not None:
            return cls("head", int(m.group(2)), int(m.group(3)))
        return cls("mlp", int(m.group(4)))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Node({self.name!r})"


@dataclass(frozen=True, order=True)
class Port:
    """The receiving end of an edge: a node and the channel it is entered through."""

    node: Node
    channel: str | None = None

    _hash: int = field(init=False, repr=False, compare=False)  # set once by __post_init__

    def __post_init__(self) -> None:
        _cache_hash(self, (self.node, self.channel))

    def __reduce__(self) -> tuple[type[Port], tuple[Node, str | None]]:
        return (Port, (self.node, self.channel))

    def __hash__(self) -> int:
        return self._hash

    @property
    def name(self) -> str:
        return self.node.name + (f".{self.channel}" if self.channel else "")

    @classmethod
    def parse(cls, name: str) -> Port:
        name = name.strip()
        if name[-2:] in (".q", ".k", ".v") and name.startswith("a"):
            port = cls(Node.parse(name[:-2]), name[-1])
        else:
            port = cls(Node.parse(name))
        if port.node.is_input:
            raise PatternError("an input node cannot receive an edge", name, name, 0)
        if port.node.kind == "head" and port.channel is None:
            raise PatternError("a head is entered through a channel: add .q, .k or .v", name, name, 0)
        return port

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Port({self.name!r})"


@dataclass(frozen=True, order=True)
class Edge:
    """``sender -> receiver.channel``. The sender's own entry channel is not part of it."""

    sender: Node
    receiver: Port

    _hash: int = field(init=False, repr=False, compare=False)  # set once by __post_init__

    def __post_init__(self) -> None:
        _cache_hash(self, (self.sender, self.receiver))

    def __reduce__(self) -> tuple[type[Edge], tuple[Node, Port]]:
        return (Edge, (self.sender, self.receiver))

    def __hash__(self) -> int:
        return self._hash

    @property
    def name(self) -> str:
        return f"{self.sender.name} -> {self.receiver.name}"

    @classmethod
    def parse(cls, text: str) -> Edge:
        parts = [p.strip() for p in text.split("->")]
        if len(parts) != 2:
            raise PatternError("an edge is written 'sender -> receiver[.channel]'", text, text, 0)
        sender = parts[0][:-2] if parts[0][-2:] in (".q", ".k", ".v") else parts[0]
        return cls(Node.parse(sender), Port.parse(parts[1]))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Edge({self.name!r})"


def _split_at(text: str) -> tuple[str, int | None]:
    name, sep, pos = text.partition("@")
    if not sep:
        return text.strip(), None
    if not pos.strip().isdigit():
        raise PatternError("a path's position is a number >= 0, e.g. 'a1.0.k@3'", text, text, 0)
    return name.strip(), int(pos)


@dataclass(frozen=True, order=True)
class Path:
    """An input node followed by the ports the path enters, ending at ``out``.

    A position-resolved path (docs/design.md §4) also has ``positions``: one per letter, the position of
    the copy the letter names (``embed@1 -> a0.1.v@3 -> out@3``).
    """

    start: Node
    ports: tuple[Port, ...]
    positions: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        names = [self.start.name] + [p.name for p in self.ports]
        if self.positions is not None:
            names = [f"{n}@{t}" for n, t in zip(names, self.positions)]
        return " -> ".join(names)

    @property
    def letters(self) -> tuple[Node | Port | tuple[Node | Port, int], ...]:
        """The letters, input first; ``(letter, position)`` pairs for a position-resolved path."""
        plain = (self.start,) + self.ports
        return plain if self.positions is None else tuple(zip(plain, self.positions))

    @property
    def edges(self) -> tuple[Edge, ...]:
        senders = (self.start,) + tuple(p.node for p in self.ports[:-1])
        return tuple(Edge(s, r) for s, r in zip(senders, self.ports))

    @classmethod
    def parse(cls, text: str) -> Path:
        parts = [_split_at(p) for p in text.split("->")]
        if len(parts) < 2:
            raise PatternError("a path needs an input and at least 'out'", text, text, 0)
        positions = [t for _, t in parts]
        if any(t is None for t in positions) and any(t is not None for t in positions):
            raise PatternError("give a position on every letter of a path or on none", text, text, 0)
        start, ports = Node.parse(parts[0][0]), tuple(Port.parse(p) for p, _ in parts[1:])
        return cls(start, ports, None if positions[0] is None else tuple(t for t in positions if t is not None))

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Path({self.name!r})"
