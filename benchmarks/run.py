"""pathpatch's benchmark suite: the engine against the usual hook-based way, and against its limit.

    make bench                       # = .venv/bin/python benchmarks/run.py
    .venv/bin/python benchmarks/run.py --quick      # tiny sizes, a smoke run (seconds)

Every figure is a ratio of two times measured side by side in this process (best of a few runs),
so the machine's noise cancels to first order. Before a baseline is timed, its numbers are checked
against the engine's (max |Δ logit| <= 1e-4); the run stops if they differ. Workloads (README):

1. clean forward: the residual-graph model vs the source model (HF GPT-2; the induction model's
   standard module);
2. one subgraph hypothesis on a GPT-2-small-shaped model, dense (half the edges) and sparse (5%);
3. every single path of the shipped induction model, loss at the dataset's target positions;
4. the sender scan: every sender into one layer-9 head's q/k/v, logit difference at the last position;
5. a memory bound (``max_memory``) on workload 3 through :func:`pathpatch.scoring.per_example`;
6. scaling of workload 3 with batch, sequence length and number of hypotheses (plot).

Writes ``benchmarks/results/bench.json`` (and ``scaling.png``); see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import pathpatch as pp
from hooks import PlainAttnOnly, hf_gpt2_patcher, plain_patcher
from measure import PeakMemory, best_of, limit_seconds
from pathpatch.engine.cache import run_cache

TOL = 1e-4
MB = 1 << 20
# The memory pass re-runs the workloads in a child process whose allocator returns every large
# block to the system (glibc's MALLOC_MMAP_THRESHOLD_ fixed), so the resident size tracks live
# tensors; its timings are discarded and its baseline loops skipped.
MEMORY_PASS = os.environ.get("PATHPATCH_BENCH_MEMORY") == "1"


def loop_time(fn) -> float:  # type: ignore[no-untyped-def]
    """One timed run of a long baseline loop (skipped in the memory pass)."""
    return float("nan") if MEMORY_PASS else best_of(fn, 1)


def memory_pass(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Peak memory per workload, from a child process (see MEMORY_PASS)."""
    import subprocess
    import tempfile

    env = dict(os.environ, PATHPATCH_BENCH_MEMORY="1", MALLOC_MMAP_THRESHOLD_="131072")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            __file__,
            "--out",
            tmp,
            "--threads",
            str(args.threads),
            "--repeats",
            "1",
            "--device",
            args.device,
        ]
        subprocess.run(cmd + (["--quick"] if args.quick else []), env=env, check=True, stdout=subprocess.DEVNULL)
        rows = json.loads((Path(tmp) / "bench.json").read_text())["results"]
    return {r["workload"]: {k: v for k, v in r.items() if k.endswith("_peak_mb")} for r in rows}


def gpt2(quick: bool):  # type: ignore[no-untyped-def]
    """A GPT-2-small-shaped HF model with random weights, biases and norms (so every term counts)."""
    import transformers

    torch.manual_seed(0)
    cfg = (
        transformers.GPT2Config()
        if not quick
        else transformers.GPT2Config(
            n_layer=4, n_head=4, n_embd=64, vocab_size=500, n_positions=64, bos_token_id=0, eos_token_id=0
        )
    )
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.add_(0.02 * torch.randn_like(p))
    from pathpatch.model.hf_gpt2 import from_hf

    return hf, from_hf(hf)


def check(name: str, got: torch.Tensor, want: torch.Tensor) -> float:
    diff = float((got.float() - want.float()).abs().max())
    if not diff <= TOL:
        raise SystemExit(
            f"{name}: the baseline and the engine differ by {diff:.2e} > {TOL}; not timing a wrong baseline"
        )
    return diff


def engine_side(model, hyps, ref, new, targets, repeats):  # type: ignore[no-untyped-def]
    """Engine time (caches ready, plan made), its rows, peak memory, limit and copies."""
    engine = pp.Engine(model, hyps)
    clean, ablated = run_cache(model, ref), run_cache(model, new)
    rows = engine.run_caches(clean, ablated, True, targets=targets)  # plans, warms up
    with PeakMemory(ref.device) as mem:
        engine.run_caches(clean, ablated, True, targets=targets)
    seconds = best_of(lambda: engine.run_caches(clean, ablated, True, targets=targets), repeats)
    limit, copies = (float("nan"), 0) if MEMORY_PASS else limit_seconds(model, engine.last_plan, clean, targets)
    row = {"engine_s": seconds, "limit_s": limit, "mixed_copies": copies, "engine_peak_mb": mem.bytes / MB}
    return row, rows, lambda: engine.run_caches(clean, ablated, True, targets=targets)


