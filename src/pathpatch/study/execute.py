"""Running one cell: :func:`run_cell` runs a cell's steps in order in this process and returns its
file's contents; :func:`cell_task` and :func:`cell_of_task` turn a cell into JSON values and back,
which is all a worker of another process or machine receives (no Python object crosses).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data import Pairs
from ..errors import PathPatchError
from ..lang.hypothesis import Hypothesis
from .cells import Cell
from .hypotheses import build_hypotheses
from .inputs import Inputs, split_pairs, tensor_sha256
from .load import validate_spec
from .provenance import environment
from .steps import run_step
from .store import CELL_FORMAT

__all__ = ["run_cell", "cell_task", "cell_of_task"]


def cell_task(cell: Cell, base: Path) -> dict[str, Any]:
    """The cell as JSON values: its id, sweep, assignment, steps, resolved study and base folder."""
    return {**cell.to_dict(), "spec": cell.spec.resolved(), "base": str(base)}


def cell_of_task(task: dict[str, Any]) -> Cell:
    """The cell a :func:`cell_task` describes (its study checked again by the schema)."""
    return Cell(
        task["id"],
        task["sweep"],
        tuple((k, v) for k, v in task["assignment"].items()),
        tuple(task["steps"]),
        validate_spec(task["spec"]),
    )


def run_cell(cell: Cell, inputs: Inputs, on_step: Callable[[str, Any, Any], object] | None = None) -> dict[str, Any]:
    """Run every step of ``cell``; its file's contents (``status`` ``"failed"`` with the error
    when a step raised a pathpatch error)."""
    spec = cell.spec
    start = time.perf_counter()
    loaded = inputs.model(spec)
    drawn = inputs.pool(spec)
    model = loaded.model
    hypotheses: dict[str, Hypothesis] = build_hypotheses(spec, model)
    splits: dict[str, Pairs] = {}
    steps: dict[str, Any] = {}
    status, error = "done", None
    for name in cell.steps:
        step = spec.steps[name]
        try:
            if step.split not in splits:
                splits[step.split] = split_pairs(spec, drawn, step.split)
            result = run_step(model, spec, name, splits[step.split], hypotheses)
        except PathPatchError as err:
            status, error = "failed", f"step {name}: {type(err).__name__}: {err}"
            break
        steps[name] = result.data
        if result.hypothesis is not None:
            hypotheses[name] = result.hypothesis
        if on_step is not None:
            on_step(name, result.data, result.value)
    data_sha = {
        s: tensor_sha256(p.ref.tokens, p.new_tokens, p.ref.target_mask, p.ref.target_tokens) for s, p in splits.items()
    }
    return {
        "format": CELL_FORMAT,
        **cell.to_dict(),
        "status": status,
        "error": error,
        "steps": steps,
        "model_sha256": loaded.info["weights_sha256"],
        "data_sha256": {"drawn": drawn.sha256, "splits": data_sha},
        "env": environment(spec.model.device, spec.model.dtype),
        "seconds": round(time.perf_counter() - start, 3),
    }
