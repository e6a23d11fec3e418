"""Causal tracing at real sequence lengths, side by side in one process (CPU, one thread).

For each length: ``pp.causal_trace(model, pairs, delta="loss")`` (every kind, layer and position),
a real hooked loop (one patched forward of the source module per cell, the cell's output at its
position replaced through a PyTorch forward hook, loss at the targets), and the floor (one plain
forward per cell). The hooked loop runs a spread-out sample of cells (``--sample``) and is
scaled to all cells; before timing, its logits are checked against ``pp.evaluate`` of the same
cells. Runs alternate (engine, hooks, floor, engine, hooks, floor) and each figure is the best of
them; ratios are taken within the run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cuts.py --model induction --tokens 16,32,64,128
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cuts.py --model gpt2 --tokens 16,32,64 --batch 2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cuts.py --model induction --tokens 128 --batch 32 --repeats 1

Models: the shipped ``induction-2l`` (2 layers x 8 heads, attention only, shortformer; its held-out
sequences, loss at the induction candidates) and a GPT-2-small-shaped Hugging Face GPT-2 with
random weights (12 x 12, d_model 768, vocabulary 50,257; loss at the next-to-last position).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

import pathpatch as pp
from pathpatch.tracing import causal_trace, trace_hypothesis


class _Plain(nn.Module):
    """The induction model written the standard way, with a hook point per block for the attention
    output (``attn``) and the residual after the block (``resid``)."""

    def __init__(self, model: pp.ResidualModel) -> None:
        super().__init__()
        self.m = model
        self.attn = nn.ModuleList(nn.Identity() for _ in range(model.config.n_layers))
        self.resid = nn.ModuleList(nn.Identity() for _ in range(model.config.n_layers))

    def forward(self, tokens: Tensor) -> Tensor:
        m, cfg = self.m, self.m.config
        resid = m.embed(tokens)
        pos = m.pos_embed(tokens)
        for layer in range(cfg.n_layers):
            x, y = m._norm(resid + pos, m.ln1_w[layer], m.ln1_b[layer]), m._norm(resid, m.ln1_w[layer], m.ln1_b[layer])
            q = torch.einsum("bpd,hde->bhpe", x, m.W_Q[layer]) + m.b_Q[layer][:, None]
            k = torch.einsum("bpd,hde->bhpe", x, m.W_K[layer]) + m.b_K[layer][:, None]
            v = torch.einsum("bpd,hde->bhpe", y, m.W_V[layer]) + m.b_V[layer][:, None]
            z = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True, scale=cfg.scale)
            attn = self.attn[layer](torch.einsum("bhpe,hed->bpd", z, m.W_O[layer]))
            resid = self.resid[layer](resid + attn + m.b_O[layer])
        return m.unembed(resid)


def _modules(source: nn.Module, kind: str, layer: int) -> nn.Module:
    if isinstance(source, _Plain):
        return {"attn": source.attn, "resid": source.resid}[kind][layer]
    block = source.transformer.h[layer]  # type: ignore[union-attr, index]
    return {"resid": block, "attn": block.attn, "mlp": block.mlp}[kind]


def _first(out):  # type: ignore[no-untyped-def]
    return out[0] if isinstance(out, tuple) else out


def _logits(source: nn.Module, tokens: Tensor) -> Tensor:
    out = source(tokens)
    return out if isinstance(out, Tensor) else out.logits


class HookedTrace:
    """Causal tracing the usual way: clean outputs recorded once, then one forward of x_new per
    cell with a hook that writes the clean output at the cell's position."""

    def __init__(self, source: nn.Module, cells: list[tuple[str, int, int]], ref: Tensor) -> None:
        self.source, self.clean = source, {}
        handles = []
        for kind, layer in sorted({(k, layer) for k, layer, _ in cells}):

            def save(mod, inp, out, key=(kind, layer)):  # type: ignore[no-untyped-def]
                self.clean[key] = _first(out).detach().clone()

            handles.append(_modules(source, kind, layer).register_forward_hook(save))
        with torch.no_grad():
            _logits(source, ref)
        for h in handles:
            h.remove()

    def cell(self, kind: str, layer: int, t: int, new: Tensor) -> Tensor:
        clean = self.clean[(kind, layer)]

        def patch(mod, inp, out):  # type: ignore[no-untyped-def]
            value = _first(out).clone()
            value[:, t] = clean[:, t]
            return (value, *out[1:]) if isinstance(out, tuple) else value

        handle = _modules(self.source, kind, layer).register_forward_hook(patch)
        with torch.no_grad():
            logits = _logits(self.source, new)
        handle.remove()
        return logits


