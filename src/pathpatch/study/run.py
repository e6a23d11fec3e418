"""A study, loaded from its file and run: :class:`Study` and what a run returns, :class:`StudyRun`.

``Study.load(path)`` reads and checks the whole file (schema, names, splits, claims, sweeps: every
cell's settings) and raises a :class:`~pathpatch.errors.StudyFileError` before any work.
``study.run(out)`` then loads the model, compiles every pattern on it, draws the data, and runs
the cells in order: a cell whose finished file is already in ``OUT/cells`` is kept, not run
again (so a run killed in the middle resumes where it stopped), and each cell's file is written
atomically when it finishes. A cell whose step fails with a pathpatch error is recorded as
failed with the message, and the other cells still run; the run reports it and a re-run retries
it. The driver alone combines cells: the robustness card, the report page and ``run.json``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import StudyFileError
from ..report import Report
from .card import build_card, card_text
from .cells import BASE, Cell, expand
from .check import check_study
from .hypotheses import check_on_model
from .inputs import Inputs, json_key
from .load import parse_study, validate_spec
from .provenance import environment
from .schema import StudySpec
from .store import Store, write_json

if TYPE_CHECKING:
    from ..backends.base import Backend

__all__ = ["RUN_FORMAT", "Study", "StudyRun"]

RUN_FORMAT = "pathpatch.run/1"
Echo = Callable[[str], object]


@dataclass(frozen=True)
class StudyRun:
    """What :meth:`Study.run` did: the folder, every cell and its file, the card, and which cells
    were kept from an earlier run."""

    out: Path
    cells: tuple[Cell, ...]
    results: dict[str, dict[str, Any]]
    card: dict[str, Any]
    kept: tuple[str, ...]

    @property
    def failed(self) -> list[Cell]:
        unique = {c.id: c for c in reversed(self.cells)}  # a sweep point equal to another cell ran once
        return [unique[i] for i in dict.fromkeys(c.id for c in self.cells) if self.results[i]["status"] != "done"]

    @property
    def claims_hold(self) -> bool:
        return all(c["holds_in"] == c["judged_in"] for c in self.card["claims"])

    def step(self, name: str, cell: str = BASE) -> dict[str, Any]:
        """The result of step ``name`` in the base cell (or the cell with id ``cell``)."""
        chosen = self.cells[0] if cell == BASE else next(c for c in self.cells if c.id == cell)
        return self.results[chosen.id]["steps"][name]

    def report(self, name: str, cell: str = BASE) -> Report:
        """The report of a score (or ladder) step."""
        return Report.from_dict(self.step(name, cell)["report"])


def base_summary(cell: dict[str, Any]) -> str:
    """What each step of a cell found, for the terminal: probes' summaries, reports, circuits."""
    from ..discovery.circuit import Circuit

    lines = []
    for name, data in cell["steps"].items():
        if "summary" in data:
            lines.append(f"{name}: {data['summary']}")
        elif "report" in data:
            lines.append(
                f"{name} ({data['examples']} examples, split {data['split']}):\n{Report.from_dict(data['report'])}"
            )
        elif "circuit" in data:
            curve = data.get("curve")
            extra = f"; faithfulness CPR {curve['area']:.3f}, CMD {curve['cmd']:.3f}" if curve else ""
            lines.append(f"{name}: {Circuit.from_dict(data['circuit'])}, found on {data['examples']} examples{extra}")
        elif "table" in data:
            lines.append(f"{name}: {data['kind']} table of {len(data['table'].get('rows', []))} rows")
    return "\n".join(lines)


def _left(cells: list[Cell], spent: dict[str, list[float]], base: dict[str, Any] | None) -> float:
    """The time the ``cells`` left will take: each at the mean of its sweep's finished cells (the
    cells of one sweep run the same steps), else at what its steps took in the base cell, else at
    the mean of every finished cell."""
    every = [t for ts in spent.values() for t in ts]
    mean = {k: sum(v) / len(v) for k, v in spent.items()}
    steps = {k: float(v["seconds"]) for k, v in (base or {}).get("steps", {}).items()}

    def guess(c: Cell) -> float:
        if c.sweep in mean:
            return mean[c.sweep]
        if steps and all(s in steps for s in c.steps):
            return sum(steps[s] for s in c.steps)
        return sum(every) / len(every)

    return sum(guess(c) for c in cells)


