"""What a discovery algorithm returns: a circuit as edges or as path patterns, its score, and
how it was found; saved to and loaded from JSON.

An edge-level circuit (ACDC, EAP's top edges) is the hypothesis ``subgraph(edges)``; a path-level
circuit is the union of its path patterns, ``paths(patterns)``. Either way :attr:`Circuit.hypothesis`
re-scores with :func:`pathpatch.score` to the same numbers as :attr:`Circuit.score`.

A circuit records where it came from (:func:`provenance`): ``found_by["model"]`` (the model's
name, weights digest and graph, :func:`~pathpatch.model.identity.model_identity`),
``found_by["data"]`` (examples, pairing seed, digest of the pairs) and ``found_by["scored_on"]``
(``"the search examples"`` or ``"other examples"``). :meth:`Circuit.check_model` refuses another
model (:class:`~pathpatch.errors.ModelMismatchError`); :meth:`Circuit.load` checks every key of
the file (:class:`~pathpatch.errors.CircuitFileError`, naming the file and the key) and drops, with
a warning, a stored score that was measured on other edges or patterns than the file now holds.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from typing import Any

from ..data import Pairs
from ..errors import CircuitFileError, InputError, ModelMismatchError, PathPatchError
from ..graph import Edge
from ..lang.hypothesis import Hypothesis, no_paths, paths, subgraph
from ..model.identity import check_identity, model_identity
from ..model.residual import ResidualModel
from ..report import HypothesisScore

__all__ = ["Circuit", "provenance", "scored_on", "edges_in_order"]

_FORMAT = "pathpatch.circuit/1"
SEARCH_EXAMPLES = "the search examples"
OTHER_EXAMPLES = "other examples"


def provenance(model: ResidualModel, pairs: Pairs) -> dict[str, Any]:
    """``found_by``'s record of the model and the data a search ran on."""
    return {
        "model": model_identity(model),
        "data": {"examples": len(pairs), "pairing_seed": pairs.seed, "tokens": pairs.digest()},
    }


def scored_on(found_by: dict[str, Any], pairs: Pairs) -> str:
    """Whether ``pairs`` are the examples the search ran on (``found_by["data"]``) or others."""
    data = found_by.get("data")
    same = isinstance(data, dict) and data.get("tokens") == pairs.digest()
    return SEARCH_EXAMPLES if same else OTHER_EXAMPLES


