"""Circuit discovery at the level of paths, grown backwards from ``out`` (iterative path patching).

The answer is a set of *paths* in the path language: ``a0.2 -> a1.7.k`` can be kept on the way to
``out`` without every other path over the same edges, which an edge-level circuit must keep.

**State**: disjoint *items*, one pattern each: a complete path (``embed -> a0.2.v -> a1.7.k -> out``)
or an open suffix, every path ending with it (``a1.7.k -> out``; ``a0.2 -> a1.7.k -> out``, a0.2
entered through any channel; ``a0.* -> a1.7.k -> out``, through any layer-0 head). The hypothesis is
their union, its path count the sum of theirs. Under resampling, ``pos`` is the same in x_ref and
x_new (one length), so no path from it can change anything: those paths are never kept, and open
suffixes read ``embed -> ... -> a1.7.k -> out``, so counts hold only paths that can carry the effect.
**Split**: a layer's heads into its heads; a head (any channel) into its channels; a port into its
senders ``u -> suffix`` (several heads of a layer first as ``a{l}.*``; an input: a complete path).
An item holding one path is written as that path. A split changes no path, only the resolution.

**Steps**, each one engine call scoring all its hypotheses together (PE = proportion explained =
1 - AUE/ATE; the clean and ablated runs are cached across calls):

1. *Refine.* From ``out`` (every path, PE = 1): split the open items that matter most (largest
   importance first, at most ``max_candidates`` new items a step), then score S and S without each
   new item c: importance(c) = PE(S) - PE(S - c). Measured with the rest kept, it sees conjunctions
   (a query path counts even if the key path alone would do nothing). New items of importance
   <= ``min_gain`` go, least first, while their summed importance stays within half the slack
   PE(S) - ``target`` (negative importance, working against the behaviour, always goes). Repeat
   until no open item holds more than one path.
2. *Fit* (two calls a round). Score S and S without each item, rank the items by importance per
   path and score S minus every prefix of the ranking (32 at most): keep the smallest set with
   PE >= ``target`` (measured, not estimated). If S is below the target (drops that mattered
   together), score S plus every prefix of the dropped items, most important per path first, and
   keep the smallest that reaches it (or the best). Repeat until a round changes nothing.

Refining stops two calls before ``max_steps`` for a fit round; open items never split stay in the
result, counted in full.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, replace
from typing import Any

from tqdm.auto import tqdm

from .. import validate
from ..data import Pairs, check_pairs
from ..engine.api import equal_inputs
from ..errors import ArgumentError
from ..graph import Edge, Node, Port
from ..lang.hypothesis import Hypothesis, no_paths, paths
from ..metrics import Delta
from ..model.residual import ResidualModel, check_model
from ..options import Ablation, Intervals, Options, will_score
from ..scoring import check_data, score_with
from .cached import CachedScorer
from .circuit import SEARCH_EXAMPLES, Circuit, edges_in_order, provenance

__all__ = ["discover_paths"]


@dataclass(frozen=True)
class _Layer:
    """Every head of one layer, through any channel: the pattern element ``a{layer}.*``."""

    layer: int
    heads: tuple[Node, ...]

    @property
    def name(self) -> str:
        return f"a{self.layer}.*"


Head = Node | Port | _Layer


@dataclass(frozen=True)
class _Item:
    head: Head  # an input (a complete path), a node, a port or a layer's heads
    tail: tuple[Port, ...]  # the ports after ``head``, ending with ``out``


class _Space:
    """The graph as the search sees it: inputs that matter, splits, path counts, edges, patterns."""

    def __init__(self, model: ResidualModel, ablation: Ablation) -> None:
        self.graph, free = model.graph, equal_inputs(model, ablation)
        self.live = frozenset(i for i in self.graph.inputs if i not in free)
        self.anchor = next(iter(self.live)).name if free and len(self.live) == 1 else None
        self._sizes: dict[Head, int] = {}
        self._edges: dict[Head, frozenset[Edge]] = {}

    def _below(self, x: Head) -> tuple[Head, ...]:
        """A layer's heads, a head's ports, a port's senders (nothing for an input)."""
        if isinstance(x, _Layer):
            return x.heads
        return tuple(Port(x, c) for c in x.channels) if isinstance(x, Node) else self.graph.senders(x)

    def size(self, x: Head) -> int:
        """Paths from an input that matters into ``x``."""
        if x not in self._sizes:
            live = isinstance(x, Node) and x in self.live
            self._sizes[x] = int(live) + sum(map(self.size, self._below(x)))
        return self._sizes[x]

    def _into(self, x: Head) -> frozenset[Edge]:
        """Every edge on a path from an input that matters into ``x``."""
        if x not in self._edges:
            parts = [
                ({Edge(u, x)} if isinstance(x, Port) and isinstance(u, Node) else set())
                | self._into(u)  # a port's senders are nodes
                for u in self._below(x)
                if self.size(u)
            ]
            self._edges[x] = frozenset().union(*parts)
        return self._edges[x]

    def count(self, item: _Item) -> int:
        return self.size(item.head)

    @staticmethod
    def complete(item: _Item) -> bool:
        return isinstance(item.head, Node) and item.head.is_input

    def children(self, item: _Item) -> list[_Item]:
        head, tail, kids = item.head, item.tail, []
        if not isinstance(head, Port):
            kids = [_Item(h, tail) for h in self._below(head)]
        if isinstance(head, Port):
            senders = self.graph.senders(head)
            for u in senders:
                layer = tuple(h for h in senders if u.kind == h.kind == "head" and h.layer == u.layer)
                if len(layer) > 1 and u == layer[0]:
                    assert u.layer is not None  # a head
                    kids.append(_Item(_Layer(u.layer, layer), (head,) + tail))
                elif len(layer) <= 1:  # an input, an MLP (as its one port) or a layer's only head
                    kids.append(_Item(Port(u, None) if u.kind == "mlp" else u, (head,) + tail))
        kids = [k for k in kids if self.count(k) > 0]
        return [self.children(k)[0] if self.count(k) == 1 and not self.complete(k) else k for k in kids]

    def text(self, item: _Item, anchored: bool = True) -> str:
        """The item's pattern; ``anchored=False`` keeps the paths from inputs equal in both runs (the
        same hypothesis for the engine, planned faster)."""
        anchor = [self.anchor, "..."] if anchored and self.anchor and not self.complete(item) else []
        return " -> ".join(anchor + [item.head.name] + [p.name for p in item.tail])

    def edges(self, item: _Item) -> set[Edge]:
        """Every edge on the item's paths."""
        head, tail = item.head, item.tail
        first = head.heads if isinstance(head, _Layer) else (head if isinstance(head, Node) else head.node,)
        chain = {Edge(u, tail[0]) for u in first} if tail else set()
        return chain | {Edge(a.node, b) for a, b in zip(tail, tail[1:])} | set(self._into(head))


