"""What a discovery algorithm returns: a circuit as edges or as path patterns, its score, and
how it was found; saved to and loaded from JSON.

An edge-level circuit (ACDC, EAP's top edges) is the hypothesis ``subgraph(edges)``; a path-level
circuit is the union of its path patterns, ``paths(patterns)``. Either way :attr:`Circuit.hypothesis`
re-scores with :func:`pathpatch.score` to the same numbers as :attr:`Circuit.score`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from typing import Any

from ..errors import InputError
from ..graph import Edge
from ..lang.hypothesis import Hypothesis, no_paths, paths, subgraph
from ..report import HypothesisScore

__all__ = ["Circuit"]

_FORMAT = "pathpatch.circuit/1"


@dataclass(frozen=True)
class Circuit:
    """A discovered circuit.

    Attributes:
        edges: the edges it keeps (for a path-level circuit: every edge on one of its paths), in
            the graph's order.
        patterns: the path patterns of a path-level circuit (their union is the hypothesis), or
            ``None`` for an edge-level circuit (the hypothesis is ``subgraph(edges)``).
        score: its metrics (proportion explained, AUE, ... with intervals) on the data it was
            scored on, or ``None`` if not scored.
        found_by: how it was found, JSON values: ``algorithm``, its parameters, ``delta``,
            ``ablation``, ``seed``, ``examples``, and costs such as ``passes`` and ``seconds``.
    """

    edges: tuple[Edge, ...]
    patterns: tuple[str, ...] | None = None
    score: HypothesisScore | None = None
    found_by: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "edges", tuple(self.edges))
        for e in self.edges:
            if not isinstance(e, Edge):
                raise InputError(f"Circuit.edges must hold Edge objects, got {type(e).__name__}")
        if self.patterns is not None:
            object.__setattr__(self, "patterns", tuple(self.patterns))
            for p in self.patterns:
                if not isinstance(p, str):
                    raise InputError(f"Circuit.patterns must hold pattern strings, got {type(p).__name__}")

    @property
    def hypothesis(self) -> Hypothesis:
        """The circuit as a hypothesis: ``paths(patterns)``, or ``subgraph(edges)``."""
        if self.patterns is not None:
            return paths(self.patterns) if self.patterns else no_paths()
        return subgraph(self.edges)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def level(self) -> str:
        """``"paths"`` or ``"edges"``."""
        return "edges" if self.patterns is None else "paths"

    def with_score(self, score: HypothesisScore | None) -> Circuit:
        return replace(self, score=score)

    def metric(self, name: str = "proportion_explained") -> float | None:
        """The point value of one metric of :attr:`score` (``None`` if unscored)."""
        if self.score is None or name not in self.score.metrics:
            return None
        return self.score.metrics[name].value

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "level": self.level,
            "edges": [e.name for e in self.edges],
            "patterns": None if self.patterns is None else list(self.patterns),
            "score": None if self.score is None else self.score.to_dict(),
            "found_by": self.found_by,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Circuit:
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise InputError(
                f"not a saved circuit (expected a JSON object with format {_FORMAT!r}); write one with Circuit.save"
            )
        score = d.get("score")
        return cls(
            edges=tuple(Edge.parse(e) for e in d["edges"]),
            patterns=None if d.get("patterns") is None else tuple(d["patterns"]),
            score=None if score is None else HypothesisScore.from_dict(score),
            found_by=dict(d.get("found_by") or {}),
        )

    def save(self, path: str | FilePath) -> FilePath:
        path = FilePath(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | FilePath) -> Circuit:
        path = FilePath(path)
        if not path.is_file():
            raise InputError(f"no circuit file at {path}; write one with Circuit.save or `pathpatch discover --out`")
        return cls.from_dict(json.loads(path.read_text()))

    def __str__(self) -> str:
        algo = self.found_by.get("algorithm", "circuit")
        size = (
            f"{len(self.patterns)} patterns, {self.n_edges} edges"
            if self.patterns is not None
            else f"{self.n_edges} edges"
        )
        pe = self.score.metrics.get("proportion_explained") if self.score is not None else None
        return f"{algo}: {size}" + (f", proportion explained {pe}" if pe is not None else "")


def edges_in_order(edges: Iterable[Edge], graph_edges: Iterable[Edge]) -> tuple[Edge, ...]:
    """``edges`` in the graph's edge order."""
    keep = set(edges)
    return tuple(e for e in graph_edges if e in keep)
