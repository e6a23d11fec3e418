"""Training the shipped ``tasks-4l`` model on 2 CPU cores (seeded; its card records the time).

Recipe: a GPT-2-style model (learned absolute positions, LayerNorm, GELU MLPs), the tokenizer
of :mod:`.vocab`, and AdamW (:func:`pathpatch.training.fit`) on two kinds of rows mixed in every
batch:

- **code**: random windows of the standard library's source (the corpus of
  :mod:`pathpatch.induction.corpus`, same train/held-out split);
- **tasks** (``task_fraction`` of the rows): windows opening at a document of the stream of
  :mod:`.corpus` (task examples and background sentences, ``<|endoftext|>`` between).

The loss weighs each task example's answer token ``answer_weight`` times the others (the
answers are one token in twenty-five; unweighted, 2 500 steps learnt the templates' words and
not one task). Every ``probe_every`` steps each task's accuracy on its *validation* split is logged; the card's
accuracies are on the *test* split, whose names and templates training never saw.
"""

from __future__ import annotations

import json
import math
import platform
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float, Int
from safetensors.torch import save_file
from torch import Tensor

from .. import tasks
from ..induction.corpus import EOT, HELDOUT_EVERY, encode_files, gather_files, heldout_sequences, read_source
from ..model.native import native_model, save_model
from ..training import fit, gpt2_style, gpt2_style_text, heldout_loss, windows
from .corpus import TASK_WEIGHTS, background_text, example_stream, task_examples
from .probe import prove_tasks
from .vocab import task_tokenizer
from .words import TRAIN_FEMALE, TRAIN_MALE, TRAIN_NOUNS

__all__ = ["TasksConfig", "train_tasks"]


@dataclass(frozen=True)
class TasksConfig:
    d_model: int = 128
    n_heads: int = 8
    n_layers: int = 4
    d_mlp: int = 512
    n_ctx: int = 64
    bpe_vocab: int = 1024  # learned BPE tokens, before the task words are joined
    batch: int = 48
    lr: float = 2e-3
    steps: int = 10_000
    seed: int = 0
    task_fraction: float = 0.85
    answer_weight: float = 10.0  # the loss weight of a task example's answer token (1 for the others)
    task_examples: int = 150_000
    background_sentences: int = 120_000
    probe_every: int = 500
    probe_examples: int = 200
    test_examples: int = 1_000
    heldout_sequences: int = 1_000


def _weights() -> str:
    return ", ".join(f"{t} {w:.0%}" for t, w in TASK_WEIGHTS.items())


def _batch(
    code: Tensor, stream: Tensor, weights: Tensor, starts: Tensor, cfg: TasksConfig, gen: torch.Generator
) -> tuple[Int[Tensor, "batch pos"], Float[Tensor, "batch pos"]]:
    n_task = int(round(cfg.batch * cfg.task_fraction))
    code_starts = torch.randint(0, code.numel() - cfg.n_ctx - 1, (cfg.batch - n_task,), generator=gen)
    task_starts = starts[torch.randint(0, starts.numel(), (n_task,), generator=gen)]
    n = cfg.n_ctx + 1
    tokens = torch.cat([windows(code, code_starts, n), windows(stream, task_starts, n)])
    w = torch.cat([torch.ones(cfg.batch - n_task, n), windows(weights, task_starts, n)])
    return tokens, w


