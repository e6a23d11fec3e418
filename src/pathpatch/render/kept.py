"""The edges a diagram of a hypothesis draws: those on at least one of its paths. The walk is the
path language's (:func:`pathpatch.lang.kept.kept_edges`, which takes a model or a graph); the
renderers name it here too.
"""

from __future__ import annotations

from ..lang.kept import edges_on_paths, kept_edges

__all__ = ["kept_edges", "edges_on_paths"]
