"""The base cell's figures and the report page's files: each step's picture, drawn by ``render/``.

:func:`step_figures` draws, for one finished step of the base cell, what pictures it best:
a score step's proportion explained (``STEP.png``), a ladder's refinements, a probe's head scores,
a scan's top rows, a trace's heatmap, a discovered circuit (``circuit-STEP.png``/``.svg``) and
its faithfulness curve. :func:`write_pages` writes ``report.json`` (the report step's table with
each row's hypothesis, for the page's diagrams), ``study.json`` and ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..discovery.circuit import Circuit
from ..discovery.curves import FaithfulnessCurve
from ..induction.probes import InductionProof, plot_head_scores
from ..ladder import Ladder
from ..model.residual import ResidualModel
from ..render.bars import plot_gains, plot_report, plot_scan_top
from ..render.curves import plot_faithfulness
from ..render.heatmaps import plot_trace
from ..render.spec import from_spec
from ..report import Report
from ..scans import ScanTable
from ..tracing import TraceTable

__all__ = ["step_figures", "value_of", "write_pages"]


def value_of(data: dict[str, Any]) -> Any:
    """The Python value a step's JSON result came from, where it can be rebuilt (scans and traces
    cannot: their figures are drawn only when they ran in this process)."""
    kind = data["kind"]
    if kind == "score":
        return Report.from_dict(data["report"])
    if kind == "ladder":
        return Ladder(
            Report.from_dict(data["report"]),
            data["gains"],
            data["prefixes"],
            data["best_k"],
            data["best_patterns"],
            data["subgraph_extra_paths"],
        )
    if kind == "probe":
        return InductionProof(**data["proof"])
    if "circuit" in data:
        return Circuit.from_dict(data["circuit"])
    return None


def step_figures(out: Path, name: str, data: dict[str, Any], value: Any, model: ResidualModel) -> list[Path]:
    """The figures of step ``name`` of the base cell (module docs)."""
    from ..render import draw

    written: list[Path] = []
    if isinstance(value, Report):
        written.append(plot_report(value, out / f"{name}.png", title=f"{name}: proportion explained"))
    elif isinstance(value, Ladder):
        rows = value.gains[:15]
        written.append(
            plot_gains(
                {g["name"]: g["gain"] for g in rows},
                out / f"{name}-refinements.png",
                xlabel="gain in proportion explained over the base hypothesis",
                title=f"{name}: refinements (top {len(rows)})",
            )
        )
        written.append(plot_report(value.report, out / f"{name}.png", title=f"{name}: the ladder"))
    elif isinstance(value, InductionProof):
        written.append(plot_head_scores(value, out / f"{name}-head-scores.png"))
    elif isinstance(value, ScanTable):
        written.append(
            plot_scan_top(value, out / f"{name}.png", title=f"{name}: {value.kind.value if value.kind else ''} scan")
        )
    elif isinstance(value, TraceTable):
        written.append(plot_trace(value, out / f"{name}.png", title=f"{name}: causal trace"))
    elif isinstance(value, Circuit):
        drawing = draw(model, value, out / f"circuit-{name}.png", title=f"{name}: {value}")
        written += [drawing.png, drawing.svg]
        if data.get("curve"):
            curve = FaithfulnessCurve.from_dict(data["curve"])
            written.append(plot_faithfulness({name: curve}, out / f"{name}-faithfulness.png", title=f"{name}"))
    return written


def write_pages(out: Path, spec: Any, base: dict[str, Any], model: ResidualModel, info: dict[str, Any]) -> Path:
    """``report.json``, ``study.json`` and ``report.html`` of the base cell ``base`` (a cell file)."""
    import json

    from ..render import write_html, write_report_json

    steps = base["steps"]
    scored = [n for n, s in spec.steps.items() if s.kind == "score" and n in steps]
    chosen = spec.study.report or (scored[-1] if scored else None)
    if chosen is not None:
        data = steps[chosen]
        report = Report.from_dict(data["report"])
        hyps = {n: from_spec(s) for n, s in data["hypotheses"].items()}
        write_report_json(
            report,
            out / "report.json",
            model=model,
            hypotheses=hyps,
            diagrams=list(hyps)[:4],
            description=spec.study.description or f"Study {spec.study.name}: step {chosen}.",
        )
    (out / "study.json").write_text(json.dumps({"info": info, "description": spec.study.description}, indent=1) + "\n")
    return write_html(out)
