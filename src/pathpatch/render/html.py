"""The HTML report of a results folder: one self-contained ``report.html`` built from its files.

Sections, each present when the folder has what it needs (:mod:`.runfiles`):

- the run's description and settings (``description``, the report's or scan's ``meta``, the
  study's ``info``);
- **hypotheses** (``report.json``): a sortable table with intervals; hovering a row lights up its
  edges in the diagrams; a circuit diagram of each row named in ``diagrams`` (default: every row
  with a hypothesis, at most 8), redrawn from the recorded graph; each hypothesis as Python to copy;
- **scan** (``scan.json``): its ATE, a sortable table (the 3,000 rows that matter most at most),
  and its own plots (``top.png``, ``heads.png``, ``circuit.svg``); hovering an edge, path or node
  row lights it up in the circuit;
- **robustness** (``robustness.json``, a study's robustness card): its cells, claims, hypotheses
  and discoveries across cells, with the card's figures (:mod:`.card`);
- **figures**: every other PNG of the folder (as inline SVG where a same-named ``.svg`` exists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import PathPatchError
from ..estimates import Estimate
from ..graph import Edge, Graph
from ..graph import Path as GraphPath
from ..lang.kept import kept_edges
from ..report import COLUMNS, Report
from ..scans import ScanKind, decimals, row_subject
from .card import card_html
from .drawing import circuit_svg
from .figure import edge_id
from .page import esc, figure_html, page, table
from .runfiles import Run, read_run
from .sections import circuit_section, discovery_section, fold, study_sections, value_text
from .spec import from_spec

__all__ = ["build_html", "write_html", "MAX_DIAGRAMS", "MAX_SCAN_ROWS"]

MAX_DIAGRAMS, MAX_SCAN_ROWS, MAX_HOVER_EDGES = 8, 3000, 3000


def _describe(run: Run) -> str:
    text = next((d["description"] for d in (run.report, run.study, run.scan) if d and d.get("description")), "")
    meta: dict[str, Any] = {}
    for d in (run.report, run.scan):
        if d and isinstance(d.get("meta"), dict):
            meta.update(d["meta"])
    if run.study and isinstance(run.study.get("info"), dict):
        meta.update(run.study["info"])
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(value_text(v))}</dd>" for k, v in meta.items())
    return (f'<p class="desc">{esc(text)}</p>' if text else "") + (f'<dl class="meta">{items}</dl>' if items else "")


def _edges(row: dict[str, Any], graph: Graph | None) -> tuple[Edge, ...] | None:
    if graph is None or "hypothesis" not in row:
        return None
    try:
        return kept_edges(from_spec(row["hypothesis"]), graph)
    except PathPatchError:  # e.g. a hypothesis that names positions: no edge list without a length
        return None


def _hypotheses(data: dict[str, Any], graph: Graph | None) -> str:
    """The hypotheses section from a run's report.json (``data``)."""
    report = Report.from_dict(data)
    rows = data["scores"]
    ates = {str(s.metrics["ate"]) for s in report if "ate" in s.metrics}
    out = ['<section id="hypotheses"><h2>Hypotheses</h2>']
    if len(ates) == 1:
        out.append(f"<p>ATE = {esc(ates.pop())} (the effect of replacing x_ref by x_new everywhere)</p>")
    body = []
    for score, row in zip(report, rows):
        n = score.n_paths
        cells: list[tuple[str, object]] = [(score.name, None), ("-" if n is None else str(n), n)]
        cells += [
            (str(score.metrics[k]), score.metrics[k].value) if k in score.metrics else ("-", None) for k, _ in COLUMNS
        ]
        edges = _edges(row, graph)
        hover = " ".join(edge_id(e) for e in edges) if edges is not None and len(edges) <= MAX_HOVER_EDGES else ""
        body.append((cells, {"data-edges": hover}))
    out.append(table(["hypothesis", "paths"] + [t for _, t in COLUMNS], body, "hypothesis-table"))
    reasons: dict[str, list[str]] = {}
    for s in report:
        for k, e in s.metrics.items():
            if e.unreliable:
                reasons.setdefault(f"{dict(COLUMNS).get(k, k)}: {e.unreliable}", []).append(s.name)
    for why, names in reasons.items():
        rows_txt = "every row" if len(names) == len(report) else ", ".join(names)
        out.append(
            f'<p class="note">(!) unreliable {esc(why)} ({esc(rows_txt)}), so the ratio and its interval '
            "can take any value; use more examples or pairs with a larger effect</p>"
        )
    out.append(_diagrams(data, rows, graph))
    texts = [(r["name"], r["text"]) for r in rows if r.get("text")]
    if texts:
        out.append("<h2>Hypotheses as code</h2>")
        for i, (name, text) in enumerate(texts):
            code = (
                f'<button class="copy" data-for="code-{i}">copy</button>'
                f'<pre class="code" id="code-{i}">{esc(text)}</pre>'
            )
            out.append(f"<h3>{esc(name)}</h3>" + fold("the code", code, text.count("\n") + 1))
    return "\n".join(out) + "</section>"


