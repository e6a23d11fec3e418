"""Where the figures used to be drawn; they are drawn in :mod:`pathpatch.render` now
(:mod:`~pathpatch.render.backend`: matplotlib with the Agg backend; :mod:`~pathpatch.render.bars`:
a report's metric per hypothesis). These names are kept for code written before the move.
"""

from __future__ import annotations

from .render.backend import pyplot, save_figure
from .render.bars import plot_report

__all__ = ["plot_report", "pyplot", "save_figure"]
