"""Peak memory of scoring every single path of the shipped induction model (1,041 hypotheses) on 32
examples, without a bound and with ``max_memory="256MB"`` (twice), as run.py's memory workload
does; self-contained, so ``benchmarks/ab.sh`` can run it on older sources too. Run it with
``MALLOC_MMAP_THRESHOLD_=131072`` so that the resident size tracks live tensors:

    MALLOC_MMAP_THRESHOLD_=131072 bash benchmarks/ab.sh REV benchmarks/memory_bound.py
"""

from __future__ import annotations

import threading
import time

import pathpatch as pp
from pathpatch.induction.study import induction_dataset
from pathpatch.scoring import per_example


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def peak_mb(fn) -> float:  # type: ignore[no-untyped-def]
    """The resident size's peak above its start while ``fn`` runs, in MB."""
    start = peak = _rss()
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss())
            time.sleep(0.001)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    fn()
    done.set()
    thread.join()
    return (peak - start) / 2**20


def main() -> None:
    bundle = pp.bundle("induction-2l")
    model = bundle.model
    pairs = pp.pair_derangement(induction_dataset(bundle.heldout, 32, 0), 0)
    named = {p.name: pp.paths(p.name) for p in model.graph.iter_paths()}
    for budget in (None, "256MB", "256MB"):
        mb = peak_mb(lambda: per_example(model, named, pairs, "loss", progress=False, max_memory=budget))
        print(f"{len(named)} paths, 32 examples, max_memory={budget}: peak {mb:,.0f} MB")


if __name__ == "__main__":
    main()
