"""Studies as files: a tiny study on a saved random model, run, resumed, reproduced and tampered with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import pathpatch as pp
from pathpatch.cli import cli
from pathpatch.errors import ReproductionError
from pathpatch.study import Study, execute, reproduce
from studyfiles import TINY_STUDY, make_folder, numbers, quiet


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def finished(folder: Path) -> Path:
    out = folder / "out"
    Study.load(folder / "tiny.toml").run(out, echo=quiet, figures=False)
    return out


def test_a_study_runs_its_cells_and_judges_its_claims(folder: Path, finished: Path) -> None:
    study = Study.load(folder / "tiny.toml")
    assert [c.sweep for c in study.cells] == ["base"] + ["metric"] * 4
    assert study.cells[1].label == "ablation=resample, pairing_seed=0"
    assert study.cells[1].steps == ("acdc", "eval")  # eval reads acdc's circuit, so the sweep runs it too
    # the point (resample, 0) is the study as written: the same cell as the base, run once, counted once
    assert study.cells[0].id == study.cells[1].id and len({c.id for c in study.cells}) == 4
    assert len(list((finished / "cells").glob("*.json"))) == 4
    card = json.loads((finished / "robustness.json").read_text())
    assert [c["status"] for c in card["cells"]] == ["done"] * 4
    assert card["cells"][0]["also"] == ["ablation=resample, pairing_seed=0"]
    size = card["claims"][1]
    assert size["judged_in"] == 4 and size["bound"] == 1 and size["holds_in"] == 0  # ACDC keeps more than one edge
    assert size["worst"]["margin"] == 1 - size["worst"]["value"]
    values = next(h for h in card["hypotheses"] if h["hypothesis"] == "values")
    assert len(values["metrics"]["proportion_explained"]) == 4
    acdc = card["discoveries"][0]
    assert acdc["step"] == "acdc" and len(acdc["jaccard"]) == 4 and len(acdc["curves"]) == 4
    assert set(acdc["core"]) <= set(acdc["inclusion"]) and all(acdc["inclusion"][e] >= 0.9 for e in acdc["core"])
    run = json.loads((finished / "run.json").read_text())
    assert run["status"] == "done" and len(run["model"]["weights_sha256"]) == 64
    assert run["study"]["resolved"]["settings"]["delta"] == "kl"  # the default, recorded
    assert run["environment"]["torch"] == torch.__version__ and run["environment"]["threads"] >= 1


def test_the_subgraph_of_a_path_set_scores_at_least_its_paths(finished: Path) -> None:
    report = pp.Report.from_dict(
        json.loads(next((finished / "cells").glob("*.json")).read_text())["steps"]["eval"]["report"]
    )
    assert report["values-subgraph"].n_paths >= report["values"].n_paths


def test_a_rerun_keeps_every_finished_cell(folder: Path, finished: Path) -> None:
    before = numbers(finished)
    lines: list[str] = []
    again = Study.load(folder / "tiny.toml").run(finished, echo=lines.append, figures=False)
    assert len(again.kept) == 4 and sum("finished in an earlier run, kept" in line for line in lines) == 4
    assert numbers(finished) == before


def test_reproduce_passes_on_the_output_and_fails_on_an_edited_number(folder: Path, finished: Path) -> None:
    outcome = reproduce(finished, echo=quiet)
    assert outcome.reproduced and outcome.exact and outcome.numbers > 100, str(outcome)
    edited = folder / "edited"
    import shutil

    shutil.copytree(finished, edited)
    cell = sorted((edited / "cells").glob("*.json"))[0]
    data = json.loads(cell.read_text())
    data["steps"]["eval"]["report"]["scores"][1]["metrics"]["proportion_explained"]["low"] += 1e-6
    cell.write_text(json.dumps(data))
    outcome = reproduce(edited, echo=quiet)
    assert not outcome.reproduced
    (diff,) = outcome.differences
    assert diff.where.endswith("steps.eval.report.scores[1].metrics.proportion_explained.low")
    result = CliRunner().invoke(cli, ["reproduce", str(edited)])
    assert result.exit_code == 1 and "not reproduced: 1 values differ" in result.output
    assert "recorded" in result.output and "now" in result.output


def test_reproduce_refuses_other_weights(folder: Path, finished: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished, copy)
    run = json.loads((copy / "run.json").read_text())
    run["model"]["weights_sha256"] = "0" * 64
    (copy / "run.json").write_text(json.dumps(run))
    with pytest.raises(ReproductionError, match="weights differ"):
        reproduce(copy, echo=quiet)
    with pytest.raises(ReproductionError, match="not a run record"):
        reproduce(tmp_path, echo=quiet)


def test_an_interrupted_run_resumes_without_recomputing_finished_cells(
    folder: Path, finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = execute.run_cell, []

    def interrupted(cell, inputs, on_step=None):  # type: ignore[no-untyped-def]
        calls.append(cell.id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(cell, inputs, on_step)

    monkeypatch.setattr(execute, "run_cell", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        Study.load(folder / "tiny.toml").run(out, echo=quiet, figures=False)
    written = sorted(p.name for p in (out / "cells").glob("*.json"))
    assert len(written) == 2 and not list((out / "cells").glob(".*"))  # no half-written file
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*.json")}
    calls.clear()
    resumed = Study.load(folder / "tiny.toml").run(out, echo=quiet, figures=False)
    assert len(resumed.kept) == 2 and len(calls) == 2  # only the two unfinished cells ran
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert numbers(out) == numbers(finished)


def test_a_killed_process_resumes(folder: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    text = (folder / "tiny.toml").read_text().replace("n_boot = 200", "n_boot = 10000")
    study = tmp_path / "slow.toml"
    study.write_text(
        text.replace('path = "tiny"', f'path = "{folder / "tiny"}"').replace(
            'source = "tokens.safetensors"', f'source = "{folder / "tokens.safetensors"}"'
        )
    )
    env = {**os.environ, "PATHPATCH_THREADS": "1"}
    cmd = [sys.executable, "-m", "pathpatch.cli", "run", str(study), "--out", str(out), "--no-figures"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "cells").glob("*.json"))) < 1 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted((out / "cells").glob("*.json"))
    assert 1 <= len(done) < 4, "the run must be killed after some cells and before the last"
    for p in done:
        json.loads(p.read_text())  # whole JSON: written atomically
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("finished in an earlier run, kept") == len(done)
    assert len(list((out / "cells").glob("*.json"))) == 4


def _write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text)
    return folder / name


def test_other_sources_npy_and_a_task(folder: Path, tmp_path: Path) -> None:
    text = TINY_STUDY.replace('source = "tokens.safetensors"', 'source = "tokens.npy"')
    path = folder / "npy.toml"
    path.write_text(text)
    a = Study.load(path).run(tmp_path / "npy", echo=quiet, figures=False)
    b = Study.load(folder / "tiny.toml").run(tmp_path / "st", echo=quiet, figures=False)
    assert a.results[a.cells[0].id]["data_sha256"] == b.results[b.cells[0].id]["data_sha256"]
    pooled = Study.load(
        _write(folder, "pool.toml", TINY_STUDY.replace("examples = 40", 'examples = 40\npairing = "pool"'))
    )
    run = pooled.run(tmp_path / "pool", echo=quiet, figures=False)
    new = run.results[run.cells[0].id]["data_sha256"]["splits"]
    assert new != b.results[b.cells[0].id]["data_sha256"]["splits"]  # x_new comes from the 8 sequences not drawn
    many = TINY_STUDY.replace("examples = 40", 'examples = 48\npairing = "pool"').replace('"20:40"', '"20:48"')
    failed = Study.load(_write(folder, "pool.toml", many)).run(tmp_path / "pool2", echo=quiet, figures=False)
    assert len(failed.failed) == 4  # recorded, with the reason, and retried by a re-run
    error = failed.results[failed.cells[0].id]["error"]
    assert error.startswith("step acdc: EmptyDatasetError") and "every sequence was drawn" in error
    task = text.replace('source = "tokens.npy"', 'source = "task:repeated-tokens"\nlength = 10')
    path.write_text(task.replace('targets = "every"', ""))
    run = Study.load(path).run(tmp_path / "task", echo=quiet, figures=False)
    assert run.report("eval")["direct"].n_paths == 1


def test_the_command_line_checks_runs_and_explains(folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    checked = runner.invoke(cli, ["run", str(folder / "tiny.toml"), "--check"])
    assert checked.exit_code == 0 and "the study is valid" in checked.output
    helped = runner.invoke(cli, ["run", "--help"])
    assert "resumes" in helped.output and "reproduce" in helped.output and "--gpus" in helped.output
    for ray_only in (["--workers", "2"], ["--gpus"], ["--address", "HEAD:6379"]):
        refused = runner.invoke(cli, ["run", str(folder / "tiny.toml"), *ray_only])
        assert isinstance(refused.exception, pp.ArgumentError), refused.output
        assert "the Ray backend's; pass --backend ray" in str(refused.exception)
    bad = folder / "bad.toml"
    bad.write_text(TINY_STUDY.replace("n_boot = 200", "n_boot = 0"))
    from pathpatch.cli import main

    with pytest.raises(SystemExit) as code:
        import sys

        argv = sys.argv
        sys.argv = ["pathpatch", "run", str(bad)]
        try:
            main()
        finally:
            sys.argv = argv
    assert code.value.code == 2


def test_a_run_writes_a_report_page_with_the_card(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "page"
    result = CliRunner().invoke(cli, ["run", str(folder / "tiny.toml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "robustness card: tiny" in result.output and "holds in" in result.output
    page = (out / "report.html").read_text()
    assert 'id="robustness"' in page and "values explain a little" in page
    for name in ("robustness-claims.png", "robustness-acdc-core.svg", "circuit-acdc.png", "eval.png"):
        assert (out / name).stat().st_size > 0
    assert pp.Study is Study


EVERY_KIND = """
[study]
name = "every-kind"

