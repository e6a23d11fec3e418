"""ROC curves of edge scores against a known edge set (how auto-circuit and MIB score discovery).

Every edge of the graph is a candidate: the true edges are positives, the rest negatives. An
algorithm's per-edge scores (larger: more likely in the circuit) sweep a threshold; a binary
circuit (ACDC's kept edges) is the score 1 for kept, 0 for the rest, whose curve has one corner.
Tied scores move together (the curve goes diagonally through a tie), so the area is the
probability that a random positive outscores a random negative, ties counting half.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import InputError
from ..graph import Edge

__all__ = ["roc_curve", "roc_auc"]


def _arrays(
    scores: Mapping[Edge, float], truth: Iterable[Edge], edges: Iterable[Edge]
) -> tuple[np.ndarray, np.ndarray]:
    edges = list(edges)
    truth = set(truth)
    unknown = truth - set(edges)
    if unknown:
        raise InputError(f"true edges not in the graph: {sorted(e.name for e in unknown)[:5]}")
    if not truth or len(truth) == len(edges):
        raise InputError("a ROC curve needs at least one true edge and one false edge")
    s = np.array([float(scores.get(e, 0.0)) for e in edges])
    if not np.isfinite(s).all():
        raise InputError("edge scores must be finite")
    y = np.array([e in truth for e in edges])
    return s, y


def roc_curve(
    scores: Mapping[Edge, float], truth: Iterable[Edge], edges: Iterable[Edge]
) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` from (0, 0) to (1, 1), one corner per distinct score, highest first.

    ``scores``: per-edge scores, larger meaning "in the circuit" (missing edges score 0);
    ``truth``: the true edges; ``edges``: every candidate edge (usually ``model.graph.edges``).
    """
    s, y = _arrays(scores, truth, edges)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # the last index of each run of equal scores
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return np.r_[0.0, fp / (~y).sum()], np.r_[0.0, tp / y.sum()]


def roc_auc(scores: Mapping[Edge, float], truth: Iterable[Edge], edges: Iterable[Edge]) -> float:
    """The area under :func:`roc_curve` (1.0: every true edge outscores every false one)."""
    fpr, tpr = roc_curve(scores, truth, edges)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
