"""What every backend offers: :class:`Backend`, and :class:`Finished`, one cell's outcome.

A backend runs the cells it is given, in any order, and yields each cell's file contents as it
finishes (``status`` ``"failed"`` with the error for a cell whose step failed; a failure is the
cell's, never the run's). ``values`` holds the Python results of the steps when the cell ran in
this process (the base cell's figures draw from them), and is empty otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..study.cells import Cell
from ..study.inputs import Inputs

__all__ = ["Finished", "Backend"]


@dataclass(frozen=True)
class Finished:
    """One finished cell: the cell, its file's contents, and its steps' Python values (if local)."""

    cell: Cell
    data: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """Runs cells; :meth:`run` yields each as it finishes, :meth:`close` releases the workers."""

    name: str

    def run(self, cells: Sequence[Cell], inputs: Inputs, echo: Callable[[str], object]) -> Iterator[Finished]: ...

    def close(self) -> None: ...