def _content_digest(level: str, edges: Iterable[str], patterns: Iterable[str] | None) -> str:
    text = json.dumps([level, list(edges), None if patterns is None else list(patterns)])
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Circuit:
    """A discovered circuit.

    Attributes:
        edges: the edges it keeps (for a path-level circuit: every edge on one of its paths), in
            the graph's order.
        patterns: the path patterns of a path-level circuit (their union is the hypothesis), or
            ``None`` for an edge-level circuit (the hypothesis is ``subgraph(edges)``).
        score: its metrics (proportion explained, AUE, ... with intervals) on the data it was
            scored on (``found_by["scored_on"]``), or ``None`` if not scored.
        found_by: how it was found, JSON values: ``algorithm``, its parameters, ``delta``,
            ``ablation``, ``seed``, ``examples``, ``model`` and ``data`` (see the module docs),
            ``scored_on``, and costs such as ``passes`` and ``seconds``.
        weights: each edge's measured effect, what diagrams weigh it by (``None``: not measured):
            ACDC's effect when the edge was tested, EAP's ``|score|``, and for a path set the summed
            importance of the patterns through the edge.
    """

    edges: tuple[Edge, ...]
    patterns: tuple[str, ...] | None = None
    score: HypothesisScore | None = None
    found_by: dict[str, Any] = field(default_factory=dict)
    weights: dict[Edge, float] | None = None

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
        if self.weights is not None:
            extra = [e for e in self.weights if e not in set(self.edges)]
            if extra:
                raise InputError(f"Circuit.weights names an edge the circuit does not keep: {extra[0]!r}")
            object.__setattr__(self, "weights", {e: float(w) for e, w in self.weights.items()})

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

    def check_model(self, model: ResidualModel) -> None:
        """Raise :class:`ModelMismatchError` unless ``model`` is the one this circuit was found on
        (same weights digest, when ``found_by`` records one) and holds every one of its edges."""
        recorded = self.found_by.get("model")
        if isinstance(recorded, dict):
            check_identity(recorded, model, f"this {self.found_by.get('algorithm', 'circuit')} circuit")
        graph = model.graph
        unknown = [e.name for e in self.edges if e not in graph.edge_set]
        if unknown:
            raise ModelMismatchError(
                f"the circuit's edge {unknown[0]!r} ({len(unknown)} such) is not an edge of this model "
                f"({graph.describe()}); use the circuit with the model it was found on"
            )

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        edges = [e.name for e in self.edges]
        return {
            "format": _FORMAT,
            "level": self.level,
            "edges": edges,
            "patterns": None if self.patterns is None else list(self.patterns),
            "score": None if self.score is None else self.score.to_dict(),
            "score_of": (
                None
                if self.score is None and self.weights is None
                else _content_digest(self.level, edges, self.patterns)
            ),
            "found_by": self.found_by,
            "weights": None if self.weights is None else {e.name: w for e, w in self.weights.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], file: str | None = None) -> Circuit:
        """The circuit ``d`` holds; every key checked (:class:`CircuitFileError` naming ``file``)."""

        def bad(key: str, message: str) -> CircuitFileError:
            return CircuitFileError(file, key, message)

        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise bad(
                "format",
                f"not a saved circuit (expected a JSON object with format {_FORMAT!r}); write one with Circuit.save",
            )
        if "edges" not in d:
            raise bad("edges", 'missing: a saved circuit lists its edges, e.g. ["embed -> out"]')
        edges = d["edges"]
        if not isinstance(edges, list):
            raise bad("edges", f'must be a list of edge names such as "embed -> out", got {type(edges).__name__}')
        parsed = []
        for i, e in enumerate(edges):
            if not isinstance(e, str):
                raise bad(f"edges[{i}]", f'must be an edge name such as "embed -> out", got {e!r}')
            try:
                parsed.append(Edge.parse(e))
            except PathPatchError as err:
                raise bad(f"edges[{i}]", f"{e!r} is not an edge name: {err}") from None
        patterns = d.get("patterns")
        if patterns is not None and (not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns)):
            raise bad("patterns", f"must be null or a list of pattern strings, got {patterns!r:.60}")
        level = d.get("level", "edges" if patterns is None else "paths")
        if level not in ("edges", "paths"):
            raise bad("level", f"must be 'edges' or 'paths', got {level!r}")
        if (level == "paths") != (patterns is not None):
            raise bad(
                "level",
                f"is {level!r} but patterns is {'null' if patterns is None else 'a list'}: a path-level "
                "circuit has patterns, an edge-level one has none",
            )
        found_by = d.get("found_by") or {}
        if not isinstance(found_by, dict):
            raise bad("found_by", f"must be an object of JSON values, got {type(found_by).__name__}")
        score, weights = d.get("score"), d.get("weights")
        if score is not None and not isinstance(score, dict):
            raise bad("score", f"must be null or an object (a HypothesisScore), got {type(score).__name__}")
        if weights is not None and (
            not isinstance(weights, dict) or not all(isinstance(w, (int, float)) for w in weights.values())
        ):
            raise bad("weights", "must be null or an object {edge name: number}")
        measured = score is not None or weights is not None
        if measured and d.get("score_of") != _content_digest(level, edges, patterns):
            warnings.warn(
                f"{file or 'circuit'}: its stored score was measured on other edges; dropped, with the edges' "
                "weights (the file's edges or patterns were changed since, or it records no digest of them): "
                "re-score circuit.hypothesis with pathpatch.score",
                UserWarning,
                stacklevel=3,
            )
            score = weights = None
        by_edge: dict[Edge, float] | None = None
        if weights is not None:
            kept = {e.name: e for e in parsed}
            unknown = [k for k in weights if k not in kept]
            if unknown:
                raise bad("weights", f"names {unknown[0]!r}, which is not one of the circuit's edges")
            by_edge = {kept[k]: float(w) for k, w in weights.items()}
        try:
            scored = None if score is None else HypothesisScore.from_dict(score)
        except (KeyError, TypeError, ValueError) as err:
            raise bad(
                "score", f"is not a saved score ({err!r}); remove it or write the file with Circuit.save"
            ) from None
        return cls(
            edges=tuple(parsed),
            patterns=None if patterns is None else tuple(patterns),
            score=scored,
            found_by=dict(found_by),
            weights=by_edge,
        )

    def save(self, path: str | FilePath) -> FilePath:
        path = FilePath(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | FilePath, model: ResidualModel | None = None) -> Circuit:
        """The circuit saved at ``path``; with ``model``, checked to belong to it (:meth:`check_model`)."""
        path = FilePath(path)
        if not path.is_file():
            raise InputError(f"no circuit file at {path}; write one with Circuit.save or `pathpatch discover --out`")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CircuitFileError(str(path), "", f"is not JSON ({err}); write it with Circuit.save") from None
        circuit = cls.from_dict(data, str(path))
        if model is not None:
            circuit.check_model(model)
        return circuit

    def __str__(self) -> str:
        algo = self.found_by.get("algorithm", "circuit")
        size = (
            f"{len(self.patterns)} patterns, {self.n_edges} edges"
            if self.patterns is not None
            else f"{self.n_edges} edges"
        )
        pe = self.score.metrics.get("proportion_explained") if self.score is not None else None
        where = self.found_by.get("scored_on")
        return (
            f"{algo}: {size}"
            + (f", proportion explained {pe}" if pe is not None else "")
            + (f" (scored on {where})" if pe is not None and where else "")
        )


def edges_in_order(edges: Iterable[Edge], graph_edges: Iterable[Edge]) -> tuple[Edge, ...]:
    """``edges`` in the graph's edge order."""
    keep = set(edges)
    return tuple(e for e in graph_edges if e in keep)
