"""One scoring job sharded over a local Ray cluster's workers, against the same job in one process
(`python benchmarks/ray_score.py`; needs the extra `ray`). Prints wall times, ratios to the one
process (run again just before each Ray run, warm, so that both see the same machine), whether
every per-example value equals it, and the overhead of a sharded pass measured on almost no work
(64 units of one 16-token sequence each: the job put in the object store, planned on each worker,
the runs of units sent and gathered).

The job: the shipped `induction-2l` on held-out sequences of its own length (128 tokens), loss at
the induction candidates, one hypothesis per head ablated alone (all paths except those through
it) and the naive induction story: 17 hypotheses. The one process and every worker use one thread.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import pathpatch as pp
from pathpatch.backends.ray import RayBackend
from pathpatch.induction.study import induction_dataset


def _hypotheses(model: pp.ResidualModel) -> dict[str, pp.Hypothesis]:
    cfg = model.config
    hyps: dict[str, pp.Hypothesis] = {
        f"without a{layer}.{head}": ~pp.through(f"a{layer}.{head}")
        for layer in range(cfg.n_layers)
        for head in range(cfg.n_heads)
    }
    hyps["naive"] = pp.paths(
        [
            "embed -> out",
            "embed -> a1.{0,3,7}.q -> out",
            "embed -> a1.{0,3,7}.v -> out",
            "embed -> a0.{2} -> a1.{0,3,7}.k -> out",
        ]
    )
    return hyps


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _same(a: dict[str, dict[str, np.ndarray]], b: dict[str, dict[str, np.ndarray]]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[n][k], b[n][k]) for n in a for k in a[n])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    bundle = pp.bundle("induction-2l")
    model = bundle.model
    pairs = pp.pair_derangement(induction_dataset(bundle.heldout, args.examples, seed=0), seed=1)
    tiny = pp.pair_derangement(induction_dataset(bundle.heldout[:, :16], 64, seed=0), seed=1)
    hyps = _hypotheses(model)
    kw = dict(delta="loss", batch_size=args.batch_size, progress=False)
    tiny_kw = {**kw, "batch_size": 1}
    naive = {"naive": hyps["naive"]}
    units = -(-len(pairs) // args.batch_size)
    print(
        f"job: {len(hyps)} hypotheses x {len(pairs)} sequences x {pairs.ref.n_pos} tokens of induction-2l, "
        f"batches of {args.batch_size} ({units} units); one thread per process"
    )
    pp.per_example(model, naive, tiny, **tiny_kw)  # warm: the first pass of a process
    for workers in args.workers:
        local, here = _timed(lambda: pp.per_example(model, hyps, pairs, **kw))
        tiny_local, _ = _timed(lambda: pp.per_example(model, naive, tiny, **tiny_kw))
        up, backend = _timed(lambda workers=workers: RayBackend(workers=workers))
        try:
            pp.per_example(model, naive, tiny, backend=backend, **tiny_kw)  # warm: the workers' first pass
            t, there = _timed(lambda backend=backend: pp.per_example(model, hyps, pairs, backend=backend, **kw))
            t_tiny, _ = _timed(lambda backend=backend: pp.per_example(model, naive, tiny, backend=backend, **tiny_kw))
        finally:
            backend.close()
        print(f"one process:     {local:7.1f} s  (1.00)")
        print(
            f"ray, {workers} worker{'s' * (workers > 1)}:  {t:7.1f} s  ({t / local:.2f} of one process; cluster and "
            f"actors up in {up:.1f} s, not counted); every value equal to one process: {_same(here, there)}"
        )
        print(
            f"  overhead of a sharded pass of 64 near-empty units: {(t_tiny - tiny_local / workers) * 1000:.0f} ms "
            f"(ray {t_tiny:.2f} s, one process {tiny_local:.2f} s)"
        )


if __name__ == "__main__":
    main()
