"""The study's ``[hypotheses]`` as :class:`~pathpatch.lang.hypothesis.Hypothesis` values, and
their check against the model's graph.

A string is one pattern, a list the union of its patterns; a table holds ``paths``, ``edges``
(a subgraph) or ``subgraph_of`` (the subgraph of another hypothesis's edges on this model).
:func:`check_on_model` compiles every pattern of the study (hypotheses, ladder groups, scanned
paths) on the model before any work, so that an unknown node is reported with the key it is
under and the pattern's caret message.
"""

from __future__ import annotations

from ..errors import PatternError, StudyFileError
from ..lang.hypothesis import Hypothesis, paths, subgraph
from ..lang.kept import kept_edges
from ..model.residual import ResidualModel
from .schema import LadderStep, Paths, ScanStep, StudySpec

__all__ = ["build_hypotheses", "check_on_model"]


def _one(spec: StudySpec, name: str, model: ResidualModel) -> Hypothesis:
    h = spec.hypotheses[name]
    if isinstance(h, str):
        return paths([h])
    if isinstance(h, list):
        return paths(h)
    if isinstance(h, Paths) and h.paths is not None:
        return paths(h.paths)
    if isinstance(h, Paths) and h.edges is not None:
        return subgraph(h.edges)
    assert isinstance(h, Paths) and h.subgraph_of is not None
    return subgraph(kept_edges(_one(spec, h.subgraph_of, model), model))


def build_hypotheses(spec: StudySpec, model: ResidualModel) -> dict[str, Hypothesis]:
    """Every declared hypothesis, by name."""
    return {name: _one(spec, name, model) for name in spec.hypotheses}


def _count(file: str | None, key: str, hyp: Hypothesis, model: ResidualModel) -> None:
    try:
        n = hyp.count(model)
    except PatternError as err:
        raise StudyFileError(file, key, f"does not fit the model ({model.graph.describe()}):\n{err}") from None
    if n == 0:
        raise StudyFileError(
            file,
            key,
            f"names no path of the model ({model.graph.describe()}): a sender must come before its receiver",
            "patterns that hold at least one path",
        )


def check_on_model(spec: StudySpec, model: ResidualModel, file: str | None = None) -> None:
    """Compile every pattern of ``spec`` on ``model`` (module docs)."""
    for name in spec.hypotheses:
        try:
            hyp = _one(spec, name, model)
        except PatternError as err:
            raise StudyFileError(file, f"hypotheses.{name}", f"does not fit the model:\n{err}") from None
        _count(file, f"hypotheses.{name}", hyp, model)
    for step_name, step in spec.steps.items():
        if isinstance(step, LadderStep):
            for group, patterns in step.groups.items():
                _count(file, f"steps.{step_name}.groups.{group}", paths(patterns), model)
        if isinstance(step, ScanStep) and step.paths is not None:
            _count(file, f"steps.{step_name}.paths", paths(step.paths), model)
