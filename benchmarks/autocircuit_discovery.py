"""pathpatch's circuit discovery against auto-circuit's own ACDC and EAP, side by side.

Each algorithm runs in one process on the same random HookedTransformer (every bias and LayerNorm
parameter randomised too), the same edges, the same inputs, the same metric and resample ablation:

- **EAP** (edge attribution patching at the clean run, Syed et al. 2023), metric: the logit
  difference at the last position (answer − wrong answer, mean over the batch). auto-circuit:
  ``mask_gradient_prune_scores(grad_function="logit", answer_function="avg_diff", mask_val=0.0)``,
  its ``LOGIT_DIFF_GRAD_PRUNE_ALGO``, "EAP" (its hook-based replication of Syed et al.'s code,
  ``edge_attribution_patching_prune_scores``, its ``EDGE_ATTR_PATCH_PRUNE_ALGO``, is timed too;
  ``--no-syed`` skips it). pathpatch:
  ``eap(delta="logit_diff", at="clean")``. The two are the same number: auto-circuit's mask is 1
  for *patched* (m_ac = 1 − m_pp) and its loss is −logit_diff, pathpatch's score is −∂(ld(clean) −
  ld(m))/∂m_pp; both equal ∂ld/∂m_pp at the clean run, averaged over the batch.
- **EAP-IG** (Hanna et al. 2024), same metric. auto-circuit: ``mask_gradient_prune_scores(...,
  integrated_grad_samples=n)`` evaluates n + 1 points m_ac = 0, 1/n, ..., 1 (both ends) and *sums*
  the gradients. pathpatch: ``eap(ig_steps=n)`` evaluates n points m_pp = 1/n, ..., 1 (MIB's right
  Riemann sum: m_ac = 0, ..., (n−1)/n) and averages them. Both mix an edge's input as
  m_pp · (the sender's output in this run) + (1 − m_pp) · (its x_new output), so the gradient is
  ∂ld/∂input · (current − x_new output). At auto-circuit's extra point m_ac = 1 (the corrupted
  run) every edge is patched, so the logits depend on no sender's output except through the edges
  into the output, and of those only ``Resid Start -> Resid End`` has current ≠ x_new (the input's
  current output stays the clean embedding): it is the one edge with a gradient there. Hence
  auto-circuit = n · pathpatch, plus, on ``Resid Start -> Resid End``, the gradient at the
  corrupted run, which is pathpatch's ``eap(at="corrupted")`` score of ``embed -> out``; this
  identity is checked with one more, untimed, pathpatch pass ("identity"). auto-circuit spends
  n + 1 backward passes, pathpatch n. (auto-circuit's preset ``INTEGRATED_EDGE_GRADS_LOGIT_DIFF_
  PRUNE_ALGO`` uses n = 1000; ``--ig-steps`` sets n, default 5.)
- **ACDC** (Conmy et al. 2023), metric: KL(clean ‖ circuit) at the last position, mean over the
  batch (auto-circuit's ``faithfulness_target="kl_div"``: ``kl_div(log q, log p, log_target=True)``
  summed / batch = KL(p_clean ‖ q), pathpatch's ``delta="kl"``). Both remove an edge when the KL
  rises by less than τ (``faith − prev_faith < tao`` / ``effect < threshold``), sequentially.
  auto-circuit: ``acdc_prune_scores(tao_bases=[τ], tao_exps=[0])`` (a single τ; kept edges score
  inf; its preset ``ACDC_PRUNE_ALGO`` sweeps τ = 1e-6 ... 1e-3, one full ACDC each). pathpatch:
  ``acdc(threshold=τ, score=False)``. **Order**: auto-circuit sorts
  ``model.edges`` (a ``set``) by destination layer only, so within a layer the order is Python's set
  iteration order (string-hash order, different in every process); here ``pm.edges`` is set, before
  the call, to an ordered set in pathpatch's order (receivers from ``out`` back, a head's ports v,
  k, q, senders nearest first), which the stable sort keeps. auto-circuit runs ACDC on the first
  batch only: the loader holds one batch of every example.

**Edges.** auto-circuit's ``Resid Start -> X`` is pathpatch's ``embed -> X`` plus ``pos -> X``.
Under resample ablation with x_ref and x_new of one length ``pos`` outputs the same in both runs,
so every ``pos -> X`` edge has effect and gradient exactly 0: an auto-circuit score is compared
with pathpatch's ``embed -> X`` + ``pos -> X``, and ``Resid Start -> X`` is kept by pathpatch's
ACDC when ``embed -> X`` or ``pos -> X`` is (pathpatch tests them one by one; ``pos -> X`` never
passes τ > 0).

**Passes.** auto-circuit's forwards are counted with a forward hook on ``unembed`` (every full or
partial forward ends there), its backwards are one per gradient sample. pathpatch's come from
``found_by``: EAP = 2 source forwards per batch (clean, ablated) + one masked forward and backward
per gradient point; ACDC = engine passes, each one call scoring many subgraph hypotheses together
(the speculative windows of ``pathpatch.discovery.acdc``), and the hypotheses evaluated.

**Sizes.** ACDC tests every edge, one forward each in auto-circuit (32,491 edges at GPT-2
small; TransformerLens unembeds every position, and with auto-circuit's flags a 2-layer forward of
4 x 8 tokens took ~0.4 s on one thread of the 2-core build VM). The default therefore runs ACDC on
a 2-layer slice of the GPT-2-small shape (``--acdc-layers``; same width, heads and vocabulary:
606 auto-circuit edges) with 4 x 8 tokens, and EAP / EAP-IG on the full 12 layers with 8 x 16
tokens: 7.5-8.5 minutes on one thread here. ``--small``: a tiny model (2 layers x 4 heads, d_model
64, vocabulary 500) for all of them, well under a minute.

Run in the venv of ``make bench-autocircuit`` (``.venv-ac``: auto-circuit, transformer_lens<4,
and ``pip install --no-deps -e .``)::

    make bench-discovery-autocircuit                                   # the default run
    .venv-ac/bin/python benchmarks/autocircuit_discovery.py --small    # smoke test
    .venv-ac/bin/python benchmarks/autocircuit_discovery.py --json out.json

Every time is one run (ACDC cannot be repeated cheaply); EAP rows are timed after an untimed
warm-up call of each library. One torch thread (``--threads``), as in the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from auto_circuit.data import PromptDataLoader, PromptDataset
from auto_circuit.prune_algos.ACDC import acdc_prune_scores
from auto_circuit.prune_algos.edge_attribution_patching import edge_attribution_patching_prune_scores
from auto_circuit.prune_algos.mask_gradient import mask_gradient_prune_scores
from auto_circuit.utils.graph_utils import patchable_model
from auto_circuit.utils.patchable_model import PatchableModel
from ordered_set import OrderedSet
from scipy.stats import pearsonr, spearmanr

import pathpatch as pp
from autocircuit_common import GPT2_SMALL, TINY, to_pathpatch_edges
from autocircuit_common import random_hooked as build
from pathpatch.discovery.acdc import acdc
from pathpatch.discovery.eap import eap
from pathpatch.model.tlens import from_transformer_lens

# ------------------------------------------------------------------ model, data, edges


class Setup:
    """One model in both libraries, one batch of pairs in both formats, the edge correspondence."""

    def __init__(self, shape: dict[str, int], batch: int, n_pos: int, seed: int) -> None:
        self.ht = build(**shape)
        self.model = from_transformer_lens(self.ht)  # before patchable_model wraps ht's modules
        V = shape["vocab"]
        gen = torch.Generator().manual_seed(seed)
        self.ref = torch.randint(0, V, (batch, n_pos), generator=gen)
        self.new = torch.randint(0, V, (batch, n_pos), generator=gen)
        answer = torch.randint(0, V, (batch, 1), generator=gen)
        wrong = (answer + 1 + torch.randint(0, V - 1, (batch, 1), generator=gen)) % V
        # pathpatch: targets at the last position
        mask = torch.zeros(batch, n_pos, dtype=torch.bool)
        mask[:, -1] = True
        tgt = torch.zeros(batch, n_pos, dtype=torch.long)
        bad = torch.zeros(batch, n_pos, dtype=torch.long)
        tgt[:, -1], bad[:, -1] = answer[:, 0], wrong[:, 0]
        self.pairs = pp.Pairs(pp.Dataset(self.ref, mask, tgt, distractor_tokens=bad), self.new)
        # auto-circuit: the factorized graph with separate q/k/v inputs, output at the last position
        self.ht.set_use_attn_result(True)
        self.ht.set_use_split_qkv_input(True)
        self.ht.set_use_hook_mlp_in(True)
        self.pm: PatchableModel = patchable_model(
            self.ht, factorized=True, slice_output="last_seq", separate_qkv=True, device=torch.device("cpu")
        )
        self.loader = PromptDataLoader(
            PromptDataset(self.ref, self.new, list(answer), list(wrong)),
            seq_len=None,
            diverge_idx=0,
            batch_size=batch,
            shuffle=False,
        )
        # edge correspondence
        self.pp_edges = list(self.model.graph.edges)
        self.pp_index = {e.name: i for i, e in enumerate(self.pp_edges)}
        self.ac_edges = list(self.pm.edges)
        self.ac_to_pp = {e: [self.pp_index[s] for s in to_pathpatch_edges(e)] for e in self.ac_edges}
        covered = sorted(i for ix in self.ac_to_pp.values() for i in ix)
        assert covered == list(range(len(self.pp_edges))), "the two edge sets do not correspond"
        self.forwards = 0
        self.ht.unembed.register_forward_hook(self._count)

    def _count(self, *_: Any) -> None:
        self.forwards += 1

    def describe(self) -> dict[str, Any]:
        c = self.ht.cfg
        return {
            "n_layers": c.n_layers,
            "n_heads": c.n_heads,
            "d_model": c.d_model,
            "d_mlp": c.d_mlp,
            "d_vocab": c.d_vocab,
            "batch": int(self.ref.shape[0]),
            "pos": int(self.ref.shape[1]),
            "autocircuit_edges": len(self.ac_edges),
            "pathpatch_edges": len(self.pp_edges),
        }

    def ac_vector(self, prune_scores: dict[str, torch.Tensor]) -> np.ndarray:
        """auto-circuit's scores, one per auto-circuit edge (self.ac_edges order)."""
        return np.array([float(e.prune_score(prune_scores)) for e in self.ac_edges])

    def pp_vector(self, scores: np.ndarray) -> np.ndarray:
        """pathpatch's per-edge scores summed onto auto-circuit's edges (Resid Start = embed + pos)."""
        return np.array([float(sum(scores[i] for i in self.ac_to_pp[e])) for e in self.ac_edges])


