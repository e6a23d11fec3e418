"""Training the shipped induction model on 2 CPU cores (seeded, ~40 minutes).

Recipe (see ``shared/notes/induction-training.md`` for what failed and why): a 2-layer,
attention-only, shortformer model with a small BPE vocabulary, trained with AdamW (no warm-up) on
windows of the standard library's source; half of each batch gets ``n_copies`` spans (8-40 tokens)
copied to random later offsets, so that only content-based copying (induction) helps predict them.
The probes of :mod:`pathpatch.induction.probes` are logged as training goes.
"""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..model.config import NativeConfig
from ..model.native import native_model, save_model
from ..training import fit, heldout_loss
from .corpus import HELDOUT_EVERY, encode_files, gather_files, heldout_sequences, train_tokenizer
from .probes import prove_induction

__all__ = ["TrainConfig", "train", "copy_spans"]


@dataclass(frozen=True)
class TrainConfig:
    d_model: int = 256
    n_heads: int = 8
    n_layers: int = 2
    n_ctx: int = 128
    vocab: int = 1024
    batch: int = 32
    lr: float = 2e-3
    steps: int = 10_000
    seed: int = 0
    copy_fraction: float = 0.5
    n_copies: int = 3
    span_min: int = 8
    span_max: int = 40
    probe_every: int = 500
    heldout_sequences: int = 2_000


def copy_spans(seqs: torch.Tensor, n_copies: int, lo: int, hi: int, gen: torch.Generator) -> torch.Tensor:
    """Copy ``n_copies`` random spans of each sequence to random later offsets (in place)."""
    length = seqs.shape[1]
    for row in seqs:
        for _ in range(n_copies):
            span = int(torch.randint(lo, hi + 1, (1,), generator=gen))
            if 2 * span > length:
                continue
            src = int(torch.randint(0, length - 2 * span + 1, (1,), generator=gen))
            dst = int(torch.randint(src + span, length - span + 1, (1,), generator=gen))
            row[dst : dst + span] = row[src : src + span].clone()
    return seqs


def _batch(stream: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    starts = torch.randint(0, stream.numel() - cfg.n_ctx - 1, (cfg.batch,), generator=gen)
    seqs = torch.stack([stream[s : s + cfg.n_ctx + 1] for s in starts.tolist()])
    n_copy = int(cfg.batch * cfg.copy_fraction)
    copy_spans(seqs[:n_copy], cfg.n_copies, cfg.span_min, cfg.span_max, gen)
    return seqs


def train(
    cfg: TrainConfig, out_dir: str | Path, progress: bool = True, log: Callable[[str], object] = print
) -> dict[str, Any]:
    """Train, write the model directory (weights, config, tokenizer, held-out data, card); return the card."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    started = time.time()
    corpus = gather_files()
    tokenizer = train_tokenizer(corpus.train, cfg.vocab)
    stream = encode_files(tokenizer, corpus.train)
    heldout = heldout_sequences(encode_files(tokenizer, corpus.heldout), cfg.n_ctx)[: cfg.heldout_sequences]
    log(
        f"corpus: {len(corpus.train)} train files ({stream.numel():,} tokens), {len(corpus.heldout)} held-out files "
        f"({heldout.shape[0]} sequences of {cfg.n_ctx}) from {corpus.root}"
    )
    mcfg = NativeConfig(
        n_layers=cfg.n_layers,
        n_heads=cfg.n_heads,
        d_model=cfg.d_model,
        d_head=cfg.d_model // cfg.n_heads,
        d_vocab=cfg.vocab,
        n_ctx=cfg.n_ctx,
        d_mlp=None,
        positions="shortformer",
        seed=cfg.seed,
        init_std=0.02,
    )
    model = native_model(mcfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []

    def probe(step: int, loss: float) -> None:
        proof = prove_induction(model)
        best_prev, best_ind = max(proof.prev_token_scores[0]), max(max(r) for r in proof.induction_scores[1:])
        history.append(
            {
                "step": step,
                "loss": loss,
                "prev": best_prev,
                "induction": best_ind,
                "repeat_loss": proof.second_half_loss,
            }
        )
        log(
            f"step {step}: loss {loss:.3f}, best prev-token {best_prev:.2f}, "
            f"best induction {best_ind:.2f}, second-copy loss {proof.second_half_loss:.2f}"
        )
        save_model(model, out, mcfg)

    final_loss = fit(model, lambda: _batch(stream, cfg, gen), cfg.steps, cfg.lr, probe, cfg.probe_every, progress)
    save_model(model, out, mcfg)
    tokenizer.save(str(out / "tokenizer.json"))
    save_file({"tokens": heldout.to(torch.int16)}, str(out / "heldout.safetensors"))
    proof = prove_induction(model)
    card = {
        "name": "induction-2l",
        "architecture": "2 layers, attention-only, 8 heads, shortformer positions, LayerNorm",
        "config": mcfg.to_dict(),
        "training": asdict(cfg),
        "corpus": (
            f"Python {platform.python_version()} standard library source (*.py, tests excluded), "
            f"{len(corpus.train)} train files / {len(corpus.heldout)} held-out files (every "
            f"{HELDOUT_EVERY}th file by sorted path); byte-level BPE, {cfg.vocab} tokens"
        ),
        "train_tokens": stream.numel(),
        "final_train_loss": final_loss,
        "heldout_loss": heldout_loss(model, heldout[:500]),
        "uniform_loss": math.log(cfg.vocab),
        "induction": proof.to_dict(),
        "history": history,
        "minutes": round((time.time() - started) / 60, 1),
        "torch": torch.__version__,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    log(proof.summary())
    return card