def forward_workload(results: list, hf, model, plain, induction, quick: bool) -> None:  # type: ignore[no-untyped-def]
    for name, source, native, shape in (
        ("clean forward, GPT-2-small-shaped", lambda t: hf(t).logits, model, (2, 8) if quick else (8, 128)),
        ("clean forward, induction model", plain, induction, (2, 16) if quick else (16, 128)),
    ):
        tokens = torch.randint(0, native.config.d_vocab, shape)
        with torch.no_grad():
            diff = check(name, native(tokens), source(tokens))
            t_src, t_res = best_of(lambda: source(tokens), 5), best_of(lambda: native(tokens), 5)
        results.append(
            {
                "workload": name,
                "baseline": "source model forward",
                "baseline_s": t_src,
                "engine_s": t_res,
                "ratio": t_res / t_src,
                "target": "<= 1.2",
                "max_diff": diff,
            }
        )


def subgraph_workload(results: list, hf, model, quick: bool, repeats: int) -> None:  # type: ignore[no-untyped-def]
    B, P = (2, 8) if quick else (16, 32)
    ref, new = torch.randint(0, model.config.d_vocab, (B, P)), torch.randint(0, model.config.d_vocab, (B, P))
    targets = torch.zeros(B, P, dtype=torch.bool)
    targets[:, -1] = True
    with torch.no_grad():
        t_fwd = best_of(lambda: hf(ref).logits, repeats)
    for label, keep in (("dense", 0.5), ("sparse", 0.05)):
        rng = random.Random(0)
        kept = [e for e in model.graph.edges if rng.random() < keep]
        row, rows, _ = engine_side(model, [pp.subgraph(kept)], ref, new, targets, repeats)
        pt, handles = hf_gpt2_patcher(hf, model)
        with torch.no_grad():
            pt.set_edges(kept)
            pt.prepare(new, lambda t: hf(t))
            diff = check("subgraph", hf(ref).logits[:, -1], rows[0])
            with PeakMemory() as mem:
                hf(ref)
            t_base = best_of(lambda: hf(ref).logits, repeats)
        for h in handles:
            h.remove()
        results.append(
            {
                "workload": f"one subgraph ({label}: {len(kept)} of {len(model.graph.edges)} edges), GPT-2",
                "baseline": "hooked HF forward",
                "baseline_s": t_base,
                **row,
                "forward_s": t_fwd,
                "forward_equivalents": row["engine_s"] / t_fwd,
                "ratio": t_base / row["engine_s"],
                "target": "<= 1.5 forward-equivalents",
                "baseline_peak_mb": mem.bytes / MB,
                "max_diff": diff,
            }
        )