# ------------------------------------------------------------------ agreement


def agreement(ac: np.ndarray, pp_: np.ndarray, ks: tuple[int, ...]) -> dict[str, Any]:
    """Pearson / Spearman of the signed scores, Spearman of |score|, top-k overlap by |score|,
    and the largest difference relative to the largest |score|."""
    out: dict[str, Any] = {
        "pearson": float(pearsonr(ac, pp_)[0]),
        "spearman": float(spearmanr(ac, pp_)[0]),
        "spearman_abs": float(spearmanr(np.abs(ac), np.abs(pp_))[0]),
        "max_abs_diff": float(np.max(np.abs(ac - pp_))),
        "max_abs_diff_rel": float(np.max(np.abs(ac - pp_)) / max(np.max(np.abs(ac)), 1e-30)),
    }
    ra, rp = np.argsort(-np.abs(ac), kind="stable"), np.argsort(-np.abs(pp_), kind="stable")
    for k in ks:
        k = min(k, len(ac))
        out[f"top{k}_overlap"] = len(set(ra[:k]) & set(rp[:k])) / k
    return out


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# ------------------------------------------------------------------ EAP and EAP-IG


def run_eap(s: Setup, ig_steps: int, syed: bool, warmup: bool) -> list[dict[str, Any]]:
    ks = (10, 100, 1000)
    batches = 1  # one loader batch, pathpatch batch_size = the batch

    def ac_eap() -> np.ndarray:
        return s.ac_vector(
            mask_gradient_prune_scores(
                s.pm, s.loader, None, grad_function="logit", answer_function="avg_diff", mask_val=0.0
            )
        )

    def pp_eap(**kw: Any) -> Any:
        return eap(s.model, s.pairs, delta="logit_diff", batch_size=len(s.pairs), progress=False, **kw)

    rows = []
    if warmup:  # allocator, lazy init: once each, untimed
        ac_eap()
        pp_eap(at="clean")
    s.forwards = 0
    ac, ac_sec = timed(ac_eap)
    ac_fwd = s.forwards
    res, pp_sec = timed(lambda: pp_eap(at="clean"))
    rows.append(
        row(
            "EAP (logit diff, at clean)",
            pp_sec,
            ac_sec,
            pp_passes=f"{2 * batches} + {res.found_by['backward_passes']} fwd+bwd",
            ac_passes=f"{ac_fwd - batches} + {batches} fwd+bwd",
            agreement=agreement(ac, s.pp_vector(res.scores), ks),
        )
    )

    if syed:
        s.forwards = 0
        ac_s, sy_sec = timed(lambda: s.ac_vector(edge_attribution_patching_prune_scores(s.pm, s.loader, None)))
        rows.append(
            row(
                "EAP, auto-circuit's Syed et al. replication (hooks)",
                pp_sec,
                sy_sec,
                pp_passes=rows[0]["pathpatch_passes"],
                ac_passes=f"{s.forwards - batches} + {batches} fwd+bwd",
                agreement=agreement(ac_s, s.pp_vector(res.scores), ks),
            )
        )

    if ig_steps:
        n = ig_steps
        s.forwards = 0
        ac_ig, ac_sec = timed(
            lambda: s.ac_vector(
                mask_gradient_prune_scores(
                    s.pm, s.loader, None, grad_function="logit", answer_function="avg_diff", integrated_grad_samples=n
                )
            )
        )
        ac_fwd = s.forwards
        res_ig, pp_sec = timed(lambda: pp_eap(ig_steps=n))
        pp_ig = s.pp_vector(res_ig.scores)
        corrupt = s.pp_vector(pp_eap(at="corrupted").scores)  # untimed: auto-circuit's extra point
        from_input = np.array([e.name == "Resid Start->Resid End" for e in s.ac_edges])
        ident = agreement(ac_ig, n * pp_ig + np.where(from_input, corrupt, 0.0), ks)
        rows.append(
            row(
                f"EAP-IG (logit diff), pathpatch {n} / auto-circuit {n + 1} points",
                pp_sec,
                ac_sec,
                pp_passes=f"{2 * batches} + {res_ig.found_by['backward_passes']} fwd+bwd",
                ac_passes=f"{ac_fwd - (n + 1) * batches} + {(n + 1) * batches} fwd+bwd",
                agreement=agreement(ac_ig, pp_ig, ks),
                identity={
                    "formula": "ac = n * pp + (Resid Start->Resid End only) pp at corrupted",
                    "max_abs_diff_rel": ident["max_abs_diff_rel"],
                    "pearson": ident["pearson"],
                },
            )
        )
    return rows


