"""Pictures: circuit diagrams (:func:`draw`) and a self-contained HTML report of a run.

- :mod:`.kept`: the edges a hypothesis keeps, without enumerating its paths;
- :mod:`.layout`, :mod:`.figure`, :mod:`.subject`, :mod:`.drawing`: circuit diagrams as SVG and PNG;
- :mod:`.spec`: hypotheses as JSON specs and as Python text to copy;
- :mod:`.runfiles`, :mod:`.scanfiles`: what runs and scans write for a report, and reading it back;
- :mod:`.page`, :mod:`.html`, :mod:`.command`: the HTML report and ``pathpatch report DIR``.

Names are imported on first use (``pathpatch report --help`` needs no torch); matplotlib when a
figure is drawn, with the Agg backend.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

_HOMES = {
    "draw": "drawing",
    "Drawing": "drawing",
    "build_html": "html",
    "write_html": "html",
    "kept_edges": "kept",
    "read_run": "runfiles",
    "write_report_json": "runfiles",
    "write_scan": "scanfiles",
}

if TYPE_CHECKING:
    from .drawing import Drawing, draw
    from .html import build_html, write_html
    from .kept import kept_edges
    from .runfiles import read_run, write_report_json
    from .scanfiles import write_scan


__getattr__ = lazy_names(__name__, _HOMES, globals())


__all__ = ["draw", "Drawing", "kept_edges", "write_report_json", "write_scan", "read_run", "build_html", "write_html"]