def paths_workload(
    results: list,
    plain,
    induction,
    heldout,
    quick: bool,
    repeats: int,  # type: ignore[no-untyped-def]
    n_examples: int = 8,
    n_pos: int = 128,
    n_paths: int | None = None,
    record: bool = True,
):
    from pathpatch.induction.study import induction_candidates

    tokens = heldout[:, :n_pos]
    usable = induction_candidates(tokens).any(1)
    tokens = tokens[usable][: 2 * n_examples]
    ref, new = tokens[:n_examples], tokens[n_examples:]
    mask = induction_candidates(ref)
    mask[:, -1] = False
    target_ids = ref[:, 1:][mask[:, :-1]]
    paths = list(induction.graph.iter_paths())[: (50 if quick else n_paths)]
    hyps = [pp.paths(p.name) for p in paths]

    def engine_losses(rows):  # type: ignore[no-untyped-def]
        return [F.cross_entropy(r, target_ids) for r in rows]

    row, rows, again = engine_side(induction, hyps, ref, new, mask, repeats if record else 1)
    if not record:
        return row
    row["engine_s"] = best_of(lambda: engine_losses(again()), repeats)  # with the metric
    pt, handles = plain_patcher(plain, induction)
    with torch.no_grad():
        pt.prepare(new, plain)
        diff = 0.0
        for i in range(0, len(paths), max(1, len(paths) // 25)):  # 25 spread-out paths checked first
            pt.set_edges(paths[i].edges)
            diff = max(diff, check(paths[i].name, plain(ref)[mask], rows[i]))

        def baseline_loop() -> None:
            for p in paths:
                pt.set_edges(p.edges)
                F.cross_entropy(plain(ref)[mask], target_ids)

        with PeakMemory() as mem:
            plain(ref)
        t_base = loop_time(baseline_loop)
    for h in handles:
        h.remove()
    plain.split = False
    t_fwd = best_of(lambda: induction(ref), repeats)
    results.append(
        {
            "workload": f"every single path ({len(paths)}), induction model, loss at targets",
            "baseline": "hooked forward per path",
            "baseline_s": t_base,
            **row,
            "forward_s": t_fwd,
            "forward_equivalents": row["engine_s"] / t_fwd,
            "ratio": t_base / row["engine_s"],
            "target": ">= 20x faster than the baseline loop",
            "baseline_peak_mb": mem.bytes / MB,
            "max_diff": diff,
            "examples": n_examples,
            "target_rows": int(mask.sum()),
        }
    )
    return row


def sender_workload(results: list, hf, model, quick: bool, repeats: int) -> None:  # type: ignore[no-untyped-def]
    B, P = (2, 8) if quick else (8, 32)
    layer = min(9, model.config.n_layers - 1)
    head = min(6, model.config.n_heads - 1)
    graph = model.graph
    ports = [graph.port(f"a{layer}.{head}.{c}") for c in "qkv"]
    senders = [u for u in graph.nodes if any(u in graph.senders(p) for p in ports)]
    hyps, kept_sets = [], []
    for s in senders:
        removed = {pp.Edge(s, p) for p in ports if s in graph.senders(p)}
        h = pp.no_paths()
        for e in removed:
            h = h | pp.through_edge(e.sender, e.receiver)
        hyps.append(~h)
        kept_sets.append([e for e in graph.edges if e not in removed])
    ref, new = torch.randint(0, model.config.d_vocab, (B, P)), torch.randint(0, model.config.d_vocab, (B, P))
    right, wrong = torch.randint(0, model.config.d_vocab, (B,)), torch.randint(0, model.config.d_vocab, (B,))
    targets = torch.zeros(B, P, dtype=torch.bool)
    targets[:, -1] = True
    ar = torch.arange(B)
    row, rows, again = engine_side(model, hyps, ref, new, targets, 1)
    row["engine_s"] = best_of(lambda: [r[ar, right] - r[ar, wrong] for r in again()], repeats)  # with the metric
    pt, handles = hf_gpt2_patcher(hf, model)
    with torch.no_grad():
        pt.prepare(new, lambda t: hf(t))
        diff = 0.0
        for i in range(0, len(senders), max(1, len(senders) // 6)):
            pt.set_edges(kept_sets[i])
            diff = max(diff, check(f"sender {senders[i].name}", hf(ref).logits[:, -1], rows[i]))

        def baseline_loop() -> None:
            for kept in kept_sets:
                pt.set_edges(kept)
                logits = hf(ref).logits[:, -1]
                logits[ar, right] - logits[ar, wrong]

        with PeakMemory() as mem:
            hf(ref)
        t_base = loop_time(baseline_loop)
    for h in handles:
        h.remove()
    with torch.no_grad():
        t_fwd = best_of(lambda: hf(ref).logits, repeats)
    results.append(
        {
            "workload": f"sender scan: {len(senders)} senders into a{layer}.{head}.q/k/v, GPT-2, logit diff",
            "baseline": "hooked HF forward per sender",
            "baseline_s": t_base,
            **row,
            "forward_s": t_fwd,
            "forward_equivalents": row["engine_s"] / t_fwd,
            "ratio": t_base / row["engine_s"],
            "target": "report",
            "baseline_peak_mb": mem.bytes / MB,
            "max_diff": diff,
        }
    )


def memory_workload(results: list, induction, heldout, quick: bool) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.induction.study import induction_dataset
    from pathpatch.scoring import per_example

    data = induction_dataset(heldout, 8 if quick else 32, 0)
    pairs = pp.pair_derangement(data, 0)
    named = {p.name: pp.paths(p.name) for p in list(induction.graph.iter_paths())[: 50 if quick else None]}
    out = {}
    for budget in (None, "256MB"):
        with PeakMemory() as mem:
            out[budget] = per_example(induction, named, pairs, "loss", progress=False, max_memory=budget)
        results.append(
            {
                "workload": f"score {len(named)} single paths on {len(data)} examples, max_memory={budget}",
                "engine_peak_mb": mem.bytes / MB,
                "target": "peak near or under the budget",
            }
        )
    diff = max(float(abs(out[None][n]["delta_h"] - out["256MB"][n]["delta_h"]).max()) for n in named)
    results[-1]["max_diff"] = diff


def scaling(results: list, induction, heldout, out_dir: Path) -> None:  # type: ignore[no-untyped-def]
    sweeps = {
        "hypotheses": [(8, 128, n) for n in (100, 300, 1041)],
        "batch": [(b, 128, 300) for b in (4, 8, 16)],
        "sequence length": [(8, p, 300) for p in (32, 64, 128)],
    }
    table = {}
    for name, points in sweeps.items():
        table[name] = []
        for b, p, n in points:
            row = paths_workload([], None, induction, heldout, False, 2, b, p, n, record=False)
            table[name].append(
                {
                    "batch": b,
                    "pos": p,
                    "hypotheses": n,
                    "engine_s": row["engine_s"],
                    "mixed_copies": row["mixed_copies"],
                    "engine_peak_mb": row["engine_peak_mb"],
                }
            )
    results.append({"workload": "scaling (single paths, induction model)", "sweeps": table})
    from pathpatch.render.backend import pyplot, save_figure

    fig, axes = pyplot().subplots(1, 3, figsize=(11, 3.2), constrained_layout=True)
    for ax, (name, rows) in zip(axes, table.items()):
        key = {"hypotheses": "hypotheses", "batch": "batch", "sequence length": "pos"}[name]
        ax.plot([r[key] for r in rows], [r["engine_s"] for r in rows], "o-")
        ax.set_xlabel(name)
        ax.set_ylabel("engine seconds")
        ax.grid(alpha=0.3)
    fig.suptitle("every-single-path workload on the induction model: time vs size")
    save_figure(fig, out_dir / "scaling.png")


def show(results: list) -> None:  # type: ignore[type-arg]
    print(
        f"\n{'workload':<78} {'engine s':>9} {'base s':>8} {'ratio':>7} {'fwd-eq':>7} {'limit s':>8} "
        f"{'eng/lim':>7} {'copies':>7} {'peak MB':>8} {'base MB':>8} {'|diff|':>8}"
    )
    for r in results:
        if "sweeps" in r:
            continue

        def f(key: str, fmt: str) -> str:
            return format(r[key], fmt) if key in r else format("-", f">{fmt.split('.')[0].rstrip('d')}")

        ratio = format(r["engine_s"] / r["limit_s"], ".2f") if r.get("limit_s") else "-"
        print(
            f"{r['workload'][:78]:<78} {f('engine_s', '9.3f')} {f('baseline_s', '8.2f')} {f('ratio', '7.2f')} "
            f"{f('forward_equivalents', '7.2f')} {f('limit_s', '8.3f')} {ratio:>7} {f('mixed_copies', '7d')} "
            f"{f('engine_peak_mb', '8.0f')} {f('baseline_peak_mb', '8.0f')} {f('max_diff', '8.1e')}"
        )
    for r in results:
        for name, rows in r.get("sweeps", {}).items():
            print(
                f"scaling with {name}: "
                + ", ".join(f"(B={x['batch']}, P={x['pos']}, N={x['hypotheses']}) {x['engine_s']:.2f}s" for x in rows)
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the suite runs, times nothing real")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: least noisy here)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs per timing")
    parser.add_argument("--out", default="benchmarks/results", help="folder for bench.json and scaling.png")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: every model, token and baseline lives there")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_default_device(args.device)  # models, tokens and the hook baselines' buffers alike
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    hf, model = gpt2(args.quick)
    from pathpatch.zoo import bundle

    shipped = bundle("induction-2l")
    induction, heldout = shipped.model.to(args.device), shipped.heldout
    plain = PlainAttnOnly(induction).eval()
    results: list = []
    steps = [
        ("clean forwards", lambda: forward_workload(results, hf, model, plain, induction, args.quick)),
        ("one subgraph", lambda: subgraph_workload(results, hf, model, args.quick, args.repeats)),
        ("every single path", lambda: paths_workload(results, plain, induction, heldout, args.quick, args.repeats)),
        ("sender scan", lambda: sender_workload(results, hf, model, args.quick, args.repeats)),
        ("memory bound", lambda: memory_workload(results, induction, heldout, args.quick)),
    ]
    if not args.quick and not MEMORY_PASS:
        steps.append(("scaling", lambda: scaling(results, induction, heldout, out_dir)))
    for name, step in steps:
        print(f"[{name}]", flush=True)
        with torch.no_grad():
            step()
    if not MEMORY_PASS:
        show(results)
        print("\n[memory pass, in a child process]", flush=True)
        peaks = memory_pass(args)
        for r in results:
            r.update(peaks.get(r["workload"], {}))
        show(results)
    env = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "quick": args.quick,
        "cuda": torch.cuda.is_available(),
    }
    (out_dir / "bench.json").write_text(json.dumps({"environment": env, "results": results}, indent=2) + "\n")
    print(f"\nwrote {out_dir / 'bench.json'}")


if __name__ == "__main__":
    main()
