"""Cells: the units a study runs, writes, resumes and compares.

The **base** cell runs every step with the study as written. Each sweep adds one cell per point
of its grid (the product of its keys' values, in the file's order), running the sweep's steps
and the steps they read (:func:`~.check.needs`) with the study's keys set to that point. A
cell's settings are checked like a study file, so a sweep value the key cannot take is refused
with the key's name before any work.

A cell's ``id`` is a digest of what its results depend on: the model, the data, the settings,
the hypotheses and its steps with their parameters, but not the study's name, claims, sweeps or
card settings. Two cells with the same id hold the same numbers; a study re-run finds finished
cells by id, and a study edited afterwards reuses the cells its edit left unchanged.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from ..errors import StudyFileError
from .check import check_study, needs
from .load import get_key, key_exists, set_key, validate_spec
from .schema import StudySpec

__all__ = ["Cell", "expand", "cell_id", "closure", "label_of"]

BASE = "base"


@dataclass(frozen=True)
class Cell:
    """One cell: its ``id``, the ``sweep`` it belongs to (``"base"`` for the study as written), the
    ``assignment`` of sweep keys that made it, its ``steps`` in the study's order, and ``spec``,
    the study with that assignment applied."""

    id: str
    sweep: str
    assignment: tuple[tuple[str, Any], ...]
    steps: tuple[str, ...]
    spec: StudySpec

    @property
    def label(self) -> str:
        return label_of(self.sweep, dict(self.assignment))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sweep": self.sweep,
            "label": self.label,
            "assignment": dict(self.assignment),
            "steps": list(self.steps),
        }


def label_of(sweep: str, assignment: dict[str, Any]) -> str:
    """``"base"``, or the assignment as ``ablation=mean, delta=kl`` (the keys' last parts)."""
    if not assignment:
        return sweep
    return ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in assignment.items())


def cell_id(spec: StudySpec, steps: tuple[str, ...]) -> str:
    """The digest of what a cell's numbers depend on (module docs): 12 hex digits."""
    data = spec.resolved()
    basis = {
        "model": data["model"],
        "data": data["data"],
        "settings": data["settings"],
        "hypotheses": data["hypotheses"],
        "steps": {name: data["steps"][name] for name in steps},
    }
    text = json.dumps(basis, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def closure(spec: StudySpec, chosen: list[str]) -> tuple[str, ...]:
    """The steps ``chosen`` and every step they read, in the study's order."""
    want = set(chosen)
    changed = True
    while changed:
        extra = {d for s in want for d in needs(spec, s)} - want
        want |= extra
        changed = bool(extra)
    return tuple(s for s in spec.steps if s in want)


def expand(spec: StudySpec, file: str | None = None, base: Any = None) -> tuple[Cell, ...]:
    """The base cell, then every sweep's cells (module docs), each checked."""
    everything = tuple(spec.steps)
    cells = [Cell(cell_id(spec, everything), BASE, (), everything, spec)]
    resolved = spec.resolved()
    for name, sweep in spec.sweeps.items():
        if name == BASE:
            raise StudyFileError(file, f"sweeps.{name}", "'base' names the study as written", "another sweep name")
        for key, values in sweep.grid.items():
            where = f"sweeps.{name}.grid.{key}"
            if key.split(".")[0] in ("study", "sweeps", "claims", "robustness") or not key_exists(resolved, key):
                raise StudyFileError(
                    file,
                    where,
                    f"the study has no key {key!r} to sweep",
                    "a dotted key of [model], [data], [settings], [hypotheses] or [steps.*], e.g. 'settings.ablation'",
                )
            if isinstance(get_key(resolved, key), (dict, list)):
                raise StudyFileError(
                    file, where, f"{key!r} holds a table or list; a sweep sets one value", "a scalar key"
                )
            if len(set(map(repr, values))) != len(values):
                raise StudyFileError(file, where, f"the values {values} repeat one", "distinct values")
        steps = closure(spec, list(sweep.steps or spec.steps))
        keys = list(sweep.grid)
        for point in itertools.product(*(sweep.grid[k] for k in keys)):
            data = resolved
            for key, value in zip(keys, point):
                data = set_key(data, key, value)
            try:
                cell_spec = validate_spec(data, file)
                check_study(cell_spec, file, base)
            except StudyFileError as err:
                raise StudyFileError(
                    file,
                    f"sweeps.{name}.grid",
                    f"the cell {label_of(name, dict(zip(keys, point)))} is not a valid study: {err}",
                ) from None
            cells.append(Cell(cell_id(cell_spec, steps), name, tuple(zip(keys, point)), steps, cell_spec))
    return tuple(cells)
