"""The checks that need the whole study: names that refer to each other, splits, patterns, claims
and sweeps. :func:`check_study` runs them on a schema-checked :class:`~.schema.StudySpec`, before any
work; each failure is a :class:`~pathpatch.errors.StudyFileError` naming the key and what it may be.

Names: hypotheses and steps share one namespace, since a step that finds a circuit (``acdc``,
``eap``, ``eap-ig``, ``paths``) or a set (``ladder``) offers its result as a hypothesis to the
steps after it. :func:`needs` gives the steps a step reads, so that a sweep over some steps runs
the steps they depend on too.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PatternError, StudyFileError
from ..graph import Edge
from ..lang.hypothesis import paths
from .schema import DISCOVERY, Claim, LadderStep, Paths, ScanStep, ScoreStep, StudySpec

__all__ = ["check_study", "needs", "producers", "score_steps_of", "split_rows", "SOURCES", "TASKS"]

SCORE_METRICS = ("proportion_explained", "aue", "loss_recovered", "ate")
CIRCUIT_METRICS = ("n_edges", "n_patterns")
TASKS = ("repeated-tokens",)
SOURCES = ("heldout", "a .safetensors or .npy file", *(f"task:{t}" for t in TASKS))


def producers(spec: StudySpec) -> list[str]:
    """The steps whose result is a hypothesis (discoveries and ladders), in file order."""
    return [name for name, step in spec.steps.items() if step.kind in (*DISCOVERY, "ladder")]


def needs(spec: StudySpec, name: str) -> list[str]:
    """The steps that step ``name`` reads the results of."""
    step = spec.steps[name]
    if isinstance(step, ScoreStep):
        return [h for h in (step.hypotheses or []) if h in spec.steps]
    return []


def score_steps_of(spec: StudySpec, hypothesis: str) -> list[str]:
    """The score steps that score ``hypothesis``."""
    return [
        name
        for name, step in spec.steps.items()
        if isinstance(step, ScoreStep)
        and (hypothesis in step.hypotheses if step.hypotheses is not None else hypothesis in spec.hypotheses)
    ]


def split_rows(spec: StudySpec, split: str) -> range:
    """The drawn examples' indices that split ``split`` takes its rows from."""
    lo, hi = (p.strip() for p in spec.data.splits[split].rows.split(":"))
    return range(spec.data.examples)[slice(int(lo) if lo else None, int(hi) if hi else None)]


def _patterns(file: str | None, key: str, patterns: list[str]) -> None:
    if not patterns:
        raise StudyFileError(file, key, "no patterns given", "a list of path patterns such as ['embed -> out']")
    try:
        paths(patterns)
    except PatternError as err:
        raise StudyFileError(file, key, f"a pattern does not parse:\n{err}") from None


def _hypotheses(spec: StudySpec, file: str | None) -> None:
    for name, h in spec.hypotheses.items():
        key = f"hypotheses.{name}"
        if name in spec.steps:
            raise StudyFileError(
                file, key, f"{name!r} names both a hypothesis and a step", "distinct names for hypotheses and steps"
            )
        if isinstance(h, str):
            _patterns(file, key, [h])
        elif isinstance(h, list):
            _patterns(file, key, h)
        elif isinstance(h, Paths):
            if h.paths is not None:
                _patterns(file, key + ".paths", h.paths)
            elif h.edges is not None:
                for e in h.edges:
                    try:
                        Edge.parse(e)
                    except PatternError as err:
                        raise StudyFileError(file, key + ".edges", f"not an edge:\n{err}") from None
            elif h.subgraph_of not in spec.hypotheses or h.subgraph_of == name:
                raise StudyFileError(
                    file,
                    key + ".subgraph_of",
                    f"{h.subgraph_of!r} is not another declared hypothesis",
                    ", ".join(n for n in spec.hypotheses if n != name) or "none declared",
                )


def _steps(spec: StudySpec, file: str | None) -> None:
    seen: list[str] = []
    for name, step in spec.steps.items():
        key = f"steps.{name}"
        if step.split not in spec.data.splits:
            raise StudyFileError(file, key + ".split", f"no split {step.split!r}", ", ".join(spec.data.splits))
        if isinstance(step, ScoreStep):
            offered = [*spec.hypotheses, *(p for p in producers(spec) if p in seen)]
            for h in step.hypotheses if step.hypotheses is not None else list(spec.hypotheses):
                if h not in offered:
                    later = " (a later step: move this step after it)" if h in spec.steps else ""
                    raise StudyFileError(
                        file,
                        key + ".hypotheses",
                        f"{h!r} is neither a declared hypothesis nor the result of an earlier step{later}",
                        ", ".join(offered) or "none",
                    )
            if step.hypotheses == [] or (step.hypotheses is None and not spec.hypotheses):
                raise StudyFileError(file, key + ".hypotheses", "nothing to score", "names of hypotheses")
        if isinstance(step, LadderStep):
            base = spec.hypotheses.get(step.base)
            if base is None or (isinstance(base, Paths) and base.paths is None):
                raise StudyFileError(
                    file,
                    key + ".base",
                    f"{step.base!r} is not a declared hypothesis written as patterns",
                    ", ".join(n for n, h in spec.hypotheses.items() if not isinstance(h, Paths) or h.paths) or "none",
                )
            for group, patterns in step.groups.items():
                _patterns(file, f"{key}.groups.{group}", patterns)
        if isinstance(step, ScanStep) and step.paths is not None:
            _patterns(file, key + ".paths", step.paths)
        seen.append(name)


