"""What the number study found (:func:`~pathpatch.counting.study.run_numbers` makes it, and
:mod:`pathpatch.counting.files` writes it): the trace, both searches, the reports and the proof
that the model counts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..lang.hypothesis import Hypothesis
from ..report import Report
from ..tracing import TraceTable
from .probe import CountingProof

__all__ = ["NumberStudy"]


@dataclass
class NumberStudy:
    trace: TraceTable
    search: list[dict[str, Any]]  # per step: added node, proportion explained
    path_nodes: list[str]
    tracing_cells: list[str]
    tracing_curve: list[dict[str, Any]]
    reports: dict[str, Report]  # "loss" and "logit_diff"
    info: dict[str, Any]
    proof: CountingProof
    hypotheses: dict[str, Hypothesis]  # the rows of the reports