def _diagrams(data: dict[str, Any], rows: list[dict[str, Any]], graph: Graph | None) -> str:
    named = data.get("diagrams")
    chosen = [r for r in rows if r["name"] in named] if named is not None else [r for r in rows if "hypothesis" in r]
    chosen = [r for r in chosen if "hypothesis" in r][:MAX_DIAGRAMS]
    if not chosen:
        return ""
    if graph is None:
        return (
            '<p class="note">No circuit diagrams: the run recorded no graph (write report.json with '
            "pathpatch.render.write_report_json(report, path, model=model, hypotheses=...)).</p>"
        )
    figs = []
    for i, row in enumerate(chosen):
        try:
            svg, _ = circuit_svg(graph, row, prefix=f"h{i}")
        except PathPatchError as err:
            figs.append(f'<p class="note">{esc(row["name"])}: no diagram ({esc(err)})</p>')
            continue
        figs.append(f'<figure class="circuit">{svg}<figcaption>{esc(row["name"])}</figcaption></figure>')
    return "<h2>Circuit diagrams</h2>\n" + "\n".join(figs)


def _scan_row_attrs(kind: str, name: str) -> dict[str, str]:
    """What a row of scan.json lights up: its edges (edge and path scans, read from the row's name
    once, here where the file is read), else the node it names."""
    if kind not in (ScanKind.EDGES.value, ScanKind.PATHS.value):
        return {"data-nodes": name}
    subject = row_subject(ScanKind(kind), name)
    if isinstance(subject, Edge):
        return {"data-edges": edge_id(subject)}
    if isinstance(subject, GraphPath):
        return {"data-edges": " ".join(edge_id(e) for e in subject.edges)}
    return {}  # a row named by a pattern


def _scan(run: Run, shown: set[str]) -> str:
    scan = run.scan
    assert scan is not None
    rows = [(r["name"], Estimate.from_dict(r)) for r in scan["rows"]]
    restore = scan.get("mode") == "restore"
    if len(rows) > MAX_SCAN_ROWS:
        rows = sorted(rows, key=lambda r: -r[1].value if restore else r[1].value)[:MAX_SCAN_ROWS]
    metric = str(scan.get("metric", "value")).replace("_", " ")
    out = [
        f'<section id="scan"><h2>{esc(scan.get("mode", ""))} scan of {len(scan["rows"])} {esc(scan.get("kind", ""))}'
        f": {esc(metric)}</h2>"
    ]
    if scan.get("receivers"):
        out.append(f"<p>receivers: {esc(', '.join(scan['receivers']))}</p>")
    if scan.get("ate"):
        out.append(f"<p>ATE = {esc(Estimate.from_dict(scan['ate']))}</p>")
    if len(rows) < len(scan["rows"]):
        out.append(f'<p class="note">showing the {len(rows)} rows that matter most; every row is in scan.json</p>')
    d = decimals(rows)
    body = [
        (
            [
                (name, None),
                (f"{e.value:.{d}f}" + (" (!)" if e.unreliable else ""), e.value),
                (f"{e.low:.{d}f}", e.low),
                (f"{e.high:.{d}f}", e.high),
            ],
            _scan_row_attrs(str(scan.get("kind")), name),
        )
        for name, e in rows
    ]
    out.append(
        '<div class="scroll">'
        + table([str(scan.get("kind", "row")), metric, "low", "high"], body, "scan-table")
        + "</div>"
    )
    for stem in ("circuit", "heads", "top"):
        fig = figure_html(run.folder / f"{stem}.png", f"s-{stem}")
        if fig:
            shown.add(f"{stem}.png")
            out.append(fig)
    return "\n".join(out) + "</section>"


def build_html(folder: str | Path) -> str:
    """The report page of the run in ``folder`` (see module docs)."""
    run = read_run(folder)
    graph = run.graph
    shown: set[str] = set()
    parts = [f"<h1>pathpatch report: {esc(run.folder.resolve().name)}</h1>", _describe(run)]
    if run.report is not None:
        parts.append(_hypotheses(run.report, graph))
    if run.discovery is not None and isinstance(run.discovery.get("report"), dict):
        parts.append(discovery_section(run.discovery))
    if run.study is not None:
        parts.append(study_sections(run.study))
    if run.circuit is not None:
        parts.append(circuit_section(run.circuit, run.folder, shown))
    if run.robustness is not None:
        parts.append(card_html(run.robustness, run.folder, shown))
    if run.scan is not None:
        parts.append(_scan(run, shown))
    figures = [figure_html(p, f"f{i}") for i, p in enumerate(run.pngs) if p.name not in shown]
    if figures:
        parts.append('<section id="figures"><h2>Figures</h2>\n' + "\n".join(figures) + "</section>")
    return page(f"pathpatch report: {run.folder.resolve().name}", "\n".join(parts))


def write_html(folder: str | Path, out: str | Path | None = None) -> Path:
    """Write the report page of ``folder`` to ``out`` (default ``folder/report.html``)."""
    path = Path(out) if out is not None else Path(folder) / "report.html"
    text = build_html(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