def _duration(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass(frozen=True)
class Study:
    """A checked study: its spec, the file it came from (None for a dict), the folder its relative
    paths start from, its text, and its cells."""

    spec: StudySpec
    file: str | None
    base: Path
    text: str | None
    cells: tuple[Cell, ...]

    @classmethod
    def load(cls, path: str | Path) -> Study:
        """Read and check the study file at ``path`` (module docs)."""
        path = Path(path)
        if not path.is_file():
            raise StudyFileError(str(path), "", "no such study file", "the path of a .toml study file")
        text = path.read_text(encoding="utf-8")
        spec = parse_study(text, str(path))
        return cls.checked(spec, str(path), path.resolve().parent, text)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: str | Path | None = None) -> Study:
        """A study given as a dict (a parsed study file, or run.json's ``study.resolved``)."""
        return cls.checked(validate_spec(data), None, Path(base) if base is not None else Path.cwd(), None)

    @classmethod
    def checked(cls, spec: StudySpec, file: str | None, base: Path, text: str | None) -> Study:
        check_study(spec, file, base)
        return cls(spec, file, base, text, expand(spec, file, base))

    @property
    def default_out(self) -> Path:
        return Path(self.spec.study.out or f"results/{self.spec.study.name}")

    def run(
        self,
        out: str | Path | None = None,
        *,
        fresh: bool = False,
        echo: Echo = print,
        figures: bool = True,
        backend: Backend | None = None,
    ) -> StudyRun:
        """Run the study into ``out`` (default ``[study] out``, else ``results/NAME``), keeping the
        cells an earlier run finished unless ``fresh`` (module docs). ``backend``: where the cells
        run (default in this process; :class:`pathpatch.backends.RayBackend` for a cluster, which
        the caller closes)."""
        from ..backends.local import LocalBackend
        from .figures import step_figures, value_of, write_pages

        folder = Path(out) if out is not None else self.default_out
        store, inputs = Store(folder), Inputs(self.base, self.file)
        started = time.perf_counter()
        checked: set[str] = set()
        for cell in self.cells:  # every pattern on its model, before any work
            data = cell.spec.resolved()
            key = json_key([data["model"], data["hypotheses"], data["steps"]])
            if key not in checked:
                check_on_model(cell.spec, inputs.model(cell.spec).model, self.file)
                checked.add(key)
        base_model = inputs.model(self.spec)
        run_info = self._run_info(folder, inputs)
        write_json(folder / "run.json", {**run_info, "status": "running"})
        results: dict[str, dict[str, Any]] = {}
        kept: list[str] = []
        todo: list[Cell] = []
        for i, cell in enumerate(self.cells, 1):
            done = None if fresh else store.finished(cell.id)
            where = f"[{i}/{len(self.cells)}] {cell.sweep}: {cell.label}"
            if cell.id in results or cell.id in {c.id for c in todo}:
                echo(f"{where} -- the same cell as one above, not run twice")
            elif done is not None:
                results[cell.id] = done
                kept.append(cell.id)
                echo(f"{where} -- finished in an earlier run, kept ({cell.id})")
            else:
                todo.append(cell)
        runner = backend if backend is not None else LocalBackend()
        spent: dict[str, list[float]] = {}
        parallel = max(1, int(getattr(runner, "workers", 1)))
        try:
            for k, finished in enumerate(runner.run(todo, inputs, echo), 1):
                cell, data = finished.cell, finished.data
                store.write(cell.id, data)
                results[cell.id] = data
                spent.setdefault(cell.sweep, []).append(float(data["seconds"]))
                left = [c for c in todo if c.id not in results]
                guess = _left(left, spent, results.get(self.cells[0].id)) / parallel
                eta = f", about {_duration(guess)} left" if left else ""
                status = "" if data["status"] == "done" else f" FAILED: {data['error']}"
                echo(f"[{k}/{len(todo)} run] {cell.sweep}: {cell.label} -- {data['seconds']:.1f} s{eta}{status}")
                if cell.sweep == BASE:
                    if figures and data["status"] == "done":
                        for name, step in data["steps"].items():
                            value = finished.values[name] if name in finished.values else value_of(step)
                            step_figures(folder, name, step, value, base_model.model)
                    echo(base_summary(data))
        finally:
            if backend is None:
                runner.close()
        graph = base_model.model.graph
        from ..render.runfiles import architecture

        card = build_card(self.spec, self.cells, results, graph, architecture(base_model.model))
        write_json(folder / "robustness.json", card)
        base = results[self.cells[0].id]
        if figures:
            from ..render.cardplots import write_card_figures

            write_card_figures(card, folder)
            if base["status"] == "done":
                write_pages(folder, self.spec, base, base_model.model, {"study": self.spec.study.name})
        seconds = round(time.perf_counter() - started, 1)
        write_json(
            folder / "run.json",
            {
                **run_info,
                "status": "done" if all(r["status"] == "done" for r in results.values()) else "failed",
                "cells": [
                    {
                        **c.to_dict(),
                        "status": results[c.id]["status"],
                        "kept": c.id in kept,
                        "file": f"cells/{c.id}.json",
                    }
                    for c in self.cells
                ],
                "timings": {"seconds": seconds, "cells": {c: r["seconds"] for c, r in results.items()}},
            },
        )
        echo(card_text(card))
        return StudyRun(folder, self.cells, results, card, tuple(kept))

    def _run_info(self, folder: Path, inputs: Inputs) -> dict[str, Any]:
        loaded = inputs.model(self.spec)
        drawn = inputs.pool(self.spec).sha256
        return {
            "format": RUN_FORMAT,
            "study": {
                "name": self.spec.study.name,
                "file": self.file,
                "base": str(self.base),
                "text": self.text,
                "sha256": None if self.text is None else hashlib.sha256(self.text.encode()).hexdigest(),
                "resolved": self.spec.resolved(),
            },
            "environment": environment(self.spec.model.device, self.spec.model.dtype),
            "model": loaded.info,
            "data": {"drawn_sha256": drawn, "examples": self.spec.data.examples},
            "seeds": {
                "select": self.spec.data.select_seed,
                "pairing": self.spec.data.pairing_seed,
                "settings": self.spec.settings.seed,
                "splits": {k: v.seed for k, v in self.spec.data.splits.items() if v.sample is not None},
            },
            "torch_threads": torch.get_num_threads(),
            "cells": [c.to_dict() for c in self.cells],
        }
