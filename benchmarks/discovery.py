"""pathpatch's circuit discovery alone: cost of each algorithm in passes, seconds and forwards.

The pathpatch half of ``autocircuit_discovery.py`` without auto-circuit (runs in ``.venv``), plus
the path-level search, which auto-circuit has no counterpart of. One GPT-2-shaped native model
with random weights (absolute positions, LayerNorm, GELU MLPs; init std d_model^-0.5, so heads
matter at every width), random token pairs, the metric at the last position, resample ablation:

- EAP (``delta="kl"``, at the corrupted run, the default) and EAP-IG (``ig_steps``), on the full
  model; EAP with ``delta="logit_diff"`` at the clean run (the variant auto-circuit has);
- ACDC (KL, threshold τ) and ``discover_paths`` (KL, target 0.9) on a slice of the same shape
  (``--acdc-layers``), as in ``autocircuit_discovery.py``.

Each row: seconds (one run, after an untimed warm-up of EAP), the costs the algorithm records in
``found_by`` (passes, hypotheses), and **forward-equivalents** (FE): seconds / one plain forward
of the same model on the same batch (best of 3, same process), so the machine's load cancels to
first order::

    .venv/bin/python benchmarks/discovery.py --small      # tiny model, seconds
    .venv/bin/python benchmarks/discovery.py              # GPT-2-small shape (EAP), 2-layer slice (ACDC, paths)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import pathpatch as pp
from pathpatch.discovery.eap import eap

GPT2_SMALL = dict(layers=12, heads=12, d_model=768, vocab=50257)
TINY = dict(layers=2, heads=4, d_model=64, vocab=500)


def model_of(layers: int, heads: int, d_model: int, vocab: int) -> pp.ResidualModel:
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
        init_std=d_model**-0.5,
    )
    return pp.native_model(cfg).eval()


def pairs_of(vocab: int, batch: int, n_pos: int, seed: int) -> pp.Pairs:
    gen = torch.Generator().manual_seed(seed)
    ref = torch.randint(0, vocab, (batch, n_pos), generator=gen)
    new = torch.randint(0, vocab, (batch, n_pos), generator=gen)
    mask = torch.zeros(batch, n_pos, dtype=torch.bool)
    mask[:, -1] = True
    tgt = torch.randint(0, vocab, (batch, n_pos), generator=gen)
    bad = (tgt + 1 + torch.randint(0, vocab - 1, (batch, n_pos), generator=gen)) % vocab
    return pp.Pairs(pp.Dataset(ref, mask, tgt, distractor_tokens=bad), new)


def forward_seconds(model: pp.ResidualModel, tokens: torch.Tensor) -> float:
    with torch.no_grad():
        model(tokens)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            model(tokens)
            times.append(time.perf_counter() - start)
    return min(times)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="tiny model (2 layers x 4 heads, d_model 64)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--pos", type=int, default=None, help="EAP sequence length (default 16; --small 8)")
    ap.add_argument("--acdc-layers", type=int, default=2)
    ap.add_argument("--acdc-batch", type=int, default=None, help="ACDC / paths batch (default 4; --small 8)")
    ap.add_argument("--acdc-pos", type=int, default=8)
    ap.add_argument("--threshold", type=float, default=1e-3)
    ap.add_argument("--ig-steps", type=int, default=5)
    ap.add_argument("--skip", default="", help="comma list of eap, acdc, paths to skip")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="benchmarks/results/discovery.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    shape = TINY if args.small else GPT2_SMALL
    n_pos = args.pos or (8 if args.small else 16)
    rows: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "loadavg_start": os.getloadavg(),
        "rows": rows,
    }

    def add(name: str, sec: float, fwd: float, found_by: dict[str, Any], **extra: Any) -> None:
        keep = ("passes", "backward_passes", "hypotheses", "tested", "kept", "steps", "paths", "proportion_explained")
        rows.append(
            {
                "algorithm": name,
                "seconds": sec,
                "forward_equivalents": sec / fwd,
                **{k: found_by[k] for k in keep if k in found_by},
                **extra,
            }
        )

    if "eap" not in skip:
        model = model_of(**shape)
        pairs = pairs_of(shape["vocab"], args.batch, n_pos, seed=2)
        fwd = forward_seconds(model, pairs.ref.tokens)
        result["eap_model"] = {
            **shape,
            "edges": len(model.graph.edges),
            "batch": args.batch,
            "pos": n_pos,
            "forward_s": fwd,
        }
        kw: dict[str, Any] = {"batch_size": args.batch, "progress": False}
        eap(model, pairs, **kw)  # warm-up
        for name, extra in (
            ("EAP (KL, at corrupted)", {}),
            ("EAP (logit diff, at clean)", {"delta": "logit_diff"}),
            (f"EAP-IG (KL, {args.ig_steps} steps)", {"ig_steps": args.ig_steps}),
        ):
            res, sec = timed(lambda: eap(model, pairs, **kw, **extra))
            add(name, sec, fwd, res.found_by)
        del model

    if not {"acdc", "paths"} <= skip:
        model = model_of(**{**shape, "layers": args.acdc_layers if not args.small else shape["layers"]})
        batch = args.acdc_batch or (8 if args.small else 4)
        pairs = pairs_of(shape["vocab"], batch, args.acdc_pos, seed=3)
        fwd = forward_seconds(model, pairs.ref.tokens)
        result["acdc_model"] = {
            **shape,
            "layers": model.config.n_layers,
            "edges": len(model.graph.edges),
            "batch": batch,
            "pos": args.acdc_pos,
            "forward_s": fwd,
        }
        if "acdc" not in skip:
            from pathpatch.discovery.acdc import acdc

            circuit, sec = timed(
                lambda: acdc(model, pairs, args.threshold, batch_size=batch, progress=False, score=False)
            )
            add(f"ACDC (KL, τ={args.threshold:g})", sec, fwd, circuit.found_by)
        if "paths" not in skip:
            try:
                from pathpatch.discovery.paths import discover_paths
            except ImportError as exc:  # being written
                print(f"discover_paths skipped: {exc}")
            else:
                circuit, sec = timed(
                    lambda: discover_paths(model, pairs, batch_size=batch, progress=False, score=False)
                )
                add("discover_paths (KL, target 0.9)", sec, fwd, circuit.found_by, patterns=len(circuit.patterns or ()))

    result["loadavg_end"] = os.getloadavg()
    for part in ("eap_model", "acdc_model"):
        if part in result:
            m = result[part]
            print(
                f"{part}: {m['layers']} layers x {m['heads']} heads, d_model {m['d_model']}, vocab {m['vocab']}, "
                f"{m['edges']} edges; batch {m['batch']} x {m['pos']}; one forward {m['forward_s']:.3f} s"
            )
    print(f"\n{'algorithm':<36} {'seconds':>9} {'FE':>8}  costs")
    for r in rows:
        costs = ", ".join(f"{k} {r[k]}" for k in r if k not in ("algorithm", "seconds", "forward_equivalents"))
        print(f"{r['algorithm']:<36} {r['seconds']:>9.2f} {r['forward_equivalents']:>8.1f}  {costs}")
    print(f"load average {result['loadavg_start'][0]:.2f} at the start, {result['loadavg_end'][0]:.2f} at the end")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