def _loss(logits: Tensor, data: pp.Dataset) -> Tensor:
    mask = data.target_mask
    return torch.nn.functional.cross_entropy(logits[mask], data.target_tokens[mask])


def best(fn: Callable[[], object], times: list[float]) -> None:
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)


def setup(name: str, n_pos: int, batch: int) -> tuple[pp.ResidualModel, nn.Module, pp.Pairs]:
    if name == "induction":
        from pathpatch.induction.study import induction_dataset

        bundle = pp.bundle("induction-2l")
        model = bundle.model
        pairs = pp.pair_derangement(induction_dataset(bundle.heldout[:, :n_pos], batch, 0), 0)
        return model, _Plain(model), pairs
    import transformers

    from pathpatch.model.hf_gpt2 import from_hf

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()
    tokens = torch.randint(0, 50257, (batch, n_pos))
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[:, -2] = True
    return from_hf(hf), hf, pp.pair_derangement(pp.Dataset.next_token(tokens, mask), 0)


def run(name: str, n_pos: int, batch: int, sample: int, repeats: int) -> dict[str, float]:
    model, source, pairs = setup(name, n_pos, batch)
    kinds = ["resid", "attn"] + (["mlp"] if model.config.has_mlp else [])
    cells = [(k, layer, t) for k in kinds for layer in range(model.config.n_layers) for t in range(n_pos)]
    ref, new = pairs.ref.tokens, pairs.new_tokens
    chosen = [cells[i] for i in np.linspace(0, len(cells) - 1, min(sample, len(cells))).round().astype(int)]
    hooked = HookedTrace(source, chosen, ref)
    for k, layer, t in chosen[:: max(1, len(chosen) // 4)]:  # checked before timed
        want = pp.evaluate(model, trace_hypothesis(k, layer, t), ref, new)
        got = hooked.cell(k, layer, t, new)
        assert (got - want).abs().max() <= 1e-3 * max(1.0, float(want.abs().max())), (k, layer, t)
    engine, hooks, floor = [], [], []  # type: ignore[var-annotated]
    for _ in range(repeats):
        best(lambda: causal_trace(model, pairs, kinds, delta="loss", progress=False, n_boot=100), engine)
        best(lambda: [_loss(hooked.cell(k, layer, t, new), pairs.ref) for k, layer, t in chosen], hooks)
        with torch.no_grad():
            best(lambda: [_logits(source, new) for _ in chosen], floor)
    scale = len(cells) / len(chosen)
    row = {
        "tokens": n_pos,
        "cells": len(cells),
        "engine_s": min(engine),
        "hooked_s": min(hooks) * scale,
        "floor_s": min(floor) * scale,
    }
    row["engine/hooked"] = row["engine_s"] / row["hooked_s"]
    row["engine/floor"] = row["engine_s"] / row["floor_s"]
    return row


def exponent(rows: list[dict[str, float]], key: str) -> float:
    """The slope of log(seconds) against log(tokens), least squares."""
    x = np.log([r["tokens"] for r in rows])
    y = np.log([r[key] for r in rows])
    return float(np.polyfit(x, y, 1)[0]) if len(rows) > 1 else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["induction", "gpt2"], default="induction")
    parser.add_argument("--tokens", default="16,32,64,128")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--sample", type=int, default=24, help="cells the hooked loop and the floor run")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for t in args.tokens.split(","):
        rows.append(run(args.model, int(t), args.batch, args.sample, args.repeats))
        print({k: round(v, 3) for k, v in rows[-1].items()}, flush=True)
    print(f"{args.model}, batch {args.batch}, one thread; hooked loop and floor scaled from {args.sample} cells")
    print(f"{'tokens':>6} {'cells':>6} {'trace s':>9} {'hooked s':>9} {'floor s':>9} {'÷ hooked':>9} {'÷ floor':>8}")
    for r in rows:
        print(
            f"{r['tokens']:>6} {r['cells']:>6} {r['engine_s']:>9.2f} {r['hooked_s']:>9.2f} {r['floor_s']:>9.2f} "
            f"{r['engine/hooked']:>9.2f} {r['engine/floor']:>8.2f}"
        )
    if len(rows) > 1:
        print(
            "growth exponents (seconds ~ T^k): "
            + ", ".join(f"{k} {exponent(rows, k + '_s'):.2f}" for k in ("engine", "hooked", "floor"))
        )


if __name__ == "__main__":
    main()
