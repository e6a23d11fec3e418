"""``pathpatch demo tasks``: each standard task on a model, proved, its circuit found three ways,
and scored as MIB scores circuits.

For each task (:mod:`pathpatch.tasks`), with the task's own metric as δ (logit difference, or
greater-than's probability difference):

1. **Proof**: accuracy and the mean metric on the *test* split (:mod:`.probe`).
2. **Discovery on the validation split** (names and templates the test split does not use):
   ACDC at ``threshold`` × the total effect, EAP and EAP-IG (their top edges, as many as reach
   ``target`` of the effect on the search split), and the path search (``target``, at most
   ``path_steps`` engine calls of ``path_candidates`` new items each: the search's planning grows
   fast with the candidates on a 4-layer model).
3. **Held out**: each circuit scored on the test split with :func:`pathpatch.score`
   (proportion explained with its interval), and MIB's faithfulness curves there: CPR and CMD of
   ACDC's, EAP's and EAP-IG's edge rankings (:func:`~pathpatch.discovery.mib.mib_scores`) and of
   the path search's nested path sets (:func:`~pathpatch.discovery.mib.mib_path_curve`).
4. **Files** in ``OUT/TASK/``: ``task.json`` (every number), ``circuit-METHOD.json/.png`` and
   MIB circuit files ``mib-METHOD.json`` (:mod:`~pathpatch.discovery.mib_format`), ``mib.png``
   (the curves) and ``report.html``; ``OUT/report.html`` links the tasks' pages.

IOI also gets the classic path-patching analysis of :mod:`.ioi_roles`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import tasks
from ..discovery.acdc import acdc_search
from ..discovery.circuit import Circuit
from ..discovery.curves import faithfulness
from ..discovery.eap import EdgeScores, eap
from ..discovery.mib import MibCurve, acdc_scores, mib_path_curve, mib_scores
from ..discovery.mib_format import write_mib
from ..discovery.paths import discover_paths
from ..errors import ArgumentError
from ..lang.hypothesis import no_paths
from ..model.residual import ResidualModel
from ..render.curves import plot_mib
from ..render.drawing import draw
from ..render.taskpage import write_index_page, write_task_page
from ..scoring import score
from .ioi_roles import ioi_roles
from .probe import prove_pairs

__all__ = ["TaskDemoSettings", "run_task", "run_tasks_demo"]


@dataclass(frozen=True)
class TaskDemoSettings:
    """The demo's settings (``pathpatch demo tasks --help`` names each)."""

    search_examples: int = 48  # validation-split pairs the circuits are found on
    test_examples: int = 96  # test-split pairs they are scored on
    threshold: float = 0.01  # ACDC's threshold, as a fraction of the search split's total effect
    ig_steps: int = 5
    target: float = 0.9  # the path search's target, and EAP's top-k cut on the search split
    path_steps: int = 8  # the path search's engine calls at most
    path_candidates: int = 64  # new items it measures per refine step at most
    batch_size: int = 48
    n_boot: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "search_examples",
            "test_examples",
            "ig_steps",
            "path_steps",
            "path_candidates",
            "batch_size",
            "n_boot",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < self.threshold < 1:
            raise ArgumentError(f"threshold is a fraction of the total effect in (0, 1), got {self.threshold!r}")
        if not 0 < self.target <= 1:
            raise ArgumentError(f"target must be a proportion in (0, 1], got {self.target!r}")


def _curve_row(curve: MibCurve) -> dict[str, Any]:
    return {"cpr": curve.cpr, "cmd": curve.cmd, "curve": curve.to_dict()}


