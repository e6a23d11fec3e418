"""Node and edge scans: one hypothesis per node or edge, scored together in shared batched passes.

In path terms (docs/design.md §1):

- **restore** node v in the ablated run (causal-tracing style, without positions) is
  ``through(v)``: every copy of v sees only x_ref, everything else x_new;
- **ablate** node v in the clean run is ``~through(v)``;
- restore / ablate edge ``u -> v.c`` are ``through_edge(u, v.c)`` / ``~through_edge(u, v.c)``
  (the latter is the IOI paper's sender→receiver path patching).

Each scan returns a :class:`ScanTable`: one row per node or edge with its metric and interval, in
graph order, printable as a table. Each row keeps what it scanned (its :class:`Node`, :class:`Edge` or
:class:`Path`) and the table its :class:`ScanKind`, so figures (:mod:`pathpatch.render`) read the
objects; the row names are for people and for the files written. Names are parsed once, where they
come in: a node or path given as text, or a row read back from a written ``scan.json``
(:func:`row_subject`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal, TypeAlias

from . import validate
from .data import Pairs, check_pairs
from .errors import ArgumentError, EmptyPathSetError, InputError, PatternError, UnknownNodeError
from .estimates import UNRELIABLE_MARK, Estimate
from .graph import Edge, Node
from .graph import Path as GraphPath
from .lang.hypothesis import Hypothesis, missing_edge, through, through_edge
from .lang.hypothesis import paths as explicit
from .metrics import Delta
from .model.residual import ResidualModel, check_model
from .report import Report
from .scoring import count_paths, score

__all__ = [
    "ScanTable",
    "ScanKind",
    "Scanned",
    "row_subject",
    "node_scan",
    "edge_scan",
    "sender_scan",
    "path_scan",
    "format_rows",
    "decimals",
]

Mode = Literal["restore", "ablate"]

Scanned: TypeAlias = Node | Edge | GraphPath
"""What one row of a scan scanned: a node (node and sender scans), an edge or a path."""


class ScanKind(Enum):
    """What each row of a scan is: a node, an edge, a sender's edges into the receivers, a path."""

    NODES = "nodes"
    EDGES = "edges"
    SENDERS = "senders"
    PATHS = "paths"


def row_subject(kind: ScanKind, name: str) -> Scanned | None:
    """What the row ``name`` of a ``kind`` scan scanned, read from its name; None for a row named
    by a pattern (``node_scan(nodes=["a1.*"])``, ``path_scan(paths=["embed -> a1.*.v -> out"])``).

    For names that come in as text: a node or path given by name, a row of a written scan.json.
    """
    try:
        if kind is ScanKind.EDGES:
            return Edge.parse(name)
        if kind is ScanKind.PATHS:
            return GraphPath.parse(name)
        return Node.parse(name)
    except PatternError:
        return None


