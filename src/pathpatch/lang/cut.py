"""Position-resolved hypotheses with small dedicated automata.

- :func:`residual_at`: the residual stream at one (layer, position), for causal tracing;
- :func:`only_at`: the paths that use, at one position, only some heads and MLPs.

Both are sets of paths like any other (they combine with ``| & - ~``); their automata use the
fact that positions along a path never increase when it is read from ``out`` backwards.

The residual stream at one (layer, position) as a set of paths (causal tracing, Meng et al. 2022):

Restoring the residual stream after block ``layer`` at position ``t`` in the ablated run (and
recomputing everything after it) is exactly the hypothesis "every path that crosses the cut after
block ``layer`` at position ``t``": every path crosses that cut once, on an edge whose sender sits
at or before the block and whose receiver sits after it; the sender's position must be ``t``.

>>> residual_at(5, -1)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import InputError
from ..graph import Graph, Node
from .automata import Automaton, State, Unstaged
from .hypothesis import Hypothesis
from .nodecut import NodeCut
from .pattern import PosContext, Symbol

__all__ = ["residual_at", "ResidualCut", "only_at", "OnlyAt"]

_IN, _OUT = "in", "out"


class _Decided(Unstaged):
    """States: None (undecided yet), _IN (every continuation accepted) or _OUT (none)."""

    def accepts(self, state: State) -> bool:
        return state == _IN

    def dead(self, state: State) -> bool:
        return state == _OUT

    def full(self, state: State) -> bool:
        return state == _IN

    @staticmethod
    def node_at(symbol: Symbol) -> tuple[Node, int | None]:
        """The node a letter names and its position (None without one)."""
        letter, t = symbol if isinstance(symbol, tuple) else (symbol, None)
        return (letter if isinstance(letter, Node) else letter.node), t


class CutAutomaton(_Decided):
    """Reads letters backwards; the first letter at or before the cut decides (its position)."""

    def __init__(self, graph: Graph, last_stage: int, where: frozenset[int] | None) -> None:
        self.graph, self.last_stage, self.where = graph, last_stage, where
        self.start: State = None

    def step(self, state: State, letter: Symbol) -> State:
        if state is not None:
            return state
        node, t = self.node_at(letter)
        if self.graph.stage_of(node) > self.last_stage:
            return None
        return _IN if self.where is None or t in self.where else _OUT

    def as_cut(self, graph: Graph) -> NodeCut | None:
        """Every sender at or below the cut, at the cut's positions (:mod:`.nodecut`); None
        without positions."""
        if self.where is None or (graph is not self.graph and graph != self.graph):
            return None
        below = [n for n in graph.nodes if n.kind != "out" and graph.stage_of(n) <= self.last_stage]
        return NodeCut(self.last_stage, frozenset((n, t) for n in below for t in self.where))


@dataclass(frozen=True, repr=False)
class ResidualCut(Hypothesis):
    """Paths crossing the residual stream after block ``layer`` at ``position`` (int or a name)."""

    layer: int
    position: int | str

    @property
    def positional(self) -> bool:
        return True

    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        n = graph.config.n_layers
        if not isinstance(self.layer, int) or not 0 <= self.layer < n:
            raise InputError(f"residual_at: layer must be in 0..{n - 1} for this model, got {self.layer!r}")
        where = None if ctx is None else ctx.resolve(frozenset({self.position}), str(self))
        last = Node("mlp", self.layer) if graph.config.has_mlp else Node("head", self.layer, 0)
        return CutAutomaton(graph, graph.stage_of(last), where)

    def __str__(self) -> str:
        return f"resid{self.layer}@{self.position}"


def residual_at(layer: int, position: int | str) -> Hypothesis:
    """The residual stream after block ``layer`` at ``position`` (``3``, ``-1`` or ``"END"``)."""
    if isinstance(position, bool) or not isinstance(position, (int, str)):
        raise InputError(f"residual_at: position is an int or a name like 'END', got {position!r}")
    return ResidualCut(layer, position)


class OnlyAtAutomaton(_Decided):
    """Dead on a head or MLP at position ``where`` that is not kept; full once below ``where``."""

    def __init__(self, keep: frozenset[Node], where: int | None) -> None:
        self.keep, self.where = keep, where
        self.start: State = None

    def step(self, state: State, letter: Symbol) -> State:
        if state is not None:
            return state
        node, t = self.node_at(letter)
        if t is None or self.where is None or t > self.where:
            return None
        if t < self.where:
            return _IN  # positions never increase further down: nothing can be excluded any more
        return _OUT if node.kind in ("head", "mlp") and node not in self.keep else None

    def accepts(self, state: State) -> bool:
        return state != _OUT  # a path that never reaches a dropped node is kept


@dataclass(frozen=True, repr=False)
class OnlyAt(Hypothesis):
    """Paths whose heads and MLPs at ``position`` are all in ``keep``."""

    keep: frozenset[Node]
    position: int | str

    @property
    def positional(self) -> bool:
        return True

    def automaton(self, graph: Graph, ctx: PosContext | None = None) -> Automaton:
        for node in sorted(self.keep):
            if node not in graph.nodes:
                raise graph.unknown(node.name)
        where = None if ctx is None else next(iter(ctx.resolve(frozenset({self.position}), str(self))))
        return OnlyAtAutomaton(self.keep, where)

    def pattern_equivalent(self, graph: Graph) -> Hypothesis:
        """The same set written in the path language (slower to compile for big models)."""
        from .hypothesis import all_paths, no_paths, paths

        dropped = [n.name for n in graph.nodes if n.kind in ("head", "mlp") and n not in self.keep]
        return all_paths() - (paths([f"{n}@{self.position}" for n in dropped]) if dropped else no_paths())

    def __str__(self) -> str:
        names = ",".join(n.name for n in sorted(self.keep))
        return f"only_at({self.position}: {{{names}}})"


def only_at(position: int | str, keep: Iterable[str | Node]) -> Hypothesis:
    """Every path whose heads and MLPs at ``position`` are all in ``keep``; paths that stay at
    other positions, or use there only inputs and ``out``, are all kept.

    ``only_at(-1, ["a9.1", "m10"])`` equals
    ``all_paths() - paths([f"{v}@-1" for v in every other head and MLP])``.
    """
    if isinstance(position, bool) or not isinstance(position, (int, str)):
        raise InputError(f"only_at: position is an int or a name like 'END', got {position!r}")
    nodes = frozenset(k if isinstance(k, Node) else Node.parse(k) for k in keep)
    bad = [n.name for n in nodes if n.kind not in ("head", "mlp")]
    if bad:
        raise InputError(f"only_at keeps heads and MLPs, got {bad}")
    return OnlyAt(nodes, position)
