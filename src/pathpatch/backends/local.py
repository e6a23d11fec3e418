"""The default backend: every cell in this process, one after another, each step said as it ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..study import execute
from ..study.cells import Cell
from ..study.inputs import Inputs
from .base import Finished

__all__ = ["LocalBackend"]


class LocalBackend:
    """Runs the cells in order in this process (models and data loaded once, in ``inputs``)."""

    name = "local"

    def run(self, cells: Sequence[Cell], inputs: Inputs, echo: Callable[[str], object]) -> Iterator[Finished]:
        for cell in cells:
            values: dict[str, Any] = {}
            many = len(cell.steps) > 1
            if many:
                echo(f"      {cell.sweep}: {cell.label} -- running {len(cell.steps)} steps")

            def done(
                name: str, data: dict[str, Any], value: Any, many: bool = many, values: dict[str, Any] = values
            ) -> None:
                values[name] = value
                if many:
                    echo(f"      step {name} ({data['kind']}, {data['examples']} examples): {data['seconds']:.1f} s")

            yield Finished(cell, execute.run_cell(cell, inputs, done), values)

    def close(self) -> None:
        pass
