"""pathpatch's engine against auto-circuit's edge patching, for one subgraph (edge-set) hypothesis.

One random HookedTransformer (GPT-2-small shape by default, every bias and LayerNorm parameter
randomised too) is evaluated in one process by both libraries on the same edges and inputs:

- auto-circuit 1.0.1 (``patchable_model(factorized=True, separate_qkv=True, slice_output="last_seq")``):
  a random 50% of its edges (seed 0) are the circuit; ``run_circuits`` with ``PatchType.TREE_PATCH``
  and ``AblationType.RESAMPLE`` runs x_ref (clean) with every edge *outside* the circuit carrying the
  x_new (corrupt) run's sender output -- the patched-out edges carry corrupt values, kept edges the
  patched run's own values, which is pathpatch's subgraph semantics (EDGE_PATCH, which runs x_new
  and feeds the circuit's edges the *clean run's* outputs, is a different quantity);
- pathpatch: ``subgraph(edges)`` of the same edges (auto-circuit's ``Resid Start -> X`` is
  ``embed -> X`` plus ``pos -> X``), ``Engine.run_batch(ref, new, targets=last position)``.

The final-position logits must agree to 1e-4 before anything is timed. Both libraries leave the
attention output bias b_O out of every edge: TransformerLens adds it after summing the per-head
``hook_result`` (auto-circuit's head outputs), pathpatch adds it as a constant to later readers.

Run (auto-circuit and transformer_lens are not pathpatch dependencies; any venv with them, attrs,
and ``pip install --no-deps -e .`` works; auto-circuit 1.0.1 on TransformerLens 3.x needs the import
alias below)::

    python benchmarks/autocircuit_subgraph.py --small        # tiny model, a few seconds
    python benchmarks/autocircuit_subgraph.py                # GPT-2-small shape, B=16, P=32
    python benchmarks/autocircuit_subgraph.py --batch 8 --pos 16 --json out.json

Prints a table (seconds, ratio to the pathpatch engine, forward-equivalents = seconds / one plain
HookedTransformer forward of the batch) and writes it to ``--json``. Each time is the minimum of
``--repeats`` runs after one warm-up (for the patched runs, the correctness check is the warm-up).
``--threads 1`` is the default: on the 2-core build VM a second OpenMP thread added ~8 ms of
wake-up latency to every small op and slowed matmuls, which would swamp what is measured.
TransformerLens' forward (so auto-circuit's) unembeds every position; pathpatch's engine only the last.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from auto_circuit.data import PromptDataLoader, PromptDataset
from auto_circuit.prune import run_circuits
from auto_circuit.types import AblationType, PatchType
from auto_circuit.utils.ablation_activations import src_ablations
from auto_circuit.utils.graph_utils import patch_mode, patchable_model
from transformer_lens import HookedTransformer

import pathpatch as pp
from autocircuit_common import GPT2_SMALL, TINY, random_hooked, to_pathpatch_edges
from pathpatch.engine.cache import run_cache
from pathpatch.model.tlens import from_transformer_lens

TOL = 1e-4


def build(small: bool) -> HookedTransformer:
    return random_hooked(**(TINY if small else GPT2_SMALL))


def timed(fn, repeats: int, warm: bool = False) -> float:  # type: ignore[no-untyped-def]
    """Minimum of ``repeats`` runs, after one warm-up run unless ``warm`` (already run once)."""
    if not warm:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="tiny model (2 layers x 4 heads, d_model 64)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--pos", type=int, default=32)
    ap.add_argument("--keep", type=float, default=0.5, help="fraction of edges kept (seed 0)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default; see below)")
    ap.add_argument("--json", default="benchmarks/results/autocircuit.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)

    ht = build(args.small)
    model = from_transformer_lens(ht)
    B, P, V = args.batch, args.pos, ht.cfg.d_vocab
    gen = torch.Generator().manual_seed(2)
    ref, new = torch.randint(0, V, (B, P), generator=gen), torch.randint(0, V, (B, P), generator=gen)
    mask = torch.zeros(B, P, dtype=torch.bool)
    mask[:, -1] = True

    rows: dict[str, float] = {}
    rows["HookedTransformer forward"] = timed(lambda: ht(ref), args.repeats)
    rows["pathpatch ResidualModel forward"] = timed(lambda: model(ref), args.repeats)
    forward_diff = (model(ref) - ht(ref)).abs().max().item()

    # auto-circuit's factorized graph needs per-head outputs and per-head q/k/v inputs before ln1.
    ht.set_use_attn_result(True)
    ht.set_use_split_qkv_input(True)
    ht.set_use_hook_mlp_in(True)
    # (use_attn_result alone makes TL's forward several times slower: it computes each head's result
    # by broadcasting, materialising [batch, pos, head, d_head, d_model])
    rows["HookedTransformer forward, auto-circuit's flags"] = timed(lambda: ht(ref), args.repeats)
    pm = patchable_model(ht, factorized=True, slice_output="last_seq", separate_qkv=True, device=torch.device("cpu"))
    edges = sorted(pm.edges, key=lambda e: (e.src.src_idx, e.dest.layer, e.dest.name))
    kept = set(random.Random(0).sample(edges, round(args.keep * len(edges))))
    ablated = {e for e in edges if e not in kept}
    pp_edges = [s for e in kept for s in to_pathpatch_edges(e)]
    graph_edges = {str(e) for e in model.graph.edges}
    assert set(pp_edges) <= graph_edges, set(pp_edges) - graph_edges
    n_start = sum(e.src.name == "Resid Start" for e in edges)
    assert len(graph_edges) == len(edges) + n_start, (len(graph_edges), len(edges), n_start)
    hyp = pp.subgraph(pp_edges)

    # auto-circuit, its own pipeline: TREE_PATCH = patch the edges not in the circuit.
    loader = PromptDataLoader(
        PromptDataset(ref, new, [torch.zeros(1, dtype=torch.long)] * B, [torch.zeros(1, dtype=torch.long)] * B),
        seq_len=None,
        diverge_idx=0,
        batch_size=B,
    )
    scores = pm.circuit_prune_scores(kept)

    def ac_run_circuits() -> torch.Tensor:
        outs = run_circuits(pm, loader, [len(kept)], scores, PatchType.TREE_PATCH, AblationType.RESAMPLE)
        (batch_outs,) = outs.values()
        return next(iter(batch_outs.values()))

    ac_logits = ac_run_circuits()
    # the same with the ablation outputs computed once and the masks set once (like run_caches)
    patch_outs = src_ablations(pm, new, AblationType.RESAMPLE)
    with patch_mode(pm, patch_outs, ablated):
        pass

    def ac_patched_forward() -> torch.Tensor:
        with patch_mode(pm, patch_outs):
            return pm(ref)[pm.out_slice]

    ac_forward_logits = ac_patched_forward()

    engine = pp.Engine(model, [hyp])
    run = engine.run_batch(ref, new, targets=mask)
    clean, ablated_cache, (pp_logits,) = run.clean, run.ablated, run.logits
    diff = (pp_logits - ac_logits).abs().max().item()
    diff_forward = (ac_forward_logits - ac_logits).abs().max().item()
    effect = (clean.logits[:, -1] - pp_logits).abs().max().item()  # is the check meaningful?
    print(
        f"model: {ht.cfg.n_layers} layers x {ht.cfg.n_heads} heads, d_model {ht.cfg.d_model}, "
        f"vocab {V}; batch {B} x {P} tokens, logits at the last position"
    )
    print(
        f"edges kept: {len(kept)} / {len(edges)} auto-circuit edges = {len(pp_edges)} / "
        f"{len(graph_edges)} pathpatch edges (Resid Start -> X is embed -> X and pos -> X)"
    )
    print(f"forward, pathpatch vs TransformerLens (all positions): max |diff| {forward_diff:.2e}")
    print(
        f"subgraph logits, pathpatch vs auto-circuit run_circuits: max |diff| {diff:.2e} "
        f"(patched forward vs run_circuits {diff_forward:.2e}; subgraph vs clean {effect:.3f})"
    )
    if not (diff <= TOL and diff_forward <= TOL):
        raise SystemExit(f"FAIL: the two libraries disagree by more than {TOL}; nothing timed")

    clean, ablated_cache = run_cache(model, ref), run_cache(model, new)
    rows["pathpatch Engine.run_caches (caches ready)"] = timed(
        lambda: engine.run_caches(clean, ablated_cache, True, targets=mask), args.repeats
    )
    rows["pathpatch Engine.run_batch (+ 2 cache runs)"] = timed(
        lambda: engine.run_batch(ref, new, targets=mask), args.repeats, warm=True
    )
    rows["auto-circuit patched forward (outs ready)"] = timed(ac_patched_forward, args.repeats, warm=True)
    rows["auto-circuit run_circuits (+ src_ablations)"] = timed(ac_run_circuits, args.repeats, warm=True)

    base, fwd = rows["pathpatch Engine.run_caches (caches ready)"], rows["HookedTransformer forward"]
    print(f"\n{'method':<48} {'seconds':>9} {'/ engine':>9} {'forwards':>9}")
    for name, sec in rows.items():
        print(f"{name:<48} {sec:>9.4f} {sec / base:>9.2f} {sec / fwd:>9.2f}")
    result = {
        "model": {k: getattr(ht.cfg, k) for k in ("n_layers", "n_heads", "d_model", "d_mlp", "d_vocab")},
        "batch": B,
        "pos": P,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "statistic": "min",
        "edges_kept": len(kept),
        "edges_total": len(edges),
        "pathpatch_edges_kept": len(pp_edges),
        "pathpatch_edges_total": len(graph_edges),
        "max_abs_diff": diff,
        "max_abs_diff_patched_forward_vs_run_circuits": diff_forward,
        "max_abs_diff_plain_forward": forward_diff,
        "subgraph_vs_clean": effect,
        "torch": torch.__version__,
        "rows": [
            {"method": n, "seconds": s, "ratio_to_engine": s / base, "forward_equivalents": s / fwd}
            for n, s in rows.items()
        ],
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