def run_task(
    model: ResidualModel,
    tokenizer: Any,
    task: str,
    out: Path,
    settings: TaskDemoSettings = TaskDemoSettings(),
    echo: Callable[[str], None] = print,
    progress: bool = False,
) -> dict[str, Any]:
    """One task's demo (module docs); writes ``out`` and returns what ``task.json`` holds."""
    s = settings
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    search = tasks.generate(task, tokenizer, seed=s.seed, split="validation", count=s.search_examples)
    test = tasks.generate(task, tokenizer, seed=s.seed, split="test", count=s.test_examples)
    proof = prove_pairs(model, test)
    echo(f"  proof: {proof.summary()}")
    delta = search.metric.delta
    kw: dict[str, Any] = dict(delta=delta, batch_size=s.batch_size, progress=progress)
    ate = score(model, {"none": no_paths()}, search, n_boot=50, **kw)["none"].metrics["ate"].value
    acdc = acdc_search(model, search, s.threshold * ate, seed=s.seed, n_boot=s.n_boot, **kw)
    echo(f"  ACDC (threshold {s.threshold} x {ate:.3f}): {acdc.circuit.n_edges} edges")
    circuits: dict[str, Circuit] = {"acdc": acdc.circuit}
    rankings: dict[str, EdgeScores] = {"acdc": acdc_scores(acdc, model)}
    for name, steps in (("eap", 0), ("eap-ig", s.ig_steps)):
        scores = eap(model, search, ig_steps=steps, **kw)
        curve = faithfulness(model, search, scores, **kw)
        k = curve.smallest_reaching(s.target)
        circuits[name] = scores.top(k, model=model, pairs=search, seed=s.seed, delta=delta, n_boot=s.n_boot)
        rankings[name] = scores
        echo(f"  {name}: top {k} edges reach {s.target} on the search split")
    circuits["paths"] = discover_paths(
        model,
        search,
        target=s.target,
        max_steps=s.path_steps,
        max_candidates=s.path_candidates,
        seed=s.seed,
        n_boot=s.n_boot,
        **kw,
    )
    echo(f"  path search: {len(circuits['paths'].patterns or ())} path patterns, {circuits['paths'].n_edges} edges")
    held = score(model, {m: c.hypothesis for m, c in circuits.items()}, test, n_boot=s.n_boot, seed=s.seed, **kw)
    curves = {m: mib_scores(model, test, r, batch_size=s.batch_size) for m, r in rankings.items()}
    path_curve = mib_path_curve(model, test, circuits["paths"], batch_size=s.batch_size)
    methods: dict[str, dict[str, Any]] = {}
    for m, c in circuits.items():
        pe = held[m].metrics["proportion_explained"]
        row: dict[str, Any] = {"edges": c.n_edges, "heldout": pe.to_dict(), "circuit": f"circuit-{m}.json"}
        if m in curves:
            row |= {"cpr": curves[m].cpr, "cmd": curves[m].cmd}
            row |= {"signed": curves[m].signed.to_dict(), "absolute": curves[m].absolute.to_dict()}
            write_mib(out / f"mib-{m}.json", model, rankings[m], c)
        else:
            row |= {"patterns": list(c.patterns or ())} | _curve_row(path_curve)
            write_mib(out / f"mib-{m}.json", model, None, c)
        methods[m] = row
        c.save(out / f"circuit-{m}.json")
        draw(model, c, out / f"circuit-{m}.png", title=f"{task}: {m}, {c.n_edges} edges")
        echo(f"  {m}: held-out proportion explained {pe}, CPR {row['cpr']:.3f}, CMD {row['cmd']:.3f}")
    plot_mib(
        {f"{m} (signed)": curves[m].signed for m in curves} | {"paths": path_curve},
        out / "mib.png",
        title=f"{task}: MIB faithfulness on the test split",
    )
    data: dict[str, Any] = {
        "task": task,
        "settings": asdict(s),
        "proof": proof.to_dict(),
        "metric": search.metric.name,
        "counterfactual": search.counterfactual,
        "ate_search": ate,
        "n_edges": len(model.graph.edges),
        "methods": methods,
        "fit": {p.split: p.report.to_dict() for p in (search, test) if p.report is not None},
        "examples": {"validation": list(search.texts[:3]), "test": list(test.texts[:3])},
    }
    if task == "ioi":
        data["ioi_roles"] = ioi_roles(model, test, n_boot=s.n_boot, batch_size=s.batch_size, echo=echo)
    data["seconds"] = round(time.perf_counter() - started, 1)
    (out / "task.json").write_text(json.dumps(data, indent=1) + "\n")
    write_task_page(out, data)
    return data


def run_tasks_demo(
    model: ResidualModel,
    tokenizer: Any,
    out_dir: str | Path,
    names: Sequence[str] = tuple(tasks.TASKS),
    settings: TaskDemoSettings = TaskDemoSettings(),
    echo: Callable[[str], None] = print,
    progress: bool = False,
    model_name: str = "",
) -> dict[str, dict[str, Any]]:
    """:func:`run_task` for each of ``names`` into ``out_dir/TASK``, and the index page."""
    unknown = [t for t in names if t not in tasks.TASKS]
    if unknown or not names:
        raise ArgumentError(f"unknown tasks {unknown}; the tasks are {', '.join(tasks.TASKS)}")
    out = Path(out_dir)
    results = {}
    for i, task in enumerate(names, 1):
        echo(f"[{i}/{len(names)}] {task}")
        results[task] = run_task(model, tokenizer, task, out / task, settings, echo, progress)
    write_index_page(out, results, model_name)
    (out / "tasks.json").write_text(json.dumps({"model": model_name, "tasks": results}, indent=1) + "\n")
    return results
