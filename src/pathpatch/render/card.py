"""The robustness card (:mod:`.cardfile`) as a section of the report page: ``<section id="robustness">``.

- **cells**: every cell of the study with its sweep, label and status (a failed cell's error, the
  other labels of a cell that several sweep points share);
- **claims**: per claim, how many cells it holds in of those judged (and which were not judged), its
  worst cell with value, interval and margin, then every cell (failing rows in red), under the
  claims' figure;
- **hypotheses**: the hypotheses' figure, then one sortable table of every (score step,
  hypothesis, cell) with each metric and its interval;
- **discoveries**: per discovery step, the sizes of the cells' circuits with their CPR and CMD,
  the mean Jaccard overlap, the robust core's edges with their inclusion (hovering one lights it up
  in the diagrams), the most included path patterns (path searches), and the step's figures.

Figures are the files :func:`~.cardplots.write_card_figures` writes, inlined from ``folder`` when
present (a note says how to write them when none is); the names inlined are added to ``shown`` so
that the page's generic figures section does not repeat them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import PatternError
from ..graph import Edge
from .cardfile import CLAIMS_PNG, HYPOTHESES_PNG, cell_labels, check_card, number_format, step_figure
from .figure import edge_id
from .page import esc, figure_html, table

__all__ = ["card_html", "MAX_PATTERNS"]

MAX_PATTERNS = 40

Row = tuple[Sequence[tuple[str, object]], dict[str, str]]


def _interval(p: Mapping[str, Any], fmt: Callable[[Any], str]) -> str:
    value, low, high = p.get("value"), p.get("lower"), p.get("upper")
    if low is None or high is None or (low == value and high == value):
        return fmt(value)
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def _scroll(html: str) -> str:
    return f'<div class="scroll short">{html}</div>'


def _figures(folder: Path, names: Sequence[str], prefix: str, shown: set[str]) -> str:
    out = []
    for i, name in enumerate(names):
        fig = figure_html(folder / name, f"{prefix}{i}")
        if fig:
            shown.add(name)
            if (folder / name).with_suffix(".svg").is_file():
                shown.add(Path(name).with_suffix(".svg").name)
            out.append(fig)
    return "\n".join(out)


def _cells(card: Mapping[str, Any]) -> str:
    rows: list[Row] = [
        (
            [(c["label"], None), (c["id"], None), (str(c.get("sweep", "")), None), (c["status"], None)]
            + [(str(c.get("error") or ""), None), (", ".join(map(str, c.get("also") or [])), None)],
            {"class": "" if c["status"] == "done" else "fails"},
        )
        for c in card["cells"]
    ]
    counts: dict[str, int] = {}
    for c in card["cells"]:
        if c["status"] != "done":
            counts[c["status"]] = counts.get(c["status"], 0) + 1
    note = "".join(f", {n} {status}" for status, n in counts.items())
    head = f"<h3>Cells</h3><p>{len(card['cells'])} cells{note} (the base first)</p>"
    return head + _scroll(table(["cell", "id", "sweep", "status", "error", "also"], rows, "robustness-cells"))


def _claim(i: int, claim: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    pts = claim["per_cell"]
    fmt = number_format([v for p in pts for v in (p["value"], p["lower"], p["upper"])] + [claim["bound"]])
    mfmt = number_format([p.get("margin") for p in pts])
    held, judged = claim["holds_in"], claim["judged_in"]
    verdict = "holds" if held == judged and judged > 0 else "fails"
    sign = ">=" if claim["direction"] == "at_least" else "<="
    out = [f"<h3>{esc(claim['name'])}</h3>"]
    if claim.get("text"):
        out.append(f'<p class="desc">{esc(claim["text"])}</p>')
    out.append(
        f'<p class="{verdict}">holds in {held} of {judged} cells '
        f"({esc(claim['metric'].replace('_', ' '))} {sign} {esc(fmt(claim['bound']))})</p>"
    )
    unjudged = [labels[c] for c in labels if c not in {p["cell"] for p in pts}]
    if unjudged:
        out.append(f'<p class="note">not judged in {len(unjudged)} cells: {esc(", ".join(unjudged))}</p>')
    worst = claim.get("worst")
    if worst is not None:
        margin = "" if worst.get("margin") is None else f", margin {mfmt(worst['margin'])}"
        out.append(
            f"<p>worst cell: <b>{esc(worst['label'])}</b> ({esc(worst['cell'])}): "
            f"{esc(_interval(worst, fmt))}{esc(margin)}</p>"
        )
    rows: list[Row] = [
        (
            [
                (p["label"], None),
                (_interval(p, fmt), p["value"]),
                (mfmt(p.get("margin")), p.get("margin")),
                ("-" if "holds" not in p else "yes" if p["holds"] else "no", None),
            ],
            {"class": "" if p.get("holds", True) else "fails"},
        )
        for p in pts
    ]
    out.append(_scroll(table(["cell", "value [interval]", "margin", "holds"], rows, f"robustness-claim-{i}")))
    return "\n".join(out)


def _hypotheses(card: Mapping[str, Any]) -> str:
    entries = card.get("hypotheses") or []
    metrics = list(dict.fromkeys(m for h in entries for m in h["metrics"]))
    fmts = {
        m: number_format(v for h in entries for p in h["metrics"].get(m, []) for v in (p["value"],)) for m in metrics
    }
    rows: list[Row] = []
    for h in entries:
        by_cell: dict[str, dict[str, Mapping[str, Any]]] = {}
        label: dict[str, str] = {}
        for m, points in h["metrics"].items():
            for p in points:
                by_cell.setdefault(p["cell"], {})[m] = p
                label.setdefault(p["cell"], p["label"])
        for cell, got in by_cell.items():
            cells: list[tuple[str, object]] = [(h["step"], None), (h["hypothesis"], None), (label[cell], None)]
            cells += [(_interval(got[m], fmts[m]), got[m]["value"]) if m in got else ("-", None) for m in metrics]
            rows.append((cells, {}))
    return table(["step", "hypothesis", "cell"] + [m.replace("_", " ") for m in metrics], rows, "robustness-hypotheses")


def _edge_attr(name: str) -> dict[str, str]:
    try:
        return {"data-edges": edge_id(Edge.parse(name))}
    except PatternError:  # not an edge name: the row lights nothing up
        return {}


def _discovery(i: int, disc: Mapping[str, Any], folder: Path, shown: set[str]) -> str:
    step, n = disc["step"], len(disc["cells"])
    level = f", {disc['level']} level" if disc.get("level") else ""
    sizes = [int(s) for s in disc["sizes"]]
    total = disc.get("n_graph_edges")
    out = [f"<h3>{esc(step)} ({esc(disc['method'])}{esc(level)})</h3>"]
    summary = f"{n} cells; edges kept: {min(sizes)} to {max(sizes)}" if sizes else f"{n} cells"
    if total is not None:
        summary += f" of the graph's {total}"
    if disc["mean_jaccard"] is not None:
        summary += f"; mean Jaccard overlap between cells {disc['mean_jaccard']:.3f}"
    out.append(f"<p>{esc(summary)}</p>")
    curves = {c["cell"]: c for c in disc.get("curves") or []}
    cfmt = number_format([v for c in curves.values() for v in (c["area"], c["cmd"])])
    rows: list[Row] = []
    for cell, label, size in zip(disc["cells"], disc["labels"], sizes):
        curve = curves.get(cell)
        rows.append(
            (
                [(label, None), (cell, None), (str(size), size)]
                + [(cfmt(curve[k]), curve[k]) if curve else ("-", None) for k in ("area", "cmd")],
                {},
            )
        )
    out.append(_scroll(table(["cell", "id", "edges kept", "CPR (area)", "CMD"], rows, f"robustness-sizes-{i}")))
    share = float(disc["core_threshold"])
    core = disc["core"]
    if core:
        out.append(f"<p>robust core: {len(core)} edges kept in at least {share:.0%} of the {n} cells</p>")
        body: list[Row] = [
            ([(e, None), (f"{disc['inclusion'][e]:.2f}", disc["inclusion"][e])], _edge_attr(e)) for e in core
        ]
        out.append(_scroll(table(["core edge", "inclusion"], body, f"robustness-core-{i}")))
    else:
        out.append(
            f'<p class="note">the robust core is empty: no edge was kept in at least {share:.0%} of the {n} cells</p>'
        )
    patterns = disc.get("pattern_inclusion") or {}
    if patterns:
        ranked = sorted(patterns.items(), key=lambda kv: -float(kv[1]))
        more = f" (the {MAX_PATTERNS} most included of {len(ranked)})" if len(ranked) > MAX_PATTERNS else ""
        out.append(f"<p>path patterns by inclusion{esc(more)}</p>")
        prow: list[Row] = [([(p, None), (f"{float(v):.2f}", float(v))], {}) for p, v in ranked[:MAX_PATTERNS]]
        out.append(_scroll(table(["pattern", "inclusion"], prow, f"robustness-patterns-{i}")))
    kinds = ("core", "inclusion", "jaccard", "curves")
    out.append(_figures(folder, [step_figure(step, k) for k in kinds], f"r-d{i}-", shown))
    return "\n".join(out)


def card_html(card: Mapping[str, Any], folder: str | Path, shown: set[str] | None = None) -> str:
    """The robustness section of the report page (see module docs); figures are inlined from
    ``folder`` and their names added to ``shown``."""
    card = check_card(card)
    folder = Path(folder)
    shown = set() if shown is None else shown
    labels = cell_labels(card)
    before = len(shown)
    out = [f'<section id="robustness"><h2>Robustness: {esc(card.get("study", ""))}</h2>', _cells(card)]
    claims = card.get("claims") or []
    out.append("<h2>Claims across cells</h2>")
    if claims:
        out.append(_figures(folder, [CLAIMS_PNG], "r-c", shown))
        out += [_claim(i, c, labels) for i, c in enumerate(claims)]
    else:
        out.append('<p class="note">the study declares no claims</p>')
    if card.get("hypotheses"):
        out.append("<h2>Hypotheses across cells</h2>")
        out.append(_figures(folder, [HYPOTHESES_PNG], "r-h", shown))
        out.append(_scroll(_hypotheses(card)))
    discoveries = card.get("discoveries") or []
    if discoveries:
        out.append("<h2>Discoveries across cells</h2>")
        out += [_discovery(i, d, folder, shown) for i, d in enumerate(discoveries)]
    if len(shown) == before and (claims or card.get("hypotheses") or discoveries):
        out.insert(
            2,
            f'<p class="note">no figures of the card in {esc(folder)}: write them with '
            "pathpatch.render.write_card_figures(card, folder)</p>",
        )
    return "\n".join(o for o in out if o) + "</section>"