class _Search:
    """The state (items kept and dropped, importances, PE) and its two kinds of step."""

    def __init__(self, space: _Space, scorer: CachedScorer, target: float, min_gain: float, width: int) -> None:
        self.space, self.scorer, self.target, self.min_gain, self.width = space, scorer, target, min_gain, width
        self.items: list[_Item] = [_Item(Port(Node("out")), ())]
        self.dropped: list[_Item] = []
        self.importance: dict[_Item, float] = {self.items[0]: math.inf}
        self.pe = 1.0

    def key(self, item: _Item) -> str:
        return self.space.text(item, anchored=False)

    def hypothesis(self, items: list[_Item]) -> Hypothesis:
        return paths([self.key(i) for i in items]) if items else no_paths()

    def _measure(self, items: list[_Item]) -> None:
        """One call: the state's PE, and the importance in it of each of ``items``."""
        base = self.hypothesis(self.items)
        pe = self.scorer.proportions({"": base, **{self.key(i): base - paths(self.key(i)) for i in items}})
        self.pe = pe[""]
        self.importance.update((i, self.pe - pe[self.key(i)]) for i in items)

    def refine(self) -> bool:
        """Split the most important open items, measure the new ones, drop those that do not matter."""
        imp = self.importance
        split: list[_Item] = []
        kids: list[_Item] = []
        for item in sorted((i for i in self.items if self.space.count(i) > 1), key=lambda i: (-imp[i], self.key(i))):
            new = self.space.children(item)
            if split and len(kids) + len(new) > self.width:
                break
            split, kids = split + [item], kids + new
        if not split:
            return False
        self.items = [i for i in self.items if i not in split] + kids
        self._measure(kids)
        budget, spent = (self.pe - self.target) / 2, 0.0
        for kid in sorted(kids, key=lambda i: (imp[i], self.key(i))):
            if imp[kid] > self.min_gain or (imp[kid] > 0 and spent + imp[kid] > budget):
                break
            spent += imp[kid]
            self.items.remove(kid)
            self.dropped.append(kid)
        return True

    def fit(self) -> bool:
        """Two calls: fresh importances, then the measured prefixes of a trim (or repair) ranking."""
        self._measure(self.items)
        trim = self.pe >= self.target
        order = sorted(
            self.items if trim else self.dropped,
            key=lambda i: ((1 if trim else -1) * self.importance[i] / self.space.count(i), self.key(i)),
        )
        n = len(order) - trim  # a trim never empties the set
        grid = sorted({math.ceil(n * j / 32) for j in range(1, 33)}) if n > 32 else list(range(1, n + 1))
        if not grid:
            return False
        sets = {k: order[k:] if trim else self.items + order[:k] for k in grid}
        pe = self.scorer.proportions({str(k): self.hypothesis(v) for k, v in sets.items()})
        ok = [k for k in grid if pe[str(k)] >= self.target]
        if trim and not ok:
            return False
        k = max(ok) if trim else min(ok) if ok else max(grid, key=lambda j: (pe[str(j)], -j))
        self.items, self.pe = sets[k], pe[str(k)]
        self.dropped = [i for i in self.dropped if i not in order[:k]] + (order[:k] if trim else [])
        return True


