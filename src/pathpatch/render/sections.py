"""Sections of the HTML report for a discovered circuit, the demo's discovery, a ladder's
refinements and a study's tables, and the folding of long listings.

- :func:`circuit_section` (``circuit.json``, as ``pathpatch discover`` writes it): the circuit's
  score and how it was found (where it was scored, the model and data it was found on), its
  diagram (the folder's ``circuit.svg``), its patterns or edges folded when long;
- :func:`discovery_section` (``discovery.json``, the demo's step 3): the discovered circuits and the
  ladder's best set scored on held-out sequences no search saw, as a table;
- :func:`study_sections` (``study.json``): a ladder's refinements with their gains and intervals;
  a causal trace as one layer × position grid per kind; a greedy search's steps; the counting
  check; the tracing curve; each a table, numbers rounded as in ``report.md``;
- :func:`fold`: a listing longer than :data:`FOLD_LINES` lines inside a closed ``<details>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..report import COLUMNS, Report
from .page import esc, figure_html, table

__all__ = ["FOLD_LINES", "fold", "circuit_section", "discovery_section", "study_sections", "value_text"]

FOLD_LINES = 12
Rows = list[tuple[list[tuple[str, object]], dict[str, str]]]  # a table's rows: (cells, attributes)


def fold(summary: str, body_html: str, lines: int) -> str:
    """``body_html`` as is when short, else inside a closed ``<details>`` headed ``summary``."""
    if lines <= FOLD_LINES:
        return body_html
    return f'<details class="fold"><summary>{esc(summary)} ({lines} lines)</summary>{body_html}</details>'


def value_text(v: Any) -> str:
    """A JSON value in words: floats to 3 decimals, lists and dicts as ``a, b`` / ``k: v``."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(value_text(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(f"{k}: {value_text(x)}" for k, x in v.items())
    return str(v)


def _report_table(data: dict[str, Any], table_id: str) -> str:
    report = Report.from_dict(data)
    body: Rows = []
    for s in report:
        cells: list[tuple[str, object]] = [(s.name, None), ("-" if s.n_paths is None else f"{s.n_paths:,}", s.n_paths)]
        cells += [(str(s.metrics[k]), s.metrics[k].value) if k in s.metrics else ("-", None) for k, _ in COLUMNS]
        body.append((cells, {}))
    ates = {str(s.metrics["ate"]) for s in report if "ate" in s.metrics}
    ate = f"<p>ATE = {esc(ates.pop())}</p>" if len(ates) == 1 else ""
    return ate + table(["hypothesis", "paths"] + [t for _, t in COLUMNS], body, table_id)


def circuit_section(data: dict[str, Any], folder: Path, shown: set[str]) -> str:
    found = dict(data.get("found_by") or {})
    algorithm = str(found.get("algorithm", "circuit"))
    out = [f'<section id="circuit"><h2>Discovered circuit: {esc(algorithm)}</h2>']
    patterns, edges = data.get("patterns"), data.get("edges") or []
    size = f"{len(patterns)} patterns, {len(edges)} edges" if patterns is not None else f"{len(edges)} edges"
    where = found.get("scored_on")
    out.append(f"<p>{esc(size)}" + (f"; scored on {esc(where)}" if where else "") + "</p>")
    if data.get("score"):
        out.append(_report_table({"scores": [data["score"]], "meta": {}}, "circuit-table"))
    settings = {k: v for k, v in found.items() if k not in ("importance",)}
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(value_text(v))}</dd>" for k, v in settings.items())
    out.append(f'<h3>How it was found</h3><dl class="meta">{items}</dl>')
    fig = figure_html(folder / "circuit.png", "dc")
    if fig:
        shown.add("circuit.png")
        out.append(fig)
    listing = patterns if patterns is not None else edges
    text = "\n".join(str(x) for x in listing)
    out.append(
        f"<h3>{'Patterns' if patterns is not None else 'Edges'}</h3>"
        + fold("the listing", f'<pre class="code">{esc(text)}</pre>', len(listing))
    )
    return "\n".join(out) + "</section>"


def discovery_section(data: dict[str, Any]) -> str:
    out = ['<section id="discovery"><h2>Discovered circuits beside the ladder, on held-out sequences</h2>']
    out.append(
        "<p>The path search and ACDC each ran on a few of the ladder's sequences; every row below is scored "
        "on sequences no search saw.</p>"
    )
    out.append(_report_table(data["report"], "discovery-table"))
    for key, name in (("circuit", "path search"), ("acdc", "ACDC")):
        c = data.get(key)
        if c:
            found = c.get("found_by") or {}
            n = len(c.get("patterns") or []) if c.get("patterns") is not None else None
            what = f"{n} patterns, {len(c.get('edges') or [])} edges" if n is not None else f"{len(c['edges'])} edges"
            out.append(
                f"<p>{esc(name)}: {esc(what)}, found on {esc(found.get('examples', '?'))} sequences "
                f"({esc(found.get('passes', '?'))} engine calls, {esc(value_text(found.get('seconds', '?')))} s)</p>"
            )
    return "\n".join(out) + "</section>"


