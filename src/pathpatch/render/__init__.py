"""Pictures: every figure pathpatch draws, circuit diagrams (:func:`draw`) and a self-contained HTML
report of a run.

- :mod:`.backend`: matplotlib with the Agg backend, and saving a figure;
- :mod:`.bars`, :mod:`.heatmaps`, :mod:`.curves`: bar charts (a report, a scan's top rows, gains),
  heatmaps over layers (a scan's heads, a causal trace, head scores) and line plots (ROC,
  faithfulness, localisations);
- :mod:`.kept`: the edges a diagram of a hypothesis draws (found by :mod:`pathpatch.lang.kept`);
- :mod:`.layout`, :mod:`.figure`, :mod:`.subject`, :mod:`.drawing`: circuit diagrams as SVG and PNG;
- :mod:`.spec`: hypotheses as JSON specs and as Python text to copy;
- :mod:`.runfiles`, :mod:`.scanfiles`: what runs and scans write for a report, and reading it back;
- :mod:`.cardfile`, :mod:`.cardplots`, :mod:`.card`: a study's robustness card (``robustness.json``):
  its check, its figures and its section of the HTML report;
- :mod:`.page`, :mod:`.html`, :mod:`.command`: the HTML report and ``pathpatch report DIR``.

Figures draw from the objects they are given (a scan's rows keep their nodes, edges and paths),
never from names parsed back. Names are imported on first use (``pathpatch report --help`` needs no
torch); matplotlib when a figure is drawn, with the Agg backend.
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
    "plot_report": "bars",
    "plot_scan_top": "bars",
    "plot_gains": "bars",
    "plot_head_scan": "heatmaps",
    "plot_trace": "heatmaps",
    "plot_head_scores": "heatmaps",
    "plot_roc": "curves",
    "plot_faithfulness": "curves",
    "plot_localisations": "curves",
    "check_card": "cardfile",
    "card_html": "card",
    "plot_claims": "cardplots",
    "plot_hypotheses": "cardplots",
    "plot_inclusion": "cardplots",
    "plot_jaccard": "cardplots",
    "draw_core": "cardplots",
    "plot_curves": "cardplots",
    "write_card_figures": "cardplots",
}

if TYPE_CHECKING:
    from .bars import plot_gains, plot_report, plot_scan_top
    from .card import card_html
    from .cardfile import check_card
    from .cardplots import (
        draw_core,
        plot_claims,
        plot_curves,
        plot_hypotheses,
        plot_inclusion,
        plot_jaccard,
        write_card_figures,
    )
    from .curves import plot_faithfulness, plot_localisations, plot_roc
    from .drawing import Drawing, draw
    from .heatmaps import plot_head_scan, plot_head_scores, plot_trace
    from .html import build_html, write_html
    from .kept import kept_edges
    from .runfiles import read_run, write_report_json
    from .scanfiles import write_scan


__getattr__ = lazy_names(__name__, _HOMES, globals())


__all__ = [
    "draw",
    "Drawing",
    "kept_edges",
    "write_report_json",
    "write_scan",
    "read_run",
    "build_html",
    "write_html",
    "plot_report",
    "plot_scan_top",
    "plot_gains",
    "plot_head_scan",
    "plot_trace",
    "plot_head_scores",
    "plot_roc",
    "plot_faithfulness",
    "plot_localisations",
    "check_card",
    "card_html",
    "plot_claims",
    "plot_hypotheses",
    "plot_inclusion",
    "plot_jaccard",
    "draw_core",
    "plot_curves",
    "write_card_figures",
]
