"""The pages of ``pathpatch demo tasks``: one per task, and an index over the tasks.

A task page (``OUT/TASK/report.html``, from that task's ``task.json`` values) shows the proof,
one row per discovery method (edges, held-out proportion explained with its interval, MIB's CPR
and CMD), the MIB faithfulness curves, each method's circuit diagram, IOI's path-patching scans
where present, and example prompts. The index (``OUT/report.html``) is one table of every task
and method, each task linking its page. Figures are inlined, so each page is one file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .page import esc, figure_html, page, table

Row = tuple[list[tuple[str, object]], dict[str, str]]

__all__ = ["write_task_page", "write_index_page", "method_rows"]


def _pe(row: Mapping[str, Any]) -> str:
    e = row["heldout"]
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


def method_rows(data: Mapping[str, Any]) -> list[Row]:
    """One table row per method of a task: method, edges, held-out PE, CPR, CMD."""
    rows: list[Row] = []
    for m, row in data["methods"].items():
        cells: list[tuple[str, object]] = [
            (m, None),
            (str(row["edges"]), row["edges"]),
            (_pe(row), row["heldout"]["value"]),
            (f"{row['cpr']:.3f}", row["cpr"]),
            (f"{row['cmd']:.3f}", row["cmd"]),
        ]
        rows.append((cells, {}))
    return rows


_METHOD_HEADER = ["method", "edges", "held-out proportion explained [95% CI]", "CPR", "CMD"]


def _scan_table(title: str, effects: Mapping[str, Any], table_id: str, top: int = 8) -> str:
    ranked = sorted(effects.items(), key=lambda kv: -kv[1]["lost"])[:top]
    rows: list[Row] = [
        ([(u, None), (f"{e['lost']:.3f} [{e['low']:.3f}, {e['high']:.3f}]", e["lost"])], {}) for u, e in ranked
    ]
    return f"<h4>{esc(title)}</h4>" + table(["sender", "share of the effect lost [95% CI]"], rows, table_id)


def _ioi(roles: Mapping[str, Any]) -> str:
    parts = ["<section id='ioi-roles'><h2>IOI path patching (Wang et al.)</h2>"]
    parts.append(
        "<p>Each row: the share of the logit difference IO &minus; S lost when x_new (the ABC "
        "counterfactual) flows along the named paths only.</p>"
    )
    parts.append(_scan_table("direct paths at END (head@END -> out)", roles["direct"], "ioi-direct"))
    movers = "/".join(roles.get("name_movers", []))
    for c, eff in roles.get("into_movers", {}).items():
        parts.append(_scan_table(f"senders into {movers}.{c}@END", eff, f"ioi-nm-{c}"))
    senders = "/".join(roles.get("query_senders", []))
    for c, eff in roles.get("into_query_senders", {}).items():
        parts.append(_scan_table(f"senders into {senders}.{c}@END", eff, f"ioi-qs-{c}"))
    parts.append("</section>")
    return "\n".join(parts)


def write_task_page(folder: Path, data: Mapping[str, Any]) -> Path:
    """``folder/report.html`` for one task (module docs)."""
    proof = data["proof"]
    parts = [
        f"<h1>pathpatch demo tasks: {esc(data['task'])}</h1>",
        f"<p>Accuracy on the test split: <b>{proof['accuracy']:.3f}</b> over {proof['examples']} prompts; "
        f"mean {esc(proof['metric'])} {proof['mean']:.3f}. Circuits found on {data['settings']['search_examples']} "
        f"validation pairs (counterfactual {esc(data['counterfactual'])}), scored on "
        f"{data['settings']['test_examples']} test pairs; the graph has {data['n_edges']} edges.</p>",
        "<section id='methods'><h2>Circuits</h2>" + table(_METHOD_HEADER, method_rows(data), "methods") + "</section>",
        "<section id='mib'><h2>MIB faithfulness</h2>" + figure_html(folder / "mib.png", "mib") + "</section>",
    ]
    diagrams = [figure_html(folder / f"circuit-{m}.png", f"c{i}") for i, m in enumerate(data["methods"])]
    parts.append("<section id='diagrams'><h2>Circuit diagrams</h2>" + "\n".join(diagrams) + "</section>")
    if "ioi_roles" in data:
        parts.append(_ioi(data["ioi_roles"]))
    examples = "".join(f"<pre>{esc(t)}</pre>" for t in data["examples"]["test"])
    parts.append(f"<section id='examples'><h2>Test prompts</h2>{examples}</section>")
    path = folder / "report.html"
    path.write_text(page(f"pathpatch: {data['task']}", "\n".join(parts)), encoding="utf-8")
    return path


def write_index_page(folder: Path, results: Mapping[str, Mapping[str, Any]], model_name: str) -> Path:
    """``folder/report.html``: every task and method in one table, each task linking its page."""
    rows: list[Row] = []
    for task, data in results.items():
        for cells, _ in method_rows(data):
            rows.append(([(task, None), (f"{data['proof']['accuracy']:.3f}", data["proof"]["accuracy"]), *cells], {}))
    body = (
        f"<h1>pathpatch demo tasks{': ' + esc(model_name) if model_name else ''}</h1>"
        + "<p>"
        + " &middot; ".join(f"<a href='{esc(t)}/report.html'>{esc(t)}</a>" for t in results)
        + "</p>"
        + table(["task", "test accuracy", *_METHOD_HEADER], rows, "tasks")
    )
    path = folder / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page("pathpatch demo tasks", body), encoding="utf-8")
    return path
