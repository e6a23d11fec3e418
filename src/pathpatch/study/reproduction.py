"""``pathpatch reproduce DIR``: re-run a study from its ``run.json`` alone and compare every number.

The study is rebuilt from the settings run.json recorded (``study.resolved``, every default
filled in; relative paths from ``study.base``), never from the study file, which may have changed
since. Before any work, the weights' and the drawn data's sha256 are compared with those recorded:
other weights or other data cannot reproduce anything, so that is a
:class:`~pathpatch.errors.ReproductionError`. Each recorded cell is then run again in memory (the
folder is not written) with the recorded number of torch threads, and its step results are
compared with the cell file, key by key, every number included; only ``seconds`` (timings) are
skipped.

Numbers are compared **exactly** when the cell's recorded environment matches this one (torch
version, device, dtype, threads, CPU kernels and machine: :data:`~.provenance.EXACT_KEYS`);
otherwise within ``rtol`` relative to ``max(1, |recorded|, |now|)``, by default
``min(1e-2, 1024 × eps(dtype))`` (float32: 1.2e-4, float64: 2.3e-13). Strings, booleans, integers
and lists (edges kept, paths counted) are always compared exactly. A cell the original run did
not finish is a difference too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ReproductionError
from .execute import run_cell
from .inputs import Inputs
from .provenance import environment, same_environment
from .run import RUN_FORMAT, Study
from .store import Store, read_json

__all__ = ["Difference", "Reproduction", "reproduce", "default_rtol", "compare", "without_timings", "cell_numbers"]

SKIPPED = frozenset({"seconds"})


def without_timings(value: Any) -> Any:
    """``value`` (JSON values) without the keys a reproduction skips (:data:`SKIPPED`), at any depth."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in SKIPPED}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def cell_numbers(folder: str | Path) -> dict[str, Any]:
    """Every cell file's step results in a results folder, by file name, without timings."""
    cells = sorted((Path(folder) / "cells").glob("*.json"))
    return {p.name: without_timings(json.loads(p.read_text())["steps"]) for p in cells}


def default_rtol(dtype: str) -> float:
    """The tolerance across environments for a study evaluated in ``dtype`` (module docs)."""
    return min(1e-2, 1024 * torch.finfo(getattr(torch, dtype)).eps)


@dataclass(frozen=True)
class Difference:
    """One value that did not reproduce: where (cell file and key), recorded and now."""

    where: str
    recorded: Any
    now: Any

    def __str__(self) -> str:
        return f"{self.where}: recorded {self.recorded!r}, now {self.now!r}"


@dataclass(frozen=True)
class Reproduction:
    """The outcome: every difference (none: reproduced), how many numbers were compared, and
    whether they were compared exactly."""

    folder: Path
    differences: tuple[Difference, ...]
    numbers: int
    cells: int
    exact: bool

    @property
    def reproduced(self) -> bool:
        return not self.differences

    def __str__(self) -> str:
        how = "exactly" if self.exact else "within the cross-environment tolerance"
        if self.reproduced:
            return f"reproduced: {self.cells} cell{'s' * (self.cells != 1)}, {self.numbers} numbers, compared {how}"
        lines = [f"not reproduced: {len(self.differences)} values differ ({self.numbers} numbers compared {how})"]
        lines += [f"  {d}" for d in self.differences[:200]]
        if len(self.differences) > 200:
            lines.append(f"  ... and {len(self.differences) - 200} more")
        return "\n".join(lines)


