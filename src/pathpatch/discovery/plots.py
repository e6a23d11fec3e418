"""ROC and faithfulness plots, drawn by :mod:`pathpatch.render.curves`; these names are kept for
code written before figures moved to :mod:`pathpatch.render` (each imports it on first use).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .curves import FaithfulnessCurve

__all__ = ["plot_roc", "plot_faithfulness"]


def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, title: str | None = None) -> Path:
    """ROC curves with their AUC and the chance line: :func:`pathpatch.render.curves.plot_roc`."""
    from ..render.curves import plot_roc as draw

    return draw(curves, path, title)


def plot_faithfulness(curves: Mapping[str, FaithfulnessCurve], path: str | Path, title: str | None = None) -> Path:
    """Proportion explained against edges kept: :func:`pathpatch.render.curves.plot_faithfulness`."""
    from ..render.curves import plot_faithfulness as draw

    return draw(curves, path, title)
