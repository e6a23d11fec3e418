"""What a user waits for: ``pp.per_example`` (the core of ``pp.score``) on every single path of the
shipped induction model (1,041 hypotheses) over 32 held-out examples, ``delta="loss"``, against the
engine alone on the same batches (``Engine.run_caches`` at the target rows, ready caches) and one
plain forward, all in this process. The ratio ``score ÷ engine`` is the scoring overhead (metrics,
bookkeeping, the clean and ablated runs); self-contained, so ``benchmarks/ab.sh`` can run it on
older sources.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/score_paths.py
    bash benchmarks/ab.sh REV benchmarks/score_paths.py
"""

from __future__ import annotations

import time

import torch

import pathpatch as pp
from pathpatch.engine.cache import run_cache
from pathpatch.induction.study import induction_dataset
from pathpatch.scoring import per_example


def best(fn, repeats: int = 2) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    torch.set_num_threads(1)
    model = pp.bundle("induction-2l").model
    pairs = pp.pair_derangement(induction_dataset(pp.bundle("induction-2l").heldout, 32, 0), 0)
    named = {p.name: pp.paths(p.name) for p in model.graph.iter_paths()}
    engine = pp.Engine(model, list(named.values()))
    ref, new, mask = pairs.ref.tokens, pairs.new_tokens, pairs.ref.target_mask
    clean, ablated = run_cache(model, ref), run_cache(model, new)
    with torch.no_grad():
        forward = best(lambda: model(ref), 3)
        engine.run_caches(clean, ablated, True, targets=mask)  # planned once
        alone = best(lambda: engine.run_caches(clean, ablated, True, targets=mask))
    for budget in (None, "256MB"):
        took = best(lambda: per_example(model, named, pairs, "loss", progress=False, max_memory=budget))
        print(
            f"{len(named)} paths x {len(pairs)} examples, max_memory={budget}: score {took:.1f} s = "
            f"{took / forward:.0f} forwards; engine alone {alone:.1f} s; score / engine {took / alone:.1f}"
        )


if __name__ == "__main__":
    main()
