"""Training the shipped ``numbers-4l`` model on 2 CPU cores (seeded; see its card for the time).

Recipe: a GPT-2-style model (learned absolute positions, LayerNorm, GELU MLPs) trained with AdamW
on two kinds of rows, mixed in every batch:

- **code**: random windows of the standard library's source (the corpus of
  :mod:`pathpatch.induction.corpus`, same train/held-out split);
- **counting** (``counting_fraction`` of the rows): windows that start at an ``<|endoftext|>``
  of a stream of counting documents (:mod:`pathpatch.counting.corpus`), so the task's prompt form
  — ``<|endoftext|>`` at position 0, then numbers — is seen at the positions it is tested at.

The counting proof of :mod:`pathpatch.counting.probe` is logged every ``probe_every`` steps (s = 1..100,
the paper's range); the card's final ``accuracy`` is over every s whose numbers are single tokens
(0..196).
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Int
from safetensors.torch import save_file
from torch import Tensor

from ..induction.corpus import (
    EOT,
    HELDOUT_EVERY,
    encode_files,
    encode_texts,
    gather_files,
    heldout_sequences,
    read_source,
)
from ..model.native import native_model, save_model
from ..training import fit, gpt2_style, gpt2_style_text, heldout_loss, windows
from .corpus import KINDS, NUMBER_MAX, counting_text, number_tokenizer
from .probe import prove_counting

__all__ = ["NumbersConfig", "train_numbers", "counting_stream"]


@dataclass(frozen=True)
class NumbersConfig:
    d_model: int = 128
    n_heads: int = 8
    n_layers: int = 4
    d_mlp: int = 512
    n_ctx: int = 64
    bpe_vocab: int = 1024  # learned BPE tokens, before the number tokens are added
    batch: int = 48
    lr: float = 1.5e-3
    steps: int = 5_000
    seed: int = 0
    counting_fraction: float = 0.5
    counting_docs: int = 200_000
    tokenizer_counting_docs: int = 20_000
    probe_every: int = 500
    heldout_sequences: int = 1_000


def counting_stream(tokenizer: Any, n_docs: int, seed: int) -> Int[Tensor, " token"]:
    """``n_docs`` counting documents, each preceded by ``<|endoftext|>``, as one token stream."""
    eot = torch.tensor([tokenizer.token_to_id(EOT)])
    return torch.cat([eot, encode_texts(tokenizer, counting_text(n_docs, seed))])


def _batch(code: Tensor, counting: Tensor, doc_starts: Tensor, cfg: NumbersConfig, gen: torch.Generator) -> Tensor:
    n_count = int(round(cfg.batch * cfg.counting_fraction))
    code_starts = torch.randint(0, code.numel() - cfg.n_ctx - 1, (cfg.batch - n_count,), generator=gen)
    count_starts = doc_starts[torch.randint(0, doc_starts.numel(), (n_count,), generator=gen)]
    return torch.cat([windows(code, code_starts, cfg.n_ctx + 1), windows(counting, count_starts, cfg.n_ctx + 1)])


def train_numbers(cfg: NumbersConfig, out_dir: str | Path, progress: bool = True, log: Any = print) -> dict[str, Any]:
    """Train, write the model directory (weights, config, tokenizer, held-out data, card); return the card."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    started = time.time()
    corpus = gather_files()
    tokenizer = number_tokenizer(
        [read_source(p) for p in corpus.train] + counting_text(cfg.tokenizer_counting_docs, cfg.seed + 1), cfg.bpe_vocab
    )
    vocab = tokenizer.get_vocab_size()
    code = encode_files(tokenizer, corpus.train)
    counting = counting_stream(tokenizer, cfg.counting_docs, cfg.seed + 2)
    eot = tokenizer.token_to_id(EOT)
    assert eot is not None  # encode_files ends every document with it
    doc_starts = (counting[: -cfg.n_ctx - 1] == eot).nonzero().flatten()
    held_code = heldout_sequences(encode_files(tokenizer, corpus.heldout), cfg.n_ctx + 1)[: cfg.heldout_sequences]
    held_count_stream = counting_stream(tokenizer, 20_000, cfg.seed + 3)
    held_starts = (held_count_stream[: -cfg.n_ctx - 1] == eot).nonzero().flatten()[: cfg.heldout_sequences]
    held_count = windows(held_count_stream, held_starts, cfg.n_ctx + 1)
    log(
        f"corpus: {len(corpus.train)} train files ({code.numel():,} tokens), {cfg.counting_docs:,} counting "
        f"documents ({counting.numel():,} tokens); vocabulary {vocab} ({cfg.bpe_vocab} BPE + numbers to {NUMBER_MAX})"
    )
    mcfg = gpt2_style(cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_mlp, vocab, cfg.n_ctx, cfg.seed)
    model = native_model(mcfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []

    def probe(step: int, loss: float) -> None:  # s = 1..100 while training, as in the paper
        proof = prove_counting(model, tokenizer)
        history.append({"step": step, "loss": loss, "accuracy": proof.accuracy, "logit_diff": proof.logit_diff})
        log(
            f"step {step}: loss {loss:.3f}, counting accuracy {proof.accuracy:.2f}, "
            f"logit difference {proof.logit_diff:.2f}"
        )
        save_model(model, out, mcfg)

    final_loss = fit(
        model, lambda: _batch(code, counting, doc_starts, cfg, gen), cfg.steps, cfg.lr, probe, cfg.probe_every, progress
    )
    save_model(model, out, mcfg)
    tokenizer.save(str(out / "tokenizer.json"))
    save_file({"tokens": held_count[:200, : cfg.n_ctx].to(torch.int16)}, str(out / "heldout.safetensors"))
    proof = prove_counting(model, tokenizer, 0, NUMBER_MAX - 3)  # every s whose numbers are single tokens
    card = {
        "name": "numbers-4l",
        "architecture": gpt2_style_text(mcfg),
        "config": mcfg.to_dict(),
        "training": asdict(cfg),
        "corpus": (
            f"Python {platform.python_version()} standard library source (*.py, tests excluded), "
            f"{len(corpus.train)} train files / {len(corpus.heldout)} held-out (every {HELDOUT_EVERY}th by "
            f"sorted path), and generated counting documents ({', '.join(KINDS)}); byte-level BPE of "
            f"{cfg.bpe_vocab} tokens plus merges making ' 0'..' {NUMBER_MAX}' single tokens ({vocab} in all)"
        ),
        "train_tokens": {"code": code.numel(), "counting": counting.numel()},
        "final_train_loss": final_loss,
        "heldout_loss": {
            "code": heldout_loss(model, held_code[:500]),
            "counting": heldout_loss(model, held_count[:500]),
        },
        "uniform_loss": math.log(vocab),
        "counting": proof.to_dict(),
        "accuracy": proof.accuracy,
        "history": history,
        "minutes": round((time.time() - started) / 60, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    log(proof.summary())
    return card