def train_tasks(cfg: TasksConfig, out_dir: str | Path, progress: bool = True, log: Any = print) -> dict[str, Any]:
    """Train, write the model directory (weights, config, tokenizer, held-out code, card); return the card."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    started = time.time()
    corpus = gather_files()
    lexicon = [w for task in tasks.TASKS for w in tasks.lexicon(task)]
    rng = random.Random(cfg.seed + 1)
    tokenizer = task_tokenizer(
        [read_source(p) for p in corpus.train] + lexicon * 50 + background_text(rng, 20_000), cfg.bpe_vocab
    )
    vocab = tokenizer.get_vocab_size()
    eot = tokenizer.token_to_id(EOT)
    assert eot is not None  # the tokenizer's first special token
    code = encode_files(tokenizer, corpus.train)
    examples = task_examples(tokenizer, cfg.task_examples, cfg.seed + 2)
    background = [e.ids for e in tokenizer.encode_batch(background_text(rng, cfg.background_sentences))]
    stream, weights, starts = example_stream(examples, background, eot, cfg.seed + 3, cfg.answer_weight)
    starts = starts[starts < stream.numel() - cfg.n_ctx - 1]
    held_code = heldout_sequences(encode_files(tokenizer, corpus.heldout), cfg.n_ctx + 1)[: cfg.heldout_sequences]
    fits = {
        task: {split: tasks.fit(task, tokenizer, split).to_dict() for split in tasks.SPLITS} for task in tasks.TASKS
    }
    log(
        f"corpus: {len(corpus.train)} train files ({code.numel():,} tokens), {len(examples):,} task examples and "
        f"{len(background):,} background sentences ({stream.numel():,} tokens); vocabulary {vocab} "
        f"({cfg.bpe_vocab} BPE + the task words)"
    )
    mcfg = gpt2_style(cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_mlp, vocab, cfg.n_ctx, cfg.seed)
    model = native_model(mcfg)
    tokenizer.save(str(out / "tokenizer.json"))
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []

    def probe(step: int, loss: float) -> None:
        proofs = prove_tasks(model, tokenizer, "validation", cfg.probe_examples)
        history.append({"step": step, "loss": loss, **{t: p.accuracy for t, p in proofs.items()}})
        log(
            f"step {step}: loss {loss:.3f}; validation accuracy "
            + ", ".join(f"{t} {p.accuracy:.2f}" for t, p in proofs.items())
        )
        save_model(model, out, mcfg)

    def batch() -> tuple[Tensor, Tensor]:
        return _batch(code, stream, weights, starts, cfg, gen)

    final_loss = fit(model, batch, cfg.steps, cfg.lr, probe, cfg.probe_every, progress)
    save_model(model, out, mcfg)
    save_file({"tokens": held_code[:200, : cfg.n_ctx].to(torch.int16)}, str(out / "heldout.safetensors"))
    proofs = prove_tasks(model, tokenizer, "test", cfg.test_examples)
    card = {
        "name": "tasks-4l",
        "architecture": gpt2_style_text(mcfg),
        "config": mcfg.to_dict(),
        "training": asdict(cfg),
        "corpus": (
            f"Python {platform.python_version()} standard library source (*.py, tests excluded), "
            f"{len(corpus.train)} train files / {len(corpus.heldout)} held-out (every {HELDOUT_EVERY}th by "
            f"sorted path); generated examples of the five standard tasks ({_weights()} of them), from "
            "their train-split templates and training-only frames, slots filled with train-split words, "
            f"{len(TRAIN_MALE) + len(TRAIN_FEMALE)} training-only names and {len(TRAIN_NOUNS)} noun pairs, and "
            "(IOI's names, docstring's arguments) other vocabulary words, never a validation or test word; "
            "background sentences giving every name's gender and every noun's number (next to it and a few "
            f"words on); byte-level BPE of {cfg.bpe_vocab} tokens (digits in pairs) plus merges making every "
            f"task word one token ({vocab} in all)"
        ),
        "train_tokens": {"code": code.numel(), "tasks": stream.numel()},
        "final_train_loss": final_loss,
        "heldout_loss": {"code": heldout_loss(model, held_code[:500])},
        "uniform_loss": math.log(vocab),
        "tokenizer_fit": fits,
        "tasks": {t: p.to_dict() for t, p in proofs.items()},
        "accuracy": {t: p.accuracy for t, p in proofs.items()},
        "history": history,
        "minutes": round((time.time() - started) / 60, 1),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    for p in proofs.values():
        log(p.summary())
    return card