def _refinements(gains: list[dict[str, Any]]) -> str:
    body: Rows = []
    for g in gains:
        pe = g.get("proportion_explained")
        low, high = g.get("low"), g.get("high")
        interval = f"[{low:.3f}, {high:.3f}]" if isinstance(low, float) and isinstance(high, float) else "-"
        body.append(
            (
                [
                    (str(g["name"]), None),
                    (f"{g['gain']:+.3f}", g["gain"]),
                    (interval, None),
                    ("-" if pe is None else f"{pe:.3f}", pe),
                    ("; ".join(g.get("patterns", [])), None),
                ],
                {},
            )
        )
    return (
        f'<section id="refinements"><h2>Refinements ({len(gains)}), each added alone</h2>'
        "<p>Gain in proportion explained over the base hypothesis; the interval is the refined set's "
        "interval shifted by the base's value. I.q, I.k, I.v: the induction heads' query, key and value "
        "inputs; P: the previous-token heads.</p>"
        + table(["refinement", "gain", "interval", "proportion explained", "patterns"], body, "refinement-table")
        + "</section>"
    )


def _trace(trace: dict[str, Any]) -> str:
    positions = list(trace.get("positions") or [])
    rows = trace.get("rows") or []
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    metric = value_text(trace.get("metric", "")).replace("_", " ")
    out = [f'<section id="trace"><h2>Causal trace ({esc(trace.get("mode", ""))}, {esc(metric)})</h2>']
    for kind in kinds:
        cells = {(r["layer"], r["position"]): r["value"] for r in rows if r["kind"] == kind}
        layers = sorted({layer for layer, _ in cells})
        body: Rows = [
            (
                [(str(layer), None)]
                + [
                    (f"{cells[(layer, p)]:.3f}" if (layer, p) in cells else "-", cells.get((layer, p)))
                    for p in positions
                ],
                {},
            )
            for layer in reversed(layers)
        ]
        out.append(
            f"<h3>{esc(kind)}</h3>" + table(["layer \\ position"] + [str(p) for p in positions], body, f"trace-{kind}")
        )
    return "\n".join(out) + "</section>"


def _search(steps: list[dict[str, Any]]) -> str:
    body: Rows = [
        (
            [
                (str(i), i),
                (str(s.get("node") or "(none)"), None),
                (f"{s['proportion_explained']:.3f}", s["proportion_explained"]),
            ],
            {},
        )
        for i, s in enumerate(steps)
    ]
    return (
        '<section id="search"><h2>Path search</h2>'
        + table(["step", "node added", "proportion explained"], body, "search-table")
        + "</section>"
    )


def _curve(curve: list[dict[str, Any]]) -> str:
    body: Rows = [
        (
            [
                (str(c.get("cells")), c.get("cells")),
                (str(c.get("name")), None),
                (str(len(c.get("nodes", []))), None),
                (f"{c['proportion_explained']:.3f}", c["proportion_explained"]),
            ],
            {},
        )
        for c in curve
    ]
    return (
        '<section id="tracing-curve"><h2>Causal-tracing localisation, cell by cell</h2>'
        + table(["cells", "cell added", "nodes", "proportion explained"], body, "curve-table")
        + "</section>"
    )


def study_sections(study: dict[str, Any]) -> str:
    """The tables of a study.json (see module docs); ``""`` when it holds none of them."""
    parts = []
    if isinstance(study.get("gains"), list) and study["gains"]:
        parts.append(_refinements(study["gains"]))
    if isinstance(study.get("counting"), dict):
        c = study["counting"]
        items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(value_text(v))}</dd>" for k, v in c.items())
        parts.append(f'<section id="counting"><h2>The behaviour</h2><dl class="meta">{items}</dl></section>')
    if isinstance(study.get("trace"), dict) and study["trace"].get("rows"):
        parts.append(_trace(study["trace"]))
    if isinstance(study.get("search"), list) and study["search"]:
        parts.append(_search(study["search"]))
    if isinstance(study.get("tracing_curve"), list) and study["tracing_curve"]:
        parts.append(_curve(study["tracing_curve"]))
    return "\n".join(parts)
