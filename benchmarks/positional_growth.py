"""How general position-resolved path sets grow with the sequence length (CPU, one thread).

The number study's greedy step (156 ``only_at(-1, S | {c})`` candidates on a GPT-2-small-shaped
Hugging Face GPT-2 with random weights, logits at the last position only) is no node or edge cut:
it is walked and its MIXED copies computed. For each length the step and a plain forward of the
same batch alternate in one process (forward, step, forward, step, ...); each figure is the best
of its runs and FE is the step over the forward. The growth exponent is the least-squares slope of
log(seconds) against log(tokens).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/positional_growth.py --tokens 16,32,64,128 --batch 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import transformers

import pathpatch as pp
from pathpatch.lang.cut import only_at
from pathpatch.model.hf_gpt2 import from_hf


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def row(model: pp.ResidualModel, n_pos: int, batch: int, chosen: int, repeats: int) -> dict[str, float]:
    nodes = [n.name for n in model.graph.nodes if n.kind in ("head", "mlp")]
    gen = torch.Generator().manual_seed(n_pos)
    ref, new = (
        torch.randint(0, 50257, (batch, n_pos), generator=gen),
        torch.randint(0, 50257, (batch, n_pos), generator=gen),
    )
    targets = torch.zeros(batch, n_pos, dtype=torch.bool)
    targets[:, -1] = True
    hyps = [only_at(-1, set(nodes[:chosen]) | {c}) for c in nodes]
    engine = pp.Engine(model, hyps)
    with torch.no_grad():
        model(ref)  # warm
    first = timed(lambda: engine.run_batch(ref, new, targets=targets))
    forwards, steps = [], []
    for _ in range(repeats):
        with torch.no_grad():
            forwards.append(timed(lambda: model(ref)))
        steps.append(timed(lambda: engine.run_batch(ref, new, targets=targets)))
    plan = engine.last_pos_plans[0]
    return {
        "tokens": n_pos,
        "forward_s": min(forwards),
        "first_s": first,
        "step_s": min(steps),
        "fe": min(steps) / min(forwards),
        "first_fe": first / min(forwards),
        "mixed_copies": engine.stats.mixed_copies,
        "walked": engine.stats.walked,
        "rows": len(plan.rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", default="16,32,64,128")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--chosen", type=int, default=0, help="nodes already in S (the greedy step's |S|)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = from_hf(transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval())
    rows = []
    for t in args.tokens.split(","):
        rows.append(row(model, int(t), args.batch, args.chosen, args.repeats))
        print({k: round(v, 3) for k, v in rows[-1].items()}, flush=True)
    print(f"greedy step |S|={args.chosen}, 156 candidates, batch {args.batch}, one thread, logits at the last position")
    print(f"{'tokens':>6} {'forward s':>10} {'first s':>9} {'step s':>8} {'FE':>7} {'mixed copies':>13} {'rows':>8}")
    for r in rows:
        print(
            f"{r['tokens']:>6} {r['forward_s']:>10.3f} {r['first_s']:>9.2f} {r['step_s']:>8.2f} {r['fe']:>7.1f} "
            f"{r['mixed_copies']:>13,} {r['rows']:>8,}"
        )
    if len(rows) > 1:
        x = np.log([r["tokens"] for r in rows])
        slopes = {k: float(np.polyfit(x, np.log([r[k] for r in rows]), 1)[0]) for k in ("step_s", "forward_s", "fe")}
        slopes["mixed_copies"] = float(np.polyfit(x, np.log([r["mixed_copies"] for r in rows]), 1)[0])
        print("growth exponents (~ T^k): " + ", ".join(f"{k} {v:.2f}" for k, v in slopes.items()))


if __name__ == "__main__":
    main()
