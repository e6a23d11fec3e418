"""The Ray backend (extra ``ray``; `make test-extras`): a study on a 2-worker local cluster equals the
local run, survives a killed worker, and reports a cell that fails without retrying it."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from pathpatch.errors import ArgumentError, ModelLoadError
from pathpatch.study import Study
from studyfiles import make_folder, numbers, quiet, strip_seconds

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray")

from pathpatch.backends.ray import RayBackend  # noqa: E402

STUDY = """
[study]
name = "tiny-ray"

[model]
path = "tiny"

[data]
source = "tokens.safetensors"
examples = 40
splits.search = { rows = "0:20" }
splits.eval = { rows = "20:40" }

[settings]
n_boot = 200

[hypotheses]
direct = "embed -> out"
values = ["embed -> out", "embed -> a1.*.v -> out"]

[steps.acdc]
kind = "acdc"
split = "search"
threshold = 0.01

[steps.eval]
kind = "score"
split = "eval"
hypotheses = ["direct", "values", "acdc"]

[[claims]]
hypothesis = "values"
at_least = 0.01

[sweeps.metric]
steps = ["eval"]
grid = { "settings.ablation" = ["resample", "mean", "zero"], "data.pairing_seed" = [1, 2] }
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("ray-study"), STUDY)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local cluster of 2 CPU slots for the module, shut down at its end."""
    backend = RayBackend(workers=2)  # starts the cluster
    backend.started = False  # the fixture, not this backend, shuts it down
    backend.close()
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local(folder: Path) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: the same numbers, bit for bit
    try:
        Study.load(folder / "tiny.toml").run(folder / "local", echo=quiet, figures=False)
    finally:
        torch.set_num_threads(threads)
    return folder / "local"


def test_a_study_on_two_ray_workers_equals_the_local_run(folder: Path, local: Path, cluster: None) -> None:
    backend = RayBackend(workers=2)
    try:
        run = Study.load(folder / "tiny.toml").run(folder / "ray", echo=quiet, backend=backend)
    finally:
        backend.close()
    assert not run.failed and len(numbers(local)) == 7
    assert numbers(folder / "ray") == numbers(local)
    assert (folder / "ray" / "report.html").is_file()  # the base cell's figures drawn from its JSON
    card = json.loads((folder / "ray" / "robustness.json").read_text())
    assert card == json.loads((local / "robustness.json").read_text())


def test_a_killed_worker_has_its_cell_retried(folder: Path, local: Path, cluster: None) -> None:
    backend = RayBackend(workers=2)
    study = Study.load(folder / "tiny.toml")
    try:
        pids = backend.pids()
        from pathpatch.study.inputs import Inputs

        cells = [c for i, c in enumerate(study.cells) if c.id not in {d.id for d in study.cells[:i]}]
        finished = []
        for k, done in enumerate(backend.run(cells, Inputs(study.base, None), quiet)):
            finished.append(done)
            if k == 0:  # both workers are busy with the next cells: kill one mid-task
                os.kill(pids[0], signal.SIGKILL)
        assert backend.pids()[0] != pids[0]  # restarted
    finally:
        backend.close()
    assert sorted(d.cell.id for d in finished) == sorted(c.id for c in cells)
    assert all(d.data["status"] == "done" for d in finished)
    want = {p.stem: json.loads(p.read_text())["steps"] for p in (local / "cells").glob("*.json")}
    for d in finished:
        assert strip_seconds(d.data["steps"]) == strip_seconds(want[d.cell.id])


def test_a_failing_cell_is_reported_once_and_the_others_finish(folder: Path, cluster: None) -> None:
    text = STUDY.replace('"data.pairing_seed" = [1, 2]', '"data.pairing" = ["derangement", "pool"]')
    text = text.replace("examples = 40", "examples = 48").replace('"20:40"', '"20:48"')
    (folder / "failing.toml").write_text(text)
    backend = RayBackend(workers=2)
    try:
        run = Study.load(folder / "failing.toml").run(folder / "failing", echo=quiet, figures=False, backend=backend)
    finally:
        backend.close()
    failed = run.failed
    assert len(failed) == 3 and all(dict(c.assignment)["data.pairing"] == "pool" for c in failed)
    for cell in failed:
        error = run.results[cell.id]["error"]
        assert "EmptyDatasetError" in error and "every sequence was drawn" in error
    done = [c for c in run.cells if run.results[c.id]["status"] == "done"]
    assert len({c.id for c in done}) == 3


def test_the_local_cluster_listens_on_127_0_0_1_only(cluster: None) -> None:
    import shutil
    import subprocess

    assert ray.util.get_node_ip_address() == "127.0.0.1"
    if shutil.which("ss") is None:
        pytest.skip("no `ss` here to list listening sockets")
    backend = RayBackend(workers=2)
    try:
        pids = {str(p) for p in backend.pids()}
        lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    finally:
        backend.close()
    ours = [
        line for line in lines if any(f"pid={p}," in line for p in pids) or "raylet" in line or "gcs_server" in line
    ]
    assert ours, lines
    for line in ours:
        local = line.split()[3]
        assert local.startswith(("127.0.0.1:", "[::ffff:127.0.0.1]:")), line


def test_authentication_cannot_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    with pytest.raises(ArgumentError, match="token authentication only"):
        RayBackend(workers=1)


def test_without_ray_the_backend_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ModelLoadError, match=r"pip install 'pathpatch\[ray\]'"):
        RayBackend()


# ---------------------------------------------------------------- one scoring pass sharded over the workers


def _scoring_inputs():  # type: ignore[no-untyped-def]
    import pathpatch as pp

    model = pp.native_model(pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=4, d_vocab=20, n_ctx=8, seed=3))
    tokens = torch.randint(0, 20, (40, 8), generator=torch.Generator().manual_seed(0))
    pairs = pp.pair_derangement(pp.Dataset.next_token(tokens), seed=0)
    hyps = {
        "direct": pp.paths("embed -> out"),
        "values": pp.paths(["embed -> out", "embed -> a1.*.v -> out"]),
        "not a0": ~pp.through("a0.*"),
        "all": pp.all_paths(),
    }
    return model, hyps, pairs


def _one_thread(fn):  # type: ignore[no-untyped-def]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: the same numbers, bit for bit
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("ablation", ["resample", "mean"])
def test_a_scoring_pass_sharded_over_two_workers_equals_one_process(cluster: None, ablation: str) -> None:
    import numpy as np

    import pathpatch as pp

    model, hyps, pairs = _scoring_inputs()
    kw = dict(ablation=ablation, batch_size=4, max_memory="4MB", progress=False)
    here = _one_thread(lambda: pp.per_example(model, hyps, pairs, **kw))
    report_here = _one_thread(lambda: pp.score(model, hyps, pairs, n_boot=200, **kw))
    backend = RayBackend(workers=2)
    try:
        there = pp.per_example(model, hyps, pairs, backend=backend, **kw)
        report_there = pp.score(model, hyps, pairs, n_boot=200, backend=backend, **kw)
    finally:
        backend.close()
    for name in hyps:
        for key in here[name]:
            assert np.array_equal(here[name][key], there[name][key]), (name, key)
    assert report_there.to_dict() == report_here.to_dict()


def test_a_worker_killed_mid_pass_has_its_units_retried(cluster: None) -> None:
    import numpy as np

    from pathpatch.batches import gather, plan_values, unit_values
    from pathpatch.options import Options

    model, hyps, pairs = _scoring_inputs()
    plan = _one_thread(lambda: plan_values(model, hyps, pairs, Options(batch_size=2, progress=False)))
    units = plan.units
    backend = RayBackend(workers=2)
    try:
        pids, finished = backend.pids(), []

        def done(k: int) -> None:
            finished.append(k)
            if len(finished) == 1:  # both workers hold a run of units: kill one of them mid-run
                os.kill(pids[0], signal.SIGKILL)

        there = gather(plan, units, backend.map_units(plan.job, units, done))
        assert backend.pids()[0] != pids[0]  # restarted
    finally:
        backend.close()
    here = _one_thread(lambda: gather(plan, units, [unit_values(plan, u) for u in units]))
    assert sum(finished) == len(units)
    for name in hyps:
        for key in here[name]:
            assert np.array_equal(here[name][key], there[name][key]), (name, key)


def test_an_error_in_a_unit_is_raised_in_the_driver_once(cluster: None) -> None:
    import pathpatch as pp

    model, hyps, pairs = _scoring_inputs()

    def broken(ref_logits, patched_logits, data):  # type: ignore[no-untyped-def]
        raise FloatingPointError("this delta is broken")

    backend = RayBackend(workers=2)
    try:
        with pytest.raises(FloatingPointError, match="this delta is broken"):
            pp.score(model, hyps, pairs, delta=broken, progress=False, backend=backend)
    finally:
        backend.close()


def test_the_readme_cluster_example_runs(cluster: None) -> None:
    import re

    import pathpatch as pp

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "RayBackend(" in b]
    model, hypotheses, pairs = _scoring_inputs()
    namespace = {"pp": pp, "model": model, "hypotheses": hypotheses, "pairs": pairs}
    exec(compile(block, "README.md", "exec"), namespace)
    assert isinstance(namespace["report"], pp.Report) and len(namespace["report"].scores) == len(hypotheses)


def test_workers_that_no_node_can_hold_are_refused_at_once(cluster: None) -> None:
    if ray.cluster_resources().get("GPU", 0):
        pytest.skip("this machine has a GPU")
    with pytest.raises(ArgumentError, match=r"0 GPU slots, fewer than the 1 worker asked for; drop --gpus"):
        RayBackend(gpus=True)
    with pytest.raises(ArgumentError, match=r"2 CPU slots, fewer than the 3 workers"):
        RayBackend(workers=3)


def test_an_interrupted_driver_resumes_without_recomputing_finished_cells(
    folder: Path, local: Path, cluster: None
) -> None:
    class Interrupted(RayBackend):
        def run(self, cells, inputs, echo):  # type: ignore[no-untyped-def]
            for k, done in enumerate(super().run(cells, inputs, echo)):
                yield done
                if k == 2:  # three cells written: the driver is stopped (Ctrl-C)
                    raise KeyboardInterrupt

    out = folder / "interrupted"
    backend = Interrupted(workers=2)
    try:
        with pytest.raises(KeyboardInterrupt):
            Study.load(folder / "tiny.toml").run(out, echo=quiet, figures=False, backend=backend)
    finally:
        backend.close()
    assert len(list((out / "cells").glob("*.json"))) == 3
    backend = RayBackend(workers=2)
    try:
        resumed = Study.load(folder / "tiny.toml").run(out, echo=quiet, figures=False, backend=backend)
    finally:
        backend.close()
    assert len(resumed.kept) == 3 and not resumed.failed
    assert numbers(out) == numbers(local)
