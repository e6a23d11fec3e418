"""Planning and first calls at real-model scale: GPT-2 small, medium and XL shapes.

    .venv/bin/python benchmarks/scale.py                  # CPU, every shape (plan-only for XL)
    .venv/bin/python benchmarks/scale.py --quick          # tiny shapes, a smoke run (seconds)
    PYTHONPATH=src python3 benchmarks/scale.py --device cuda --batch 32 --pos 32

What a user waits for on a first call is planning (Python) plus execution (tensors). Every row
reports both, separately, as seconds and as **forward-equivalents** (FE): the time divided by one
plain forward of the same model on the same batch, measured side by side in this process (best of
a few), so the machine's noise cancels to first order. Workloads per shape:

- one subgraph keeping 5% / 50% of the edges (random, seed 0): planning, first call
  (``pp.evaluate``: planning + caches + execution), a warm call (``Engine.run`` again: the
  clean and ablated runs + execution) and execution from ready caches (``Engine.run_caches``);
- the IOI-style sender scan into one late head's q/k/v (``sender_scan``'s hypotheses, every
  sender): planning, first call through ``pp.evaluate_many`` (logits at every position) and its
  mixed-copy count; and as a user runs it, ``pp.sender_scan`` with the metric at the last
  position (memory-bounded by default), with its peak memory;
- planning only for shapes whose weights would not fit (``--plan-only``, default for XL):
  planning depends on the graph alone, so it is measured on a model of the same graph and
  d_model 16.

Writes ``benchmarks/results/scale.json``; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
import pathpatch as pp
from measure import PeakMemory, best_of
from pathpatch.engine.api import Engine, equal_inputs
from pathpatch.engine.cache import run_cache
from pathpatch.lang.nodecut import ReceiverCut

SHAPES = {  # name: (layers, heads, d_model)
    "small": (12, 12, 768),
    "medium": (24, 16, 1024),
    "xl": (48, 25, 1600),
    "tiny": (4, 4, 64),
}


def model_of(layers: int, heads: int, d_model: int, vocab: int, device: str) -> pp.ResidualModel:
    """A GPT-2-shaped native model (absolute positions, LayerNorm, GELU MLPs), random weights."""
    torch.manual_seed(0)
    cfg = pp.NativeConfig(
        n_layers=layers,
        n_heads=heads,
        d_model=d_model,
        d_head=d_model // heads,
        d_vocab=vocab,
        n_ctx=1024,
        d_mlp=4 * d_model,
        positions="absolute",
        act="gelu_new",
        init_std=0.02,
    )
    return pp.native_model(cfg).to(device).eval()


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn):  # type: ignore[no-untyped-def]
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def subgraph_hyp(graph: pp.Graph, keep: float) -> pp.Hypothesis:
    rng = random.Random(0)
    return pp.subgraph([e for e in graph.edges if rng.random() < keep])


def receiver_of(graph: pp.Graph, receiver: str | None) -> str:
    """The scanned receiver head: ``receiver``, or by default one late head (a21.8 on the medium shape)."""
    return receiver or f"a{graph.config.n_layers - 3}.{graph.config.n_heads // 2}"


def sender_hyps(graph: pp.Graph, receiver: str | None = None) -> list[pp.Hypothesis]:
    ports = [graph.port(f"{receiver_of(graph, receiver)}.{c}") for c in "qkv"]
    hyps = []
    for u in graph.nodes:
        edges = [pp.through_edge(u, p) for p in ports if u in graph.senders(p)]
        if edges:
            h = edges[0]
            for e in edges[1:]:
                h = h | e
            hyps.append(~h)
    return hyps


def plan_seconds(model: pp.ResidualModel, hyps: list[pp.Hypothesis]) -> tuple[float, int, dict]:  # type: ignore[type-arg]
    start = time.perf_counter()
    engine = Engine(model, hyps)
    plan = engine.plan(equal_inputs(model, "resample"))
    seconds = time.perf_counter() - start
    per_node = plan.copies_per_node()
    for cut in plan.cuts.values():  # a receiver cut computes one copy of every node from its receiver on
        for node in model.graph.downstream(frozenset({cut.receiver})) if isinstance(cut, ReceiverCut) else ():
            per_node[node] = per_node.get(node, 0) + 1
    return seconds, sum(per_node.values()), per_node


def floor_fe(
    layers: int, heads: int, d_model: int, vocab: int, n_pos: int, per_node: dict[Any, int], out_rows: float = 1.0
) -> float:
    """The mixed-copy floor in forward-equivalents: the multiply-adds of computing each MIXED copy
    once at full width (a head: q/k/v/o projections and attention; an MLP; ``out``: the unembedding,
    at the fraction ``out_rows`` of the positions: ``1 / n_pos`` when only the last is read)
    over those of one forward (every node once)."""
    d_head = d_model // heads
    cost = {"head": 4 * d_model * d_head + n_pos * d_head, "mlp": 8 * d_model * d_model, "out": d_model * vocab}
    forward = layers * heads * cost["head"] + layers * cost["mlp"] + cost["out"]
    cost["out"] = int(cost["out"] * out_rows)
    return sum(cost[node.kind] * n for node, n in per_node.items()) / forward


def run_shape(name: str, args: argparse.Namespace, results: list[dict]) -> None:  # type: ignore[type-arg]
    layers, heads, d_model = SHAPES[name]
    plan_only = args.plan_only or name == "xl"
    skeleton = model_of(layers, heads, heads, 32, "cpu")  # same graph (d_head 1): planning cost only
    chosen = args.workloads.split(",")
    workloads = [
        (label, make())
        for key, label, make in (
            ("sub5", "subgraph 5%", lambda: [subgraph_hyp(skeleton.graph, 0.05)]),
            ("sub50", "subgraph 50%", lambda: [subgraph_hyp(skeleton.graph, 0.5)]),
            (
                "scan",
                f"sender scan into {receiver_of(skeleton.graph, args.receiver)}",
                lambda: sender_hyps(skeleton.graph, args.receiver),
            ),
        )
        if key in chosen or (key == "scan" and "scanlast" in chosen)
    ]
    base = {"shape": name, "layers": layers, "heads": heads, "d_model": d_model, "edges": len(skeleton.graph.edges)}
    if plan_only:
        for label, hyps in workloads:
            seconds, copies, _ = plan_seconds(skeleton, hyps)
            results.append(
                {**base, "workload": label, "hypotheses": len(hyps), "plan_s": seconds, "mixed_copies": copies}
            )
            print(f"{name:7} {label:28} plan {seconds:7.2f} s  ({copies} mixed copies)", flush=True)
        return
    model = model_of(layers, heads, d_model, args.vocab, args.device)
    g = torch.Generator().manual_seed(1)
    ref = torch.randint(0, args.vocab, (args.batch, args.pos), generator=g).to(args.device)
    new = torch.randint(0, args.vocab, (args.batch, args.pos), generator=g).to(args.device)
    with torch.no_grad():
        model(ref)  # warm up
        forward = best_of(lambda: model(ref), args.repeats)
    for label, hyps in workloads:
        plan_s, copies, per_node = plan_seconds(skeleton, hyps)
        floor = floor_fe(layers, heads, d_model, args.vocab, args.pos, per_node)
        out_bytes = len(hyps) * args.batch * args.pos * args.vocab * 4
        all_positions = len(hyps) == 1 or "scan" in chosen
        if all_positions and out_bytes > args.max_logits_gb * 2**30:
            print(f"{name:7} {label:28} all positions skipped: its logits would take {out_bytes / 2**30:.0f} GB")
        elif all_positions:
            first = timed(lambda: pp.evaluate_many(model, hyps, ref, new))[0]  # logits dropped at once
            engine = Engine(model, hyps)
            engine.run(ref, new)
            repeats = 1 if len(hyps) > 1 else args.repeats
            warm = best_of(lambda: engine.run(ref, new), repeats)
            clean, ablated = run_cache(model, ref), run_cache(model, new)
            cached = best_of(lambda: engine.run_caches(clean, ablated, True), repeats)
            results.append(
                {
                    **base,
                    "workload": label + ", all positions",
                    "hypotheses": len(hyps),
                    "plan_s": plan_s,
                    "mixed_copies": copies,
                    "floor_fe": floor,
                    "forward_s": forward,
                    "first_call_s": first,
                    "first_call_fe": first / forward,
                    "warm_s": warm,
                    "warm_fe": warm / forward,
                    "from_caches_s": cached,
                    "from_caches_fe": cached / forward,
                }
            )
            print(
                f"{name:7} {label:28} plan {plan_s:6.2f} s | first call {first:7.2f} s = {first / forward:6.1f} FE"
                f" | warm {warm / forward:5.2f} FE, from ready caches {cached / forward:5.2f} FE"
                f" | {copies} mixed copies, floor {floor:.1f} FE"
                + (f" (first call {first / forward / floor:.2f}x)" if floor > 0 else ""),
                flush=True,
            )
        if len(hyps) > 1 and "scanlast" in chosen:  # as a user runs it: sender_scan, metric at the last position
            pairs = last_position_pairs(ref, new, args.vocab)
            receiver = label.split()[-1]
            with PeakMemory(args.device) as mem:
                seconds, _ = timed(
                    lambda: pp.sender_scan(model, pairs, receiver, progress=False, batch_size=args.batch)
                )
            results.append(
                {
                    **base,
                    "workload": label + ", last position (sender_scan)",
                    "hypotheses": len(hyps),
                    "forward_s": forward,
                    "first_call_s": seconds,
                    "first_call_fe": seconds / forward,
                    "peak_mb": mem.bytes / 2**20,
                }
            )
            last_floor = floor_fe(layers, heads, d_model, args.vocab, args.pos, per_node, 1 / args.pos)
            results[-1] |= {"floor_fe": last_floor, "mixed_copies": copies}
            print(
                f"{name:7} {label:28} sender_scan at the last position: {seconds:7.2f} s = "
                f"{seconds / forward:6.1f} FE, peak {mem.bytes / 2**20:,.0f} MB, floor {last_floor:.1f} FE "
                f"(out at one position; {seconds / forward / last_floor:.2f}x), batch {args.batch} x {args.pos}",
                flush=True,
            )


def last_position_pairs(ref: torch.Tensor, new: torch.Tensor, vocab: int) -> pp.Pairs:
    mask = torch.zeros(ref.shape, dtype=torch.bool)
    mask[:, -1] = True
    targets = torch.randint(0, vocab, ref.shape, generator=torch.Generator().manual_seed(2))
    return pp.Pairs(pp.Dataset(ref.cpu(), mask, targets), new.cpu())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default="small,medium,xl", help="comma-separated: small, medium, xl, tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--pos", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: steady timings)")
    ap.add_argument(
        "--workloads",
        default="sub5,sub50,scan,scanlast",
        help="comma-separated: sub5, sub50 (subgraphs), scan (sender scan, logits at every position "
        "through evaluate_many), scanlast (pp.sender_scan, metric at the last position)",
    )
    ap.add_argument("--plan-only", action="store_true", help="planning only, for every shape")
    ap.add_argument("--receiver", default=None, help="the sender scan's receiver head (default: a{layers-3}.{heads/2})")
    ap.add_argument(
        "--max-logits-gb", type=float, default=8.0, help="skip the all-positions scan when its logits would be larger"
    )
    ap.add_argument("--quick", action="store_true", help="tiny shape only, small vocabulary")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.shapes, args.vocab, args.repeats = "tiny", 500, 1
    results: list[dict] = []  # type: ignore[type-arg]
    for name in args.shapes.split(","):
        run_shape(name.strip(), args, results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "device": args.device,
        "batch": args.batch,
        "pos": args.pos,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.platform(),
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
    }
    (out / "scale.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"wrote {out / 'scale.json'}")


if __name__ == "__main__":
    main()
