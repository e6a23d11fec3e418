"""Kernel launches, counted on the CPU: a proxy for the GPU cost of small, launch-bound workloads.

At 32 × 4 tokens a GPT-2-small forward on a large GPU is bound by kernel launches, not arithmetic
(an earlier GPU measurement found about 70 µs per mixed copy when each copy had kernels of its own). This script
counts the operators each workload dispatches (every ATen operator that writes memory, so not views;
the GPU launches one kernel or more for each) and the ones that make the host wait for the device
(``nonzero``, ``item``, masked indexing...), and prints them as multiples of one plain forward of the
same model: a launch-bound run on a GPU costs about that many forwards. It is a proxy, not a
timing; ``benchmarks/device.sh`` times the same workloads on a GPU where one is lent.

    .venv/bin/python benchmarks/launches.py            # GPT-2 small shape, random weights
    .venv/bin/python benchmarks/launches.py --quick    # a 2-layer toy of the same shape, seconds
    .venv/bin/python benchmarks/launches.py --trace induction:16,32,64,128:4 --trace gpt2:16,32:2

``--trace MODEL:TOKENS:BATCH`` counts causal traces instead (``benchmarks/cuts.py``'s workloads:
every kind, layer and position of ``induction-2l`` or the GPT-2 small shape, loss at its targets):
the trace's cells run as patched forwards (``engine/cuts.py``: a few stacked operators per layer
and bucket of cells), against a hooked loop, which dispatches one forward per cell plus the hook's
two operators (a clone and the write at the cell's position). Launch-bound on a GPU, each costs
about its operators over a forward's, in forwards.
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch
import transformers
from torch.utils._python_dispatch import TorchDispatchMode

import pathpatch as pp
from pathpatch.lang.cut import only_at, residual_at
from pathpatch.model.hf_gpt2 import from_hf

# operators after which the host waits for the device (a data-dependent shape or a value read)
SYNCING = ("nonzero", "_local_scalar_dense", "masked_select", "unique", "_unique2", "equal", "is_nonzero")

# operators that only allocate (no kernel)
ALLOCATING = ("empty", "new_empty", "empty_like", "empty_strided", "new_empty_strided")


class Launches(TorchDispatchMode):
    """Counts the operators that reach the kernels (views excluded) and those that sync."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        if not func.is_view:
            self.ops[func.__name__] += 1
        return func(*args, **(kwargs or {}))

    @property
    def kernels(self) -> int:
        return sum(n for name, n in self.ops.items() if name.split(".")[0] not in ALLOCATING)

    @property
    def syncs(self) -> int:
        return sum(n for name, n in self.ops.items() if name.split(".")[0] in SYNCING)


def count(fn) -> Launches:  # type: ignore[no-untyped-def]
    with torch.no_grad(), Launches() as mode:
        fn()
    return mode


def trace(spec: str) -> None:
    """Operators of causal traces (``MODEL:TOKENS:BATCH``) against a hooked loop's."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from cuts import setup
    from pathpatch.tracing import trace_hypothesis

    name, lengths, batch = spec.split(":")
    print(f"causal trace, {name}, batch {batch}: operators of the cut route and of a hooked loop (a forward per cell)")
    print(
        f"{'tokens':>6} {'cells':>6} {'forward ops':>12} {'trace ops':>10} {'x forward':>10} "
        f"{'hooked ops':>11} {'÷ hooked':>9} {'syncs':>6}"
    )
    for n_pos in map(int, lengths.split(",")):
        model, _, pairs = setup(name, n_pos, int(batch))
        kinds = ["resid", "attn"] + (["mlp"] if model.config.has_mlp else [])
        cells = [
            trace_hypothesis(k, layer, t) for k in kinds for layer in range(model.config.n_layers) for t in range(n_pos)
        ]
        ref, new, targets = pairs.ref.tokens, pairs.new_tokens, pairs.ref.target_mask
        forward = count(lambda: model(ref)).kernels
        engine = pp.Engine(model, cells)
        engine.run_batch(ref, new, targets=targets)  # planned once; the second run is what is counted
        run = count(lambda: engine.run_batch(ref, new, targets=targets))
        hooked = len(cells) * (forward + 2)
        print(
            f"{n_pos:>6} {len(cells):>6} {forward:>12} {run.kernels:>10} {run.kernels / forward:>10.1f} "
            f"{hooked:>11} {run.kernels / hooked:>9.3f} {run.syncs:>6}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 2-layer, 64-wide toy instead of GPT-2 small")
    parser.add_argument("--trace", action="append", default=[], help="MODEL:TOKENS:BATCH, e.g. induction:16,32:4")
    args = parser.parse_args()
    if args.trace:
        for spec in args.trace:
            trace(spec)
        return
    quick = args.quick
    torch.manual_seed(0)
    config = (
        transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, bos_token_id=0, eos_token_id=0)
        if quick
        else transformers.GPT2Config()
    )
    model = from_hf(transformers.GPT2LMHeadModel(config).eval())
    layers, vocab, chosen = config.n_layer, config.vocab_size, 4 if quick else 20
    nodes = [n.name for n in model.graph.nodes if n.kind in ("head", "mlp")]
    ref, new = torch.randint(0, vocab, (32, 4)), torch.randint(0, vocab, (32, 4))
    targets = torch.zeros(32, 4, dtype=torch.bool)
    targets[:, -1] = True
    forward = count(lambda: model(ref))
    cells = [pp.through(f"a{l}.*@{t}") for l in range(layers) for t in range(4)]
    cells += [pp.through(f"m{l}@{t}") for l in range(layers) for t in range(4)]
    cells += [residual_at(l, t) for l in range(layers) for t in range(4)]
    workloads = {
        f"greedy step, |S|=0 ({len(nodes)} hyps)": [only_at(-1, {c}) for c in nodes],
        f"greedy step, |S|={chosen} ({len(nodes)} hyps)": [only_at(-1, set(nodes[:chosen]) | {c}) for c in nodes],
        f"causal trace ({len(cells)} cells)": cells,
    }
    shape = "toy" if quick else "GPT-2 small shape"
    print(f"plain forward, {shape}, 32 x 4 tokens: {forward.kernels} operators, {forward.syncs} syncs")
    print(f"{'workload':<32} {'operators':>10} {'x forward':>10} {'syncs':>6} {'mixed copies':>13}")
    for name, hyps in workloads.items():
        engine = pp.Engine(model, hyps)
        engine.run_batch(ref, new, targets=targets)  # planned once; the second run is what is counted
        run = count(lambda: engine.run_batch(ref, new, targets=targets))
        print(
            f"{name:<32} {run.kernels:>10} {run.kernels / forward.kernels:>10.1f} {run.syncs:>6} "
            f"{engine.stats.mixed_copies:>13}"
        )
        print("   most frequent:", ", ".join(f"{k} {v}" for k, v in run.ops.most_common(6)))
        print("   syncs:", ", ".join(f"{k} {v}" for k, v in run.ops.items() if k.split(".")[0] in SYNCING))


if __name__ == "__main__":
    main()