# ------------------------------------------------------------------ ACDC


def run_acdc(s: Setup, threshold: float) -> list[dict[str, Any]]:
    # auto-circuit's order, aligned with pathpatch's: reversed(graph.edges) with embed -> X standing for
    # Resid Start -> X (pos -> X skipped), kept by the stable sort on dest.layer
    by_name = {}
    for e in s.ac_edges:
        by_name[to_pathpatch_edges(e)[0]] = e
    order = [by_name[e.name] for e in reversed(s.pp_edges) if e.name in by_name]
    assert len(order) == len(s.ac_edges)
    layers = [e.dest.layer for e in order]
    assert layers == sorted(layers, reverse=True), "pathpatch's receiver order is not auto-circuit's layer order"
    s.pm.edges = OrderedSet(order)

    s.forwards = 0
    ac_scores, ac_sec = timed(lambda: acdc_prune_scores(s.pm, s.loader, None, tao_exps=[0], tao_bases=[threshold]))
    ac_fwd = s.forwards
    ac_kept = {e for e in s.ac_edges if torch.isinf(e.prune_score(ac_scores))}

    circuit, pp_sec = timed(
        lambda: acdc(s.model, s.pairs, threshold, delta="kl", batch_size=len(s.pairs), progress=False, score=False)
    )
    kept_names = {e.name for e in circuit.edges}
    pp_kept = {e for e in s.ac_edges if any(n in kept_names for n in to_pathpatch_edges(e))}
    pos_kept = sum(1 for n in kept_names if n.startswith("pos ->"))
    fb = circuit.found_by
    union = ac_kept | pp_kept
    jac = len(ac_kept & pp_kept) / len(union) if union else 1.0
    return [
        row(
            f"ACDC (KL, τ={threshold:g})",
            pp_sec,
            ac_sec,
            pp_passes=f"{fb.get('passes')} engine passes ({fb.get('hypotheses')} hypotheses)",
            ac_passes=f"{ac_fwd} fwd",
            agreement={
                "jaccard": jac,
                "kept_pathpatch": len(pp_kept),
                "kept_autocircuit": len(ac_kept),
                "both": len(ac_kept & pp_kept),
                "only_pathpatch": sorted(e.name for e in pp_kept - ac_kept)[:20],
                "only_autocircuit": sorted(e.name for e in ac_kept - pp_kept)[:20],
                "pathpatch_pos_edges_kept": pos_kept,
                "tested_pathpatch": fb.get("tested"),
                "edges": len(s.ac_edges),
            },
        )
    ]