@dataclass(frozen=True)
class ScanTable:
    """Rows ``(name, estimate)`` of one metric, the report they came from, the kind of scan, and
    what each row scanned: ``subjects[i]`` is the :data:`Scanned` object of ``rows[i]`` (None for a
    row named by a pattern, and for every row of a table built by hand without ``subjects``)."""

    mode: str
    metric: str
    rows: tuple[tuple[str, Estimate], ...]
    report: Report
    kind: ScanKind | None = None
    subjects: tuple[Scanned | None, ...] = ()

    def __post_init__(self) -> None:
        if not self.subjects:
            object.__setattr__(self, "subjects", (None,) * len(self.rows))
        elif len(self.subjects) != len(self.rows):
            raise InputError(f"a ScanTable needs one subject per row, got {len(self.subjects)} for {len(self.rows)}")

    def __getitem__(self, name: str) -> Estimate:
        for row_name, estimate in self.rows:
            if row_name == name:
                return estimate
        raise KeyError(f"no row {name!r}; rows are {[n for n, _ in self.rows]}")

    def largest_first(self) -> bool:
        """Whether larger values matter more: a ratio metric (proportion explained, loss recovered)
        when restoring, an unexplained effect (AUE) when ablating."""
        return (self.mode == "restore") == (self.metric in ("proportion_explained", "loss_recovered"))

    def top(self, k: int = 10) -> list[tuple[str, Estimate]]:
        """The ``k`` rows that matter most, most first: with a ratio metric the largest when
        restoring and the smallest when ablating (an ablated part that matters leaves little
        explained), the other way round for the AUE. ``--top`` on the command line means the same."""
        return self.by_value(k, largest=self.largest_first())

    def most_important(self, k: int = 10) -> list[tuple[str, Estimate]]:
        """The same rows as :meth:`top`."""
        return self.top(k)

    def by_value(self, k: int = 10, largest: bool = True) -> list[tuple[str, Estimate]]:
        """The ``k`` rows with the largest values (the smallest with ``largest=False``), whatever they mean."""
        return sorted(self.rows, key=lambda r: -r[1].value if largest else r[1].value)[:k]

    @property
    def ate(self) -> Estimate | None:
        """The average total effect every row shares (same data, same delta), if the rows carry it."""
        ates = [s.metrics["ate"] for s in self.report if "ate" in s.metrics]
        return ates[0] if ates else None

    def to_dict(self) -> dict[str, Any]:
        """``{"mode", "metric", "rows": [{"name", "value", "low", "high", "level", ...}], "ate"}`` (JSON
        values; a row's ``unreliable`` says why its ratio cannot be trusted, when it cannot)."""
        return {
            "mode": self.mode,
            "metric": self.metric,
            "rows": [{"name": n, **e.to_dict()} for n, e in self.rows],
            "ate": None if self.ate is None else self.ate.to_dict(),
        }

    def __str__(self) -> str:
        lines = [f"{self.mode} scan, {self.metric.replace('_', ' ')} ({self.report.meta.get('examples')} examples)"]
        lines += format_rows(self.rows)
        if self.ate is not None:
            lines.append(f"ATE = {self.ate}")
        return "\n".join(lines)


def decimals(rows: Sequence[tuple[str, Estimate]]) -> int:
    """One number of decimals for a whole table: 3, or enough for 3 significant digits of its
    largest magnitude when that is below 0.1 (at most 8)."""
    top = max((abs(x) for _, e in rows for x in (e.value, e.low, e.high) if math.isfinite(x)), default=0.0)
    return 3 if top == 0 else max(3, min(8, 2 - math.floor(math.log10(top))))


def format_rows(rows: Sequence[tuple[str, Estimate]], among: Sequence[tuple[str, Estimate]] | None = None) -> list[str]:
    """``name  value [low, high]`` lines, names padded, every number with the same decimals (chosen
    from ``among``, default ``rows``, so a top-k listing keeps the whole table's precision)."""
    if not rows:
        return []
    d = decimals(among or rows)
    width = max(len(n) for n, _ in rows)
    return [
        f"{n:<{width}}  {e.value:.{d}f} [{e.low:.{d}f}, {e.high:.{d}f}]{UNRELIABLE_MARK if e.unreliable else ''}"
        for n, e in rows
    ]


def _subject(kind: ScanKind, given: Any) -> Scanned | None:
    """What a node or path given to a scan (an object, or its name) scans."""
    if isinstance(given, (Node, GraphPath)):
        return given
    return row_subject(kind, given) if isinstance(given, str) else None


def _check(model: Any, pairs: Any, mode: Any, metric: Any, where: str) -> None:
    """The arguments every scan shares, checked before any work."""
    check_model(model, where)
    check_pairs(pairs, where)
    if not isinstance(mode, str) or mode not in ("restore", "ablate"):
        raise InputError(f"mode must be 'restore' or 'ablate', got {mode!r}")
    validate.check_metric(metric)


