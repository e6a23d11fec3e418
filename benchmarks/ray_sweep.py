"""A study sweep on the local backend and on a local Ray cluster with 1 and 2 workers, in one
process (`python benchmarks/ray_sweep.py`; needs the extra `ray`). Prints wall times, the ratios to
the local run, whether every number equals the local run's, and the per-task overhead measured on
cells that do almost nothing.

The sweep is the induction study's scoring on the shipped `induction-2l`: the naive story and the
best compact set on 100 held-out sequences (|delta loss|), over 2 ablations x 4 pairing seeds (8 cells,
plus the base). Local runs use one thread, as each Ray worker does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from pathpatch.backends.ray import RayBackend
from pathpatch.study import Study
from pathpatch.study.reproduction import cell_numbers

STUDY = """
[study]
name = "ray-sweep"
[model]
name = "induction-2l"
[data]
source = "heldout"
examples = {examples}
targets = "induction-candidates"
[settings]
delta = "loss"
n_boot = {n_boot}
[hypotheses]
naive = ["embed -> out", "embed -> a1.{{0,3,7}}.q -> out", "embed -> a1.{{0,3,7}}.v -> out",
         "embed -> a0.{{2}} -> a1.{{0,3,7}}.k -> out"]
best = ["embed -> out", "embed -> a1.{{0,3,7}}.q -> out", "embed -> a1.{{0,3,7}}.v -> out",
        "embed -> a0.{{2}} -> a1.{{0,3,7}}.k -> out", "a1.6 -> out", "a1.5 -> out", "a1.2 -> out",
        "embed -> a0.4 -> out", "a1.1 -> out", "a1.4 -> out", "embed -> a0.1 -> out", "embed -> a0.0 -> out"]
[steps.score]
kind = "score"
hypotheses = {hypotheses}
[sweeps.grid]
grid = {{ "settings.ablation" = ["resample", "mean"], "data.pairing_seed" = [1, 2, 3, 4] }}
"""


def _time(study: Study, out: Path, backend: RayBackend | None) -> float:
    start = time.perf_counter()
    study.run(out, echo=lambda _: None, figures=False, backend=backend)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="ray-sweep-"))
    heavy = root / "sweep.toml"
    heavy.write_text(STUDY.format(examples=args.examples, n_boot=1000, hypotheses='["naive", "best"]'))
    light = root / "light.toml"
    light.write_text(STUDY.format(examples=8, n_boot=10, hypotheses='["naive"]'))
    study, tiny = Study.load(heavy), Study.load(light)
    print(f"sweep: {len(study.cells)} cells ({args.examples} sequences, 2 hypotheses, n_boot 1000); one thread each")
    local = _time(study, root / "local", None)
    print(f"local backend:       {local:7.1f} s  (1.00)")
    tiny_local = _time(tiny, root / "tiny-local", None)
    for workers in (1, 2):
        start = time.perf_counter()
        backend = RayBackend(workers=workers)
        backend.pids()  # the actors are up
        up = time.perf_counter() - start
        try:
            t = _time(study, root / f"ray{workers}", backend)
            t_tiny = _time(tiny, root / f"tiny-ray{workers}", backend)
        finally:
            backend.close()
            import ray

            ray.shutdown()
        same = cell_numbers(root / f"ray{workers}") == cell_numbers(root / "local")
        print(
            f"ray, {workers} worker{'s' * (workers > 1)}:       {t:7.1f} s  ({t / local:.2f} of local; cluster and "
            f"actors up in {up:.1f} s, not counted); numbers equal to local: {same}"
        )
        overhead = (t_tiny - tiny_local / workers) / len(tiny.cells)
        print(
            f"  per-task overhead on {len(tiny.cells)} near-empty cells: {overhead * 1000:.0f} ms "
            f"(ray {t_tiny:.2f} s, local {tiny_local:.2f} s)"
        )


if __name__ == "__main__":
    main()