def compare(recorded: Any, now: Any, where: str, rtol: float, out: list[Difference]) -> int:
    """Append to ``out`` every value of ``now`` that differs from ``recorded``; the count of numbers
    compared. ``rtol`` 0: exactly."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        count = 0
        for key in sorted(set(recorded) | set(now)):
            if key in SKIPPED:
                continue
            if key not in recorded or key not in now:
                out.append(Difference(f"{where}.{key}", recorded.get(key, "<absent>"), now.get(key, "<absent>")))
                continue
            count += compare(recorded[key], now[key], f"{where}.{key}", rtol, out)
        return count
    if isinstance(recorded, list) and isinstance(now, list):
        if len(recorded) != len(now):
            out.append(Difference(f"{where} (length)", len(recorded), len(now)))
            return 0
        return sum(compare(a, b, f"{where}[{i}]", rtol, out) for i, (a, b) in enumerate(zip(recorded, now)))
    floats = isinstance(recorded, float) or isinstance(now, float)
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (recorded, now))
    if floats and numbers:
        a, b = float(recorded), float(now)
        same = a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= rtol * max(1.0, abs(a), abs(b))
        if not same:
            out.append(Difference(where, recorded, now))
        return 1
    if type(recorded) is not type(now) or recorded != now:
        out.append(Difference(where, recorded, now))
    return 1 if numbers else 0


def _run_json(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise ReproductionError(f"no folder {folder}; pass the output folder of `pathpatch run`")
    data = read_json(folder / "run.json")
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise ReproductionError(
            f"{folder / 'run.json'} is missing or not a run record (format {RUN_FORMAT!r}); "
            "reproduce the output folder of `pathpatch run STUDY.toml`"
        )
    return data


def reproduce(folder: str | Path, *, rtol: float | None = None, echo: Callable[[str], object] = print) -> Reproduction:
    """Re-run the study recorded in ``folder`` and compare (module docs)."""
    folder = Path(folder)
    run = _run_json(folder)
    study = Study.from_dict(run["study"]["resolved"], base=run["study"]["base"])
    inputs = Inputs(study.base, None)
    loaded = inputs.model(study.spec)
    if loaded.info["weights_sha256"] != run["model"]["weights_sha256"]:
        raise ReproductionError(
            f"the model's weights differ from the run's: sha256 {loaded.info['weights_sha256'][:16]}... now, "
            f"{run['model']['weights_sha256'][:16]}... recorded ({run['model']['source']}); reproduce with the "
            "recorded weights"
        )
    drawn = inputs.pool(study.spec).sha256
    if drawn != run["data"]["drawn_sha256"]:
        raise ReproductionError(
            f"the drawn data differ from the run's (sha256 {drawn[:16]}... now, {run['data']['drawn_sha256'][:16]}... "
            "recorded); reproduce with the recorded data source"
        )
    threads = torch.get_num_threads()
    store, numbers, exact = Store(folder), 0, True
    differences: list[Difference] = []
    recorded_ids = [c["id"] for c in run.get("cells", [])]
    unique = {c.id: c for c in reversed(study.cells)}  # a sweep point equal to another cell runs once
    cells = [unique[i] for i in dict.fromkeys(c.id for c in study.cells) if i in recorded_ids]
    missing = sorted(set(recorded_ids) - {c.id for c in study.cells})
    for cid in missing:
        differences.append(Difference(f"cells/{cid}.json", "a cell of the run", "not a cell of the recorded study"))
    try:
        for i, cell in enumerate(cells, 1):
            saved = store.finished(cell.id)
            where = f"cells/{cell.id}.json"
            if saved is None:
                differences.append(Difference(where, "missing or unfinished", "a finished cell"))
                continue
            env = saved.get("env") or {}
            torch.set_num_threads(int(env.get("threads") or threads))
            same = same_environment(env, environment(cell.spec.model.device, cell.spec.model.dtype))
            exact = exact and same
            tolerance = 0.0 if same else (rtol if rtol is not None else default_rtol(cell.spec.model.dtype))
            echo(f"[{i}/{len(cells)}] {cell.sweep}: {cell.label} ({'exact' if same else f'rtol {tolerance:g}'})")
            again = run_cell(cell, inputs)
            if again["status"] != "done":
                differences.append(Difference(f"{where}.status", "done", f"{again['status']}: {again['error']}"))
                continue
            numbers += compare(saved["steps"], again["steps"], f"{where} steps", tolerance, differences)
            numbers += compare(saved["data_sha256"], again["data_sha256"], f"{where} data_sha256", 0.0, differences)
    finally:
        torch.set_num_threads(threads)
    return Reproduction(folder, tuple(differences), numbers, len(cells), exact)
