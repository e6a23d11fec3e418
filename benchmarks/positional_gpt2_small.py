"""Position-resolved engine on a GPT-2-small-shaped random model (CPU): a greedy step of the number
study (156 only_at candidates) and a full causal trace (144 cells), 4 tokens, batch 32, logits at the
last position only. Times are printed with their ratio to a plain forward run in the same process.

    .venv/bin/python benchmarks/positional_gpt2_small.py
    python3 benchmarks/positional_gpt2_small.py --device cuda   # on a GPU (benchmarks/device.sh)
"""

from __future__ import annotations

import argparse
import time

import torch
import transformers

import pathpatch as pp
from pathpatch.lang.cut import only_at, residual_at
from pathpatch.model.hf_gpt2 import from_hf


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda: the model and tokens live there")
    device = parser.parse_args().device
    torch.manual_seed(0)
    model = from_hf(transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()).to(device)
    nodes = [n.name for n in model.graph.nodes if n.kind in ("head", "mlp")]
    ref, new = torch.randint(0, 50257, (32, 4)).to(device), torch.randint(0, 50257, (32, 4)).to(device)
    targets = torch.zeros(32, 4, dtype=torch.bool, device=device)
    targets[:, -1] = True
    with torch.no_grad():
        model(ref)  # warm
        forward = min(timed(lambda: model(ref)) for _ in range(3))
    cells = [pp.through(f"a{l}.*@{t}") for l in range(12) for t in range(4)]
    cells += [pp.through(f"m{l}@{t}") for l in range(12) for t in range(4)]
    cells += [residual_at(l, t) for l in range(12) for t in range(4)]
    workloads = {
        "greedy step, |S|=0 (156 hyps)": [only_at(-1, {c}) for c in nodes],
        "greedy step, |S|=20 (156 hyps)": [only_at(-1, set(nodes[:20]) | {c}) for c in nodes],
        "causal trace (144 cells)": cells,
    }
    print(f"plain forward: {forward:.3f} s")
    print(f"{'workload':<32} {'first run':>10} {'planned':>10} {'x forward':>10} {'mixed copies':>13}")
    for name, hyps in workloads.items():
        engine = pp.Engine(model, hyps)
        first = timed(lambda: engine.run_batch(ref, new, targets=targets))
        again = timed(lambda: engine.run_batch(ref, new, targets=targets))
        print(f"{name:<32} {first:>9.1f}s {again:>9.1f}s {again / forward:>10.0f} {engine.stats.mixed_copies:>13}")


if __name__ == "__main__":
    main()