def _scan(
    model: ResidualModel,
    named: dict[str, Hypothesis],
    subjects: dict[str, Scanned | None],
    kind: ScanKind,
    pairs: Pairs,
    mode: Mode,
    metric: str,
    kw: dict[str, Any],
) -> ScanTable:
    """Score the hypothesis of each row name (``subjects``: what each row name scans)."""
    hyps = named if mode == "restore" else {k: ~h for k, h in named.items()}
    report = score(model, hyps, pairs, **kw)
    rows = tuple((s.name, s.metrics[metric]) for s in report)
    return ScanTable(mode, metric, rows, report, kind, tuple(subjects[s.name] for s in report))


def node_scan(
    model: ResidualModel,
    pairs: Pairs,
    nodes: Iterable[str | Node] | None = None,
    mode: Mode = "restore",
    metric: str = "proportion_explained",
    delta: str | Delta = "kl",
    **kw: Any,
) -> ScanTable:
    """Restore (or ablate) each node in turn; default: every head and MLP."""
    _check(model, pairs, mode, metric, "node_scan")
    if isinstance(nodes, (str, Node)):
        nodes = [nodes]
    given = list(nodes) if nodes is not None else [n for n in model.graph.nodes if n.kind in ("head", "mlp")]
    subjects = {(n.name if isinstance(n, Node) else n): _subject(ScanKind.NODES, n) for n in given}
    named = {n: through(n) for n in subjects}
    return _scan(model, named, subjects, ScanKind.NODES, pairs, mode, metric, {"delta": delta, **kw})


def edge_scan(
    model: ResidualModel,
    pairs: Pairs,
    edges: Iterable[str | Edge] | None = None,
    receiver: str | None = None,
    mode: Mode = "ablate",
    metric: str = "proportion_explained",
    delta: str | Delta = "kl",
    **kw: Any,
) -> ScanTable:
    """Restore (or ablate, the default: sender→receiver path patching) each edge in turn.

    ``receiver`` (e.g. ``"a1.5.k"``) scans every edge into that port; ``edges`` the given ones;
    neither: every edge of the graph.
    """
    _check(model, pairs, mode, metric, "edge_scan")
    if receiver is not None:
        if not isinstance(receiver, str):
            raise TypeError(f"receiver must be a port name such as 'a1.5.k', got {type(receiver).__name__}")
        port = model.graph.port(receiver.strip())
        chosen = [Edge(s, port) for s in model.graph.senders(port)]
    elif edges is not None:
        if isinstance(edges, (str, Edge)):
            edges = [edges]
        bad = [e for e in edges if not isinstance(e, (str, Edge))]
        if bad:
            raise TypeError(f"edges are 'a0.1 -> a1.0.k' strings or Edge objects, got {type(bad[0]).__name__}")
        chosen = [e if isinstance(e, Edge) else Edge.parse(e) for e in edges]
        known = set(model.graph.edges)
        for e in chosen:
            if e not in known:
                model.graph.port(e.receiver.name)  # unknown names first
                model.graph.node(e.sender.name)
                raise missing_edge(model.graph, e, e.name)
    else:
        chosen = list(model.graph.edges)
    if not chosen:
        raise InputError("edge_scan got no edges to scan")
    named = {e.name: through_edge(e.sender, e.receiver) for e in chosen}
    subjects: dict[str, Scanned | None] = {e.name: e for e in chosen}
    return _scan(model, named, subjects, ScanKind.EDGES, pairs, mode, metric, {"delta": delta, **kw})