def _splits(spec: StudySpec, file: str | None) -> None:
    for name, split in spec.data.splits.items():
        rows = split_rows(spec, name)
        bounds = [int(p) for p in split.rows.split(":") if p.strip()]
        if len(rows) < 2 or any(abs(b) > spec.data.examples for b in bounds):
            raise StudyFileError(
                file,
                f"data.splits.{name}.rows",
                f"rows {split.rows!r} of {spec.data.examples} examples: a split takes 2 or more rows of the drawn "
                "examples, within them",
                f"'a:b' with 0 <= a < b <= {spec.data.examples}",
            )
        if split.sample is not None and split.sample > len(rows):
            raise StudyFileError(
                file,
                f"data.splits.{name}.sample",
                f"sample {split.sample} is more than the split's {len(rows)} rows",
                f"2 to {len(rows)}",
            )


def _claim(spec: StudySpec, file: str | None, i: int, claim: Claim) -> None:
    key = f"claims[{i}]"
    if claim.circuit is not None:
        step = spec.steps.get(claim.circuit)
        if step is None or step.kind not in DISCOVERY:
            found = [n for n, s in spec.steps.items() if s.kind in DISCOVERY]
            raise StudyFileError(
                file, key + ".circuit", f"{claim.circuit!r} is not a discovery step", ", ".join(found) or "none"
            )
        allowed = CIRCUIT_METRICS if step.kind == "paths" else CIRCUIT_METRICS[:1]
        if claim.metric not in allowed:
            raise StudyFileError(
                file,
                key + ".metric",
                f"a circuit claim is about its size, not {claim.metric!r} (score it in a score step and claim "
                "about that hypothesis)",
                ", ".join(allowed),
            )
        return
    assert claim.hypothesis is not None
    scoring = score_steps_of(spec, claim.hypothesis)
    if claim.step is not None and claim.step not in scoring:
        raise StudyFileError(
            file,
            key + ".step",
            f"no score step {claim.step!r} scores {claim.hypothesis!r}",
            ", ".join(scoring) or "none",
        )
    if claim.step is None and len(scoring) != 1:
        raise StudyFileError(
            file,
            key + ".step",
            f"{claim.hypothesis!r} is scored by {len(scoring)} score steps; name the one the claim is judged on"
            if scoring
            else f"no score step scores {claim.hypothesis!r}",
            ", ".join(scoring) or "add a score step that scores it",
        )
    if claim.metric not in SCORE_METRICS:
        raise StudyFileError(file, key + ".metric", f"unknown metric {claim.metric!r}", ", ".join(SCORE_METRICS))


def _source(spec: StudySpec, file: str | None, base: Path) -> None:
    source = spec.data.source
    if source == "heldout":
        from ..zoo import SHIPPED

        if spec.model.name not in SHIPPED:
            raise StudyFileError(
                file,
                "data.source",
                f"'heldout' is the held-out text of a shipped model ({', '.join(SHIPPED)}), and the model is "
                + (f"{spec.model.name!r}" if spec.model.name else "given by path"),
                ", ".join(SOURCES),
            )
        return
    if source.startswith("task:"):
        if source[5:] not in TASKS:
            raise StudyFileError(file, "data.source", f"unknown task {source[5:]!r}", ", ".join(SOURCES))
        if spec.data.length is None:
            raise StudyFileError(file, "data.length", "a task needs a length (tokens per sequence)", "an int >= 2")
        return
    path = base / source
    if path.suffix not in (".safetensors", ".npy"):
        raise StudyFileError(file, "data.source", f"{source!r} is not a token file", ", ".join(SOURCES))
    if not path.is_file():
        raise StudyFileError(file, "data.source", f"no token file at {path}", "an existing .safetensors or .npy file")


def check_study(spec: StudySpec, file: str | None = None, base: Path | None = None) -> None:
    """Every check of the whole study (module docs); ``base``: the folder relative paths start from."""
    base = base or Path.cwd()
    _hypotheses(spec, file)
    _splits(spec, file)
    _steps(spec, file)
    _source(spec, file, base)
    if spec.model.path is not None and not (base / spec.model.path).is_dir():
        raise StudyFileError(
            file, "model.path", f"no model directory at {base / spec.model.path}", "a folder written by save_model"
        )
    for i, claim in enumerate(spec.claims):
        _claim(spec, file, i, claim)
    reports = [n for n, s in spec.steps.items() if isinstance(s, ScoreStep)]
    if spec.study.report is not None and spec.study.report not in reports:
        raise StudyFileError(file, "study.report", f"{spec.study.report!r} is not a score step", ", ".join(reports))
    if spec.settings.delta == "logit_diff":
        raise StudyFileError(
            file,
            "settings.delta",
            "logit_diff needs an incorrect token per target, which none of the study data sources provide",
            "'kl' or 'loss'",
        )
    for name, step in spec.steps.items():
        if step.settings.delta == "logit_diff":
            raise StudyFileError(
                file, f"steps.{name}.settings.delta", "logit_diff needs distractor tokens", "'kl', 'loss'"
            )
    for name, sweep in spec.sweeps.items():
        for s in sweep.steps or []:
            if s not in spec.steps:
                raise StudyFileError(file, f"sweeps.{name}.steps", f"no step {s!r}", ", ".join(spec.steps))