def _check_args(target: Any, max_steps: Any, min_gain: Any, max_candidates: Any) -> tuple[float, float]:
    if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0 < float(target) <= 1:
        raise ArgumentError(
            f"target is the proportion explained to reach, a number in (0, 1] such as 0.9; got {target!r}"
        )
    validate.check_int(max_steps, "max_steps", 3)
    validate.check_int(max_candidates, "max_candidates", 1)
    if min_gain is None:
        min_gain = (1.0 - float(target)) / 20
    elif isinstance(min_gain, bool) or not isinstance(min_gain, numbers.Real) or not float(min_gain) >= 0:
        raise ArgumentError(
            f"min_gain is the importance (a share of the effect) at or below which a new item may be "
            f"dropped while refining: a number >= 0 such as 0.005, or None for (1 - target) / 20; "
            f"got {min_gain!r}"
        )
    return float(target), float(min_gain)


def discover_paths(
    model: ResidualModel,
    pairs: Pairs,
    target: float = 0.9,
    delta: str | Delta = "kl",
    ablation: Ablation = "resample",
    max_steps: int = 16,
    min_gain: float | None = None,
    max_candidates: int = 256,
    batch_size: int = 32,
    max_memory: int | str | None = None,
    progress: bool = True,
    score: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
) -> Circuit:
    """A compact set of paths that explains at least ``target`` of the effect on ``pairs``.

    Grows path suffixes backwards from ``out``, then fits the set to ``target`` (module docs).
    ``delta``, ``ablation``, ``batch_size``, ``max_memory``: as in :func:`pathpatch.score`.
    ``max_steps``: engine calls at most (3 or more: a refine step and a fit round); ``min_gain``:
    the importance at or below which a new item may go while refining (default ``(1 - target) / 20``);
    ``max_candidates``: new items measured per refine step at most. ``score``: score the result with
    :func:`pathpatch.score` on ``pairs`` (``n_boot``, ``seed``) as ``circuit.score``, named ``"paths"``.

    Returns a path-level :class:`Circuit`: ``patterns``, most important first (their union is
    ``circuit.hypothesis`` = ``pathpatch.paths(circuit.patterns)``); ``edges``, every edge on their
    paths; ``found_by``: the parameters, ``paths`` (the count), ``importance`` per pattern (PE of the
    set minus PE without it, when last measured), the ``proportion_explained`` the search measured
    and ``target_reached``, and the costs: ``steps`` (engine calls of the search), ``passes`` (with
    the pass that measures the total effect for a callable delta), ``hypotheses`` and ``seconds``.
    """
    options = Options(delta, ablation, batch_size, progress, max_memory)
    target, min_gain = _check_args(target, max_steps, min_gain, max_candidates)
    intervals = Intervals(n_boot=n_boot, seed=seed) if will_score(score, seed) else None
    check_model(model, "discover_paths")
    check_pairs(pairs, "discover_paths")
    check_data(model, pairs, options)
    start = time.perf_counter()
    space, scorer = _Space(model, ablation), CachedScorer(model, pairs, options)
    search, first = _Search(space, scorer, target, min_gain, max_candidates), scorer.passes
    bar = tqdm(total=max_steps, desc="discover paths", unit="step", disable=not progress, leave=False)
    for step, calls in ((search.refine, 3), (search.fit, 2)):  # refining leaves two calls for a fit round
        while scorer.passes - first + calls <= max_steps:
            before, changed = scorer.passes, step()
            bar.update(scorer.passes - before)
            bar.set_postfix(items=len(search.items), pe=f"{search.pe:.3f}")
            if not changed:
                break
    bar.close()
    items = sorted(search.items, key=lambda i: (-search.importance[i], space.text(i)))
    found_by = {
        "algorithm": "paths",
        "target": target,
        "min_gain": min_gain,
        "max_candidates": max_candidates,
        "max_steps": max_steps,
        "delta": options.delta_name,
        "ablation": options.ablation,
        "examples": len(pairs),
        "seed": seed,
        **provenance(model, pairs),
        "paths": sum(map(space.count, items)),
        "importance": [float(search.importance[i]) for i in items],
        "proportion_explained": float(search.pe),
        "target_reached": bool(search.pe >= target),
        "steps": scorer.passes - first,
        "passes": scorer.passes,
        "hypotheses": scorer.hypotheses,
        "seconds": round(time.perf_counter() - start, 3),
    }
    edges = edges_in_order(set().union(*map(space.edges, items)), model.graph.edges)
    weights = dict.fromkeys(edges, 0.0)
    for i in items:  # an edge weighs the summed importance of the patterns through it
        for e in space.edges(i):
            weights[e] += float(search.importance[i])
    circuit = Circuit(edges, tuple(space.text(i) for i in items), found_by=found_by, weights=weights)
    if intervals is not None:
        report = score_with(model, {"paths": circuit.hypothesis}, pairs, options.replace(progress=False), intervals)
        circuit = replace(circuit, score=report["paths"], found_by={**found_by, "scored_on": SEARCH_EXAMPLES})
    return circuit
