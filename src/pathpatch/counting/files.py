"""What the number study writes: plots, the circuit diagram, report.json/.md, study.json and the
HTML page (:func:`pathpatch.render.write_html`).

``report.json`` is the δ = |Δ loss| report as :func:`pathpatch.render.write_report_json` writes
it (graph and hypotheses, so the HTML page can show them), plus ``"accuracy"`` (top-1 on the
task), ``"counting"`` (the whole :class:`~pathpatch.counting.probe.CountingProof`) and
``"logit_diff"`` (the same hypotheses scored with δ = |Δ number logit difference|).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..graph import Node
from ..lang.hypothesis import subgraph
from ..lang.kept import edges_on_paths
from ..model.residual import ResidualModel
from ..render.bars import plot_report
from ..render.curves import plot_localisations
from ..render.heatmaps import plot_trace
from .result import NumberStudy
from .task import POSITION_LABELS

__all__ = ["write_study", "plot_search", "draw_last_position", "markdown", "needed_markdown"]


def plot_search(study: NumberStudy, path: Path) -> Path:
    """Proportion explained by the path search, step by step, and by the causal-tracing cells
    (:func:`pathpatch.render.curves.plot_localisations`)."""
    return plot_localisations(
        [s["proportion_explained"] for s in study.search],
        [len(c["nodes"]) for c in study.tracing_curve],
        [c["proportion_explained"] for c in study.tracing_curve],
        path,
    )


def draw_last_position(model: ResidualModel, nodes: list[str], path: Path, n_paths: int | None = None) -> None:
    """The path search's nodes at the last position and the edges among them (inputs → nodes → out);
    what reaches them from earlier positions is free in the hypothesis and not drawn. ``n_paths``:
    the hypothesis's position-resolved paths ending at the last position (the tables' count)."""
    from ..render import draw

    keep = {Node.parse(n) for n in nodes}
    graph = model.graph
    edges = edges_on_paths(
        graph,
        (
            e
            for e in graph.edges
            if (e.sender in keep or e.sender in graph.inputs)
            and (e.receiver.node in keep or e.receiver.node.kind == "out")
        ),
    )
    count = "" if n_paths is None else f"; the hypothesis holds {n_paths:,} position-resolved paths ending there"
    draw(
        model,
        subgraph(edges),
        path,
        title=f"path search at the last position: {', '.join(nodes) or 'no node'} (earlier positions free)",
        note=f"{len(edges)} edges at the last position{count}, as the tables count them",
    )


def write_study(study: NumberStudy, model: ResidualModel, out: Path) -> None:
    from ..render import write_html, write_report_json

    plot_trace(
        study.trace,
        out / "trace.png",
        labels=list(POSITION_LABELS)[: len(study.trace.positions)],
        title="causal trace: proportion of |Δ loss| restored",
    )
    plot_search(study, out / "search.png")
    plot_report(study.reports["loss"], out / "proportion_explained.png", title="δ = |Δ loss|")
    counts = study.info.get("paths_at_last_position", {})
    searched = next((n for n in counts if n.startswith("path search")), None)
    draw_last_position(model, study.path_nodes, out / "circuit.png", counts[searched] if searched else None)
    description = (
        f"Number continuation <|endoftext|> s s+1 s+2 -> s+3 on {study.info['model']}: top-1 accuracy "
        f"{study.proof.accuracy:.3f} over {study.proof.prompts} prompts. Path patching (greedy search over "
        "heads and MLPs at the last position) against causal tracing (whole layers at the last position), "
        "scored with δ = |Δ loss|; report.json's logit_diff holds the same rows with δ = |Δ number logit "
        "difference|."
    )
    write_report_json(
        study.reports["loss"],
        out / "report.json",
        model=model,
        hypotheses=study.hypotheses,
        diagrams=[],
        description=description,
        extra={
            "accuracy": study.proof.accuracy,
            "counting": study.proof.to_dict(),
            "logit_diff": study.reports["logit_diff"].to_dict(),
        },
    )
    (out / "study.json").write_text(
        json.dumps(
            {
                "trace": study.trace.to_dict(),
                "search": study.search,
                "path_nodes": study.path_nodes,
                "tracing_cells": study.tracing_cells,
                "tracing_curve": study.tracing_curve,
                "info": study.info,
                "counting": study.proof.to_dict(),
            },
            indent=1,
        )
    )
    (out / "report.md").write_text(markdown(study))
    write_html(out)


def needed_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The table of what each method needs to reach each level (``info["needed"]``)."""
    if not rows:
        return []

    def cell(claim: dict[str, int] | None) -> str:
        return "not reached" if claim is None else f"{claim['nodes']} ({claim['paths']:,} paths)"

    out = [
        "What each method needs to reach a level of proportion explained (δ = |Δ loss|): heads and MLPs at "
        "the last position, and the position-resolved paths ending there:",
        "",
        "| proportion explained ≥ | path search | causal tracing (whole layers) |",
        "|---:|---:|---:|",
    ]
    out += [f"| {r['level']:.1f} | {cell(r['path_search'])} | {cell(r['tracing'])} |" for r in rows]
    return out


def markdown(study: NumberStudy) -> str:
    sp = study.info["specificity"]
    ratio = "n/a" if sp["path_ratio"] is None else f"{sp['path_ratio']:.3g}×"
    lines = [
        "# Number continuation (`<|endoftext|> s s+1 s+2` → ` s+3`), path patching vs causal tracing",
        "",
        f"Model: {study.info['model']}. {study.info['prompts']} prompts; x_new = another prompt of the task "
        f"(seed {study.info['seed']}). Runtime {study.info['seconds']} s.",
        "",
        "## The behaviour",
        "",
        study.proof.summary() + ".",
        "",
        "## Causal tracing (restore one cell in the x_new run; proportion of |Δ loss| restored)",
        "",
        "```",
        str(study.trace),
        "```",
        "",
        "![trace](trace.png)",
        "",
        "## Path search at the last position",
        "",
        "| step | node added | proportion explained |",
        "|---:|:---|---:|",
    ]
    lines += [
        f"| {i} | {s['node'] or '(none)'} | {s['proportion_explained']:.3f} |" for i, s in enumerate(study.search)
    ]
    attention = study.info.get("attention", {})
    if attention:
        labels = list(POSITION_LABELS)
        lines += [
            "",
            "Attention of the heads found, from the last position (mean over prompts):",
            "",
            "| head | " + " | ".join(f"`{lab}`".replace("|", "\\|") for lab in labels) + " |",
            "|:---|" + "---:|" * len(labels),
        ]
        lines += [f"| {h} | " + " | ".join(f"{a:.2f}" for a in row) + " |" for h, row in attention.items()]
    lines += ["", f"Causal-tracing localisation reaching the same level: {', '.join(study.tracing_cells)}.", ""]
    lines += needed_markdown(study.info.get("needed", []))
    lines += [
        "",
        "![search](search.png)",
        "",
        "![circuit](circuit.png)",
        "",
        "## Scores (δ = |Δ loss|)",
        "",
        study.reports["loss"].to_markdown(),
        "",
        "## Scores (δ = |Δ logit[correct] − mean logit[other numbers]|)",
        "",
        study.reports["logit_diff"].to_markdown(),
        "",
        "## Specificity",
        "",
        f"The path hypothesis keeps {sp['nodes_path']} heads/MLPs at the last position and "
        f"{sp['paths_path']} position-resolved paths; the causal-tracing localisation keeps "
        f"{sp['nodes_tracing']} nodes and {sp['paths_tracing']} paths ({ratio} as many paths).",
        "",
    ]
    return "\n".join(lines)
