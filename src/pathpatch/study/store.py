"""A study's results folder: files written atomically, and the cells found there on a re-run.

Layout of ``OUT``: ``run.json`` (provenance, :mod:`.provenance`), ``cells/<id>.json`` (one per
cell), ``robustness.json`` (the card) and the report files. Every file is written to a temporary
name in the same folder and renamed over the old one (``os.replace``), so a run killed at any
moment leaves each file either whole or absent, never half-written. :meth:`Store.finished` reads
a cell back only if it is whole JSON, of this format, for the same cell id and finished.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["CELL_FORMAT", "write_json", "read_json", "Store"]

CELL_FORMAT = "pathpatch.cell/1"


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (module docs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when it is absent or not whole JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


class Store:
    """The cell files of one results folder."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.cells = out / "cells"

    def path(self, cell_id: str) -> Path:
        return self.cells / f"{cell_id}.json"

    def finished(self, cell_id: str) -> dict[str, Any] | None:
        """The finished cell ``cell_id``'s file, or None (absent, broken, failed or another cell)."""
        data = read_json(self.path(cell_id))
        if (
            isinstance(data, dict)
            and data.get("format") == CELL_FORMAT
            and data.get("id") == cell_id
            and data.get("status") == "done"
        ):
            return data
        return None

    def write(self, cell_id: str, data: dict[str, Any]) -> Path:
        return write_json(self.path(cell_id), data)
