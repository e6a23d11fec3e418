"""What a scan writes: ``scan.json`` and a plot for every kind of scan.

- ``scan.json``: ``kind``, ``mode``, ``metric``, ``rows`` (name, value, interval), ``ate`` (the
  average total effect all rows share), ``meta`` (how it was scored), ``graph`` (the model's
  architecture, for diagrams) and ``receivers`` (sender scans);
- ``top.png``: the rows that matter most, as bars with their intervals (every kind);
- ``heads.png``: a layer × head heatmap (node scans, and sender scans with two or more head senders);
- ``circuit.svg`` / ``circuit.png``: the edges that matter most drawn on the graph (edge scans).

A sender scan has one row per sender (its edges into every receiver port at once), so its
plots are per sender; a per-port breakdown would be one more scan per port.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ..errors import InputError
from ..graph import GraphSource, Node
from ..scans import ScanKind, ScanTable
from .bars import plot_scan_top
from .drawing import draw
from .heatmaps import plot_head_scan
from .runfiles import architecture

__all__ = ["write_scan"]


def _heads(table: ScanTable) -> int:
    return sum(isinstance(s, Node) and s.kind == "head" for s in table.subjects)


def write_scan(
    table: ScanTable,
    kind: ScanKind | str,
    model: GraphSource,
    out_dir: str | Path,
    receivers: Sequence[str] | None = None,
    top: int = 20,
) -> list[Path]:
    """Write the scan's files (see module docs) into ``out_dir``; return their paths.

    ``kind`` is the table's own (``"nodes"``, ``"edges"``, ``"senders"``, ``"paths"``, or its
    :class:`~pathpatch.scans.ScanKind`), or any name for a table built by hand without one.
    """
    kind = kind.value if isinstance(kind, ScanKind) else kind
    if table.kind is not None and kind != table.kind.value:
        raise InputError(f"write_scan got kind {kind!r} for a scan of {table.kind.value}; pass {table.kind.value!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "kind": kind,
        **table.to_dict(),
        "meta": table.report.meta,
        "graph": architecture(model),
        "receivers": None if receivers is None else list(receivers),
    }
    (out / "scan.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    written = [out / "scan.json"]
    metric = table.metric.replace("_", " ")
    into = f" into {', '.join(receivers)}" if receivers else ""
    what = {
        "nodes": "each node",
        "edges": "each edge",
        "senders": f"each sender's edges{into}",
        "paths": "each path",
    }.get(kind, f"each {kind}")
    written.append(
        plot_scan_top(
            table,
            out / "top.png",
            top,
            title=f"{table.mode} {what}: {metric}, the {min(top, len(table.rows))} "
            f"of {len(table.rows)} that matter most",
        )
    )
    if kind == "nodes" or (kind == "senders" and _heads(table) >= 2):
        written.append(plot_head_scan(model, table, out / "heads.png", title=f"{table.mode} {what}: {metric}"))
    if kind == "edges":
        drawing = draw(model, table, out / "circuit.png", max_edges=min(60, len(table.rows)))
        written += [drawing.svg, drawing.png]
    return written
