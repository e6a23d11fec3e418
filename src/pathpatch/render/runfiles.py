"""The files of a run that an HTML report is built from: writing what they lack, reading them back.

``report.json`` is :meth:`Report.to_dict` (``Report.from_json`` still reads it) plus, when written
by :func:`write_report_json`:

- ``"graph"``: the model's architecture (:class:`~pathpatch.model.config.ModelConfig` fields),
  enough to rebuild its graph and redraw diagrams without the weights;
- per row: ``"hypothesis"`` (a JSON spec, :mod:`.spec`) and ``"text"`` (Python to copy);
- ``"diagrams"``: the rows to draw (default: every row with a hypothesis, at most 8);
- ``"description"``: a paragraph about the run.

``circuit.json`` (a discovered :class:`~pathpatch.discovery.circuit.Circuit`, with ``"graph"``
when ``pathpatch discover`` wrote it), ``discovery.json`` (the demo's discovered circuits scored
on held-out sequences), ``scan.json`` (:func:`~.scanfiles.write_scan`) and ``study.json`` (any JSON; its ``"info"`` and
``"description"`` describe the run) are read as they are; ``robustness.json``, a study's robustness
card, is checked against its format (:func:`~.cardfile.check_card`); every ``*.png`` of the folder
is a plot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..graph import Graph, GraphSource, graph_of
from ..lang.hypothesis import Hypothesis
from ..model.config import ModelConfig
from ..report import Report
from .cardfile import check_card
from .spec import snippet, to_spec

__all__ = ["architecture", "graph_from", "write_report_json", "Run", "read_run"]


def architecture(model: GraphSource) -> dict[str, Any]:
    """The model's architecture as JSON values (``ModelConfig`` fields, no weights)."""
    cfg = graph_of(model).config
    return {f.name: getattr(cfg, f.name) for f in fields(ModelConfig)}


def graph_from(data: Any) -> Graph | None:
    """The graph an :func:`architecture` dict describes (None for None)."""
    if data is None:
        return None
    try:
        return Graph(ModelConfig.from_dict(dict(data)))
    except (ConfigError, TypeError) as err:
        raise InputError(
            f"the run's recorded graph is not a model architecture ({err}); rewrite the run's "
            "report.json with pathpatch.render.write_report_json"
        ) from None


def write_report_json(
    report: Report,
    path: str | Path,
    *,
    model: GraphSource | None = None,
    hypotheses: Mapping[str, Hypothesis] | None = None,
    diagrams: Iterable[str] | None = None,
    description: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``report`` as ``report.json`` with what a report page needs (see module docs).

    ``hypotheses``: name -> hypothesis for rows of the report (others are left without one);
    ``diagrams``: names of rows to draw in the HTML report; ``extra``: more top-level keys (JSON
    values) a run records beside the report, e.g. the number study's ``accuracy``.
    """
    data = report.to_dict()
    names = set(report.names)
    for what, given in (("hypotheses", hypotheses or {}), ("diagrams", diagrams or ())):
        unknown = sorted(set(given) - names)
        if unknown:
            raise InputError(f"{what} name rows the report lacks: {unknown}; the report's rows are {sorted(names)}")
    if model is not None:
        data["graph"] = architecture(model)
    for row in data["scores"]:
        hyp = (hypotheses or {}).get(row["name"])
        if hyp is not None:
            row["hypothesis"] = to_spec(hyp)
            row["text"] = snippet(hyp)
    if diagrams is not None:
        data["diagrams"] = list(diagrams)
    if description:
        data["description"] = description
    clash = sorted(set(extra or {}) & set(data))
    if clash:
        raise InputError(f"extra keys {clash} would overwrite the report's own; name them otherwise")
    data.update(extra or {})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Run:
    """What a results folder holds: its JSON files (None when absent) and its PNG plots."""

    folder: Path
    report: dict[str, Any] | None
    study: dict[str, Any] | None
    scan: dict[str, Any] | None
    pngs: tuple[Path, ...]
    robustness: dict[str, Any] | None = None
    circuit: dict[str, Any] | None = None
    discovery: dict[str, Any] | None = None

    @property
    def graph(self) -> Graph | None:
        """The model's graph, when the run recorded it (``"graph"`` of report.json, scan.json or
        robustness.json, the first that has one)."""
        for data in (self.report, self.scan, self.robustness, self.circuit):
            if data is not None and data.get("graph") is not None:
                return graph_from(data["graph"])
        return None


def _load(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path} is not valid JSON ({err}); rerun the command that wrote it") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a {type(data).__name__}, not a JSON object; rerun the command that wrote it")
    return data


def read_run(folder: str | Path) -> Run:
    """The run in ``folder``; a typed error when it holds none of report.json, scan.json,
    robustness.json or a PNG."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"no folder {str(folder)!r}; pass a results folder such as results/induction "
            "(written by `pathpatch demo`) or results/scan (`pathpatch scan ...`)"
        )
    run = Run(
        folder,
        _load(folder / "report.json"),
        _load(folder / "study.json"),
        _load(folder / "scan.json"),
        tuple(sorted(folder.glob("*.png"))),
        _load(folder / "robustness.json"),
        _load(folder / "circuit.json"),
        _load(folder / "discovery.json"),
    )
    if run.report is not None:
        try:
            Report.from_dict(run.report)
        except (InputError, KeyError, TypeError, ValueError) as err:
            raise InputError(
                f"{folder / 'report.json'} is not a pathpatch report ({err}); write it with "
                "Report.to_json or pathpatch.render.write_report_json"
            ) from None
    if run.robustness is not None:
        try:
            check_card(run.robustness)
        except InputError as err:
            raise InputError(f"{folder / 'robustness.json'}: {err}") from None
    if (
        all(d is None for d in (run.report, run.scan, run.robustness, run.circuit, run.discovery, run.study))
        and not run.pngs
    ):
        raise InputError(
            f"{folder} holds no run files: expected report.json, scan.json, study.json, robustness.json, "
            "circuit.json, discovery.json or PNG plots, as `pathpatch demo`, `pathpatch example`, `pathpatch scan`, "
            "`pathpatch discover` or a study write them"
        )
    return run