def row(name: str, pp_sec: float, ac_sec: float, **extra: Any) -> dict[str, Any]:
    return {
        "algorithm": name,
        "pathpatch_s": pp_sec,
        "autocircuit_s": ac_sec,
        "ratio_pp_over_ac": pp_sec / ac_sec,
        "pathpatch_passes": extra.pop("pp_passes"),
        "autocircuit_passes": extra.pop("ac_passes"),
        **extra,
    }


# ------------------------------------------------------------------ main


def fmt_agreement(r: dict[str, Any]) -> str:
    a = r["agreement"]
    if "jaccard" in a:
        return (
            f"Jaccard {a['jaccard']:.3f} (kept {a['kept_pathpatch']} / {a['kept_autocircuit']}, "
            f"both {a['both']}, of {a['edges']})"
        )
    tops = ", ".join(f"top-{k[3:-8]} {v:.2f}" for k, v in a.items() if k.startswith("top"))
    s = f"Pearson {a['pearson']:.6f}, Spearman {a['spearman']:.6f}, {tops}"
    if "identity" in r:
        return s + f"; identity (see the notes) to max|Δ|/max {r['identity']['max_abs_diff_rel']:.1e}"
    return s + f", max|Δ|/max {a['max_abs_diff_rel']:.1e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="tiny model (2 layers x 4 heads, d_model 64) for everything")
    ap.add_argument("--batch", type=int, default=None, help="EAP batch (default 8; --small 8)")
    ap.add_argument("--pos", type=int, default=None, help="EAP sequence length (default 16; --small 8)")
    ap.add_argument("--eap-layers", type=int, default=None, help="layers of the EAP model (default 12)")
    ap.add_argument("--acdc-layers", type=int, default=None, help="layers of the ACDC model (default 2)")
    ap.add_argument("--acdc-batch", type=int, default=None, help="ACDC batch (default 4; --small 8)")
    ap.add_argument("--acdc-pos", type=int, default=None, help="ACDC sequence length (default 8)")
    ap.add_argument("--threshold", type=float, default=None, help="ACDC τ (default 1e-3; --small 1e-3)")
    ap.add_argument("--ig-steps", type=int, default=5, help="EAP-IG points (pathpatch n, auto-circuit n + 1)")
    ap.add_argument("--no-syed", action="store_true", help="skip auto-circuit's hook-based Syed et al. EAP")
    ap.add_argument("--skip", default="", help="comma list of eap, acdc to skip")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    ap.add_argument("--json", default="benchmarks/results/autocircuit_discovery.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}
    base = TINY if args.small else GPT2_SMALL
    batch = args.batch or 8
    n_pos = args.pos or (8 if args.small else 16)
    eap_shape = {**base, "layers": args.eap_layers or base["layers"]}
    acdc_shape = {**base, "layers": args.acdc_layers or (base["layers"] if args.small else 2)}
    threshold = args.threshold if args.threshold is not None else 1e-3

    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average {load[0]:.2f} "
        f"{load[1]:.2f} {load[2]:.2f}"
    )
    result: dict[str, Any] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "loadavg_start": load,
        "platform": platform.platform(),
        "rows": [],
    }
    try:
        from importlib.metadata import version

        import auto_circuit  # noqa: F401

        result["auto_circuit"], result["transformer_lens"] = version("auto-circuit"), version("transformer-lens")
    except Exception:  # pragma: no cover
        pass
    total = time.perf_counter()
    if "eap" not in skip:
        s = Setup(eap_shape, batch, n_pos, seed=2)
        result["eap_model"] = s.describe()
        print(f"EAP model: {describe(s)}")
        result["rows"] += run_eap(s, args.ig_steps, not args.no_syed, warmup=True)
        del s
    if "acdc" not in skip:
        s = Setup(acdc_shape, args.acdc_batch or (8 if args.small else 4), args.acdc_pos or 8, seed=3)
        result["acdc_model"] = s.describe()
        print(f"ACDC model: {describe(s)}")
        result["rows"] += run_acdc(s, threshold)
    result["total_s"] = time.perf_counter() - total
    result["loadavg_end"] = os.getloadavg()

    print(f"\n{'algorithm':<58} {'pathpatch':>10} {'auto-circ.':>10} {'pp / ac':>8}  passes: pathpatch | auto-circuit")
    for r in result["rows"]:
        print(
            f"{r['algorithm']:<58} {r['pathpatch_s']:>9.2f}s {r['autocircuit_s']:>9.2f}s "
            f"{r['ratio_pp_over_ac']:>8.3f}  "
            f"{r['pathpatch_passes']} | {r['autocircuit_passes']}"
        )
        print(f"    agreement: {fmt_agreement(r)}")
    print(f"\ntotal {result['total_s']:.0f} s; load average at the end {result['loadavg_end'][0]:.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


def describe(s: Setup) -> str:
    d = s.describe()
    return (
        f"{d['n_layers']} layers x {d['n_heads']} heads, d_model {d['d_model']}, vocab {d['d_vocab']}; "
        f"batch {d['batch']} x {d['pos']} tokens, metric at the last position; {d['autocircuit_edges']} "
        f"auto-circuit edges = {d['pathpatch_edges']} pathpatch edges"
    )


if __name__ == "__main__":
    main()