def sender_scan(
    model: ResidualModel,
    pairs: Pairs,
    receivers: str | Iterable[str],
    senders: Iterable[str] | None = None,
    mode: Mode = "ablate",
    metric: str = "proportion_explained",
    delta: str | Delta = "kl",
    **kw: Any,
) -> ScanTable:
    """The IOI paper's path-patching sweep: for each sender, patch its edges into ``receivers``.

    ``receivers``: ports (``"a9.6.q"``), or nodes whose every channel counts (``"a9.6"`` means its
    q, k and v; ``"a9.*"``-style wildcards are not taken here, list the ports). With the default
    ``mode="ablate"``, sender s's row is the hypothesis "every path except those with an edge from
    s into a receiver": x_new flows along exactly those edges. ``senders`` default to every node
    with an edge into some receiver.
    """
    _check(model, pairs, mode, metric, "sender_scan")
    graph = model.graph
    if not isinstance(receivers, (str, list, tuple)) or not all(isinstance(r, str) for r in receivers):
        raise TypeError(f"receivers must be a port or node name, or a list of them, got {receivers!r}")
    names = [r.strip() for r in ([receivers] if isinstance(receivers, str) else list(receivers)) if r.strip()]
    ports = []
    for name in names:
        if any(c in name for c in "*{}[]|"):
            raise ArgumentError(
                f"receiver {name!r}: wildcards are not supported here; name each receiving node or port, "
                "e.g. ['a1.6', 'a1.7'] (on the command line --receivers 'a1.6,a1.7')"
            )
        try:
            node = graph.node(name)
        except UnknownNodeError as err:
            if name.count(".") < 2 and name[:1] == "a":  # a head without a channel: the head is unknown
                raise err from None
            ports.append(graph.port(name))  # raises a clear error for a bad name
        else:
            ports += [p for p in graph.ports if p.node == node]
    if not ports:
        raise InputError(f"sender_scan needs receivers, got {receivers!r}")
    sending = [u for u in graph.nodes if any(u in graph.senders(p) for p in ports)]
    if isinstance(senders, (str, Node)):
        senders = [senders]
    chosen = sending if senders is None else [graph.node(s.strip()) if isinstance(s, str) else s for s in senders]
    lonely = [u.name for u in chosen if u not in sending]
    if lonely:
        raise InputError(f"{lonely} send to none of {[p.name for p in ports]}; senders must come before a receiver")
    named = {}
    for u in chosen:
        edges = [through_edge(u, p) for p in ports if u in graph.senders(p)]
        hyp = edges[0]
        for e in edges[1:]:
            hyp = hyp | e
        named[u.name] = hyp
    subjects: dict[str, Scanned | None] = {u.name: u for u in chosen}
    return _scan(model, named, subjects, ScanKind.SENDERS, pairs, mode, metric, {"delta": delta, **kw})


def path_scan(
    model: ResidualModel,
    pairs: Pairs,
    paths: Iterable[str] | None = None,
    mode: Mode = "restore",
    metric: str = "proportion_explained",
    delta: str | Delta = "kl",
    max_paths: int = 20_000,
    **kw: Any,
) -> ScanTable:
    """Each single path on its own: by default ``restore`` (x_ref flows along that path only).

    ``paths`` default to every path of the graph (refused above ``max_paths``: a 12-layer model has
    astronomically many; restrict them with a pattern's ``.iter(model)``).
    """
    _check(model, pairs, mode, metric, "path_scan")
    validate.check_int(max_paths, "max_paths", 1)
    if isinstance(paths, str):
        paths = [paths]
    if paths is None:
        total = model.graph.count_paths()
        if total > max_paths:
            raise InputError(
                f"the model has {total:,} paths, more than max_paths={max_paths:,}; pass paths= "
                "(e.g. [p.name for p in pathpatch.paths('embed -> ... -> a1.*.k -> out').iter(model)])"
            )
        subjects: dict[str, Scanned | None] = {p.name: p for p in model.graph.iter_paths()}
    else:
        subjects = {(p if isinstance(p, str) else p.name): _subject(ScanKind.PATHS, p) for p in paths}
    if not subjects:
        raise InputError("path_scan got no paths to scan")
    named = {p: explicit(p) for p in subjects}
    for p, h in named.items():
        h.compile(model)  # unknown names first
        if count_paths(h, model, pairs) == 0:
            raise EmptyPathSetError(
                f"{p!r} is no path of this model ({model.graph.describe()}): a sender must "
                "come before its receiver, and an edge into k or v from a position at or "
                "before the receiver's, any other at the same position",
                p,
                p,
                0,
            )
    return _scan(model, named, subjects, ScanKind.PATHS, pairs, mode, metric, {"delta": delta, **kw})
