"""The shipped study files: studies/induction.toml prints the demo's numbers and reproduces exactly;
studies/induction-robustness.toml is a valid study of 40 cells (running it takes about 9 minutes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathpatch.study import Study, reproduce
from pathpatch.study.hypotheses import check_on_model
from pathpatch.zoo import load

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def test_the_robustness_study_is_valid() -> None:
    study = Study.load(STUDIES / "induction-robustness.toml")
    assert [sum(c.sweep == s for c in study.cells) for s in ("base", "metric", "acdc", "search")] == [1, 30, 4, 5]
    model = load("induction-2l")
    for cell in study.cells:
        check_on_model(cell.spec, model)


def test_a_pool_of_workers_starts_the_searching_cells_first() -> None:
    from pathpatch.backends.ray import heaviest_first

    cells = Study.load(STUDIES / "induction-robustness.toml").cells
    order = heaviest_first(cells)
    assert sorted(c.id for c in order) == sorted(c.id for c in cells)
    assert [c.sweep for c in order] == ["base"] + ["acdc"] * 4 + ["search"] * 5 + ["metric"] * 30
    metric = [c for c in cells if c.sweep == "metric"]
    assert order[10:] == metric  # ties keep the study's order


@pytest.mark.slow
def test_the_induction_study_prints_the_demo_numbers_and_reproduces(tmp_path: Path) -> None:
    run = Study.load(STUDIES / "induction.toml").run(tmp_path / "out", echo=lambda _: None, figures=False)
    held = run.report("heldout")
    assert [held[n].n_paths for n in ("naive", "ladder", "search", "acdc")] == [16, 650, 54, 56]
    values = [round(held[n].metrics["proportion_explained"].value, 3) for n in ("naive", "ladder", "search", "acdc")]
    assert values == [0.745, 0.914, 0.938, 0.937]  # the README's demo, step 3
    ladder = run.report("ladder")
    assert round(ladder["1 naive (Olsson et al.)"].metrics["proportion_explained"].value, 3) == 0.743
    assert round(ladder["3 best compact (naive + top 8)"].metrics["proportion_explained"].value, 3) == 0.919
    assert run.claims_hold
    outcome = reproduce(run.out, echo=lambda _: None)
    assert outcome.reproduced and outcome.exact, str(outcome)