[model]
path = "tiny"

[data]
source = "tokens.safetensors"
examples = 24
targets = "last"

[settings]
n_boot = 100

[hypotheses]
values = ["embed -> out", "embed -> a1.*.v -> out"]

[steps.probe]
kind = "probe"

[steps.ladder]
kind = "ladder"
base = "values"
groups = { "layer 0 direct" = ["embed -> a0.* -> out"], "layer 1 keys" = ["embed -> a1.*.k -> out"] }
quick_boot = 50

[steps.nodes]
kind = "scan"
scan = "nodes"

[steps.edges]
kind = "scan"
scan = "edges"
receiver = "a1.0.k"

[steps.senders]
kind = "scan"
scan = "senders"
receivers = ["a1.0"]

[steps.paths]
kind = "scan"
scan = "paths"
paths = ["embed -> a1.*.v -> out", "embed -> out"]

[steps.trace]
kind = "trace"
kinds = ["resid", "attn"]
positions = [7, 8]

[steps.eap]
kind = "eap"
edges = 10

[steps.eap-ig]
kind = "eap-ig"
edges = 10
ig_steps = 2
curve = false

[steps.search]
kind = "paths"
target = 0.7
max_steps = 3
curve = true

[steps.scored]
kind = "score"
hypotheses = ["values", "ladder", "eap", "eap-ig", "search"]
settings = { delta = "loss", n_boot = 50 }
"""


def test_every_step_kind_runs_and_records_its_result(folder: Path, tmp_path: Path) -> None:
    run = Study.load(_write(folder, "every.toml", EVERY_KIND)).run(tmp_path / "every", echo=quiet)
    steps = run.results[run.cells[0].id]["steps"]
    assert run.results[run.cells[0].id]["status"] == "done", run.results[run.cells[0].id]["error"]
    assert steps["probe"]["proof"]["induction_scores"] and "repeated random tokens" in steps["probe"]["summary"]
    assert {g["name"] for g in steps["ladder"]["gains"]} == {"layer 0 direct", "layer 1 keys"}
    assert steps["edges"]["table"]["rows"] and steps["trace"]["table"]["rows"]
    assert len(steps["eap"]["circuit"]["edges"]) == 10 and steps["eap"]["curve"]["area"] > 0
    assert steps["eap-ig"]["curve"] is None and steps["search"]["curve"]["ks"][0] == 0
    report = run.report("scored")
    assert report.meta["delta"] == "loss" and report.meta["n_boot"] == 50  # the step's own settings
    assert report["ladder"].n_paths >= report["values"].n_paths  # the ladder's best set holds the base
    for name in ("scored.png", "ladder-refinements.png", "probe-head-scores.png", "trace.png", "circuit-eap.png"):
        assert (tmp_path / "every" / name).is_file(), name
