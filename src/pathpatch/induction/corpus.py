"""The training corpus: the Python standard library's own source, on every machine, no download.

How it is gathered (reproducible from this function alone):

1. every ``*.py`` file under ``sysconfig.get_paths()["stdlib"]``, excluding any path with a
   ``test``, ``tests``, ``idle_test``, ``site-packages`` or ``__pycache__`` folder and any file
   named ``test_*``; sorted by relative path (POSIX);
2. held-out split: every ``HELDOUT_EVERY``-th file of that list (index % 12 == 0), the rest train;
3. a byte-level BPE tokenizer (``tokenizers``) with ``VOCAB`` tokens is trained on the train files;
   documents are joined with the ``<|endoftext|>`` token (id 0).

The held-out sequences the study uses are shipped with the model (``heldout.safetensors``), so the
demo does not depend on the local Python version's standard library.
"""

from __future__ import annotations

import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import InputError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "Corpus",
    "gather_files",
    "read_source",
    "bpe_tokenizer",
    "train_tokenizer",
    "encode_texts",
    "encode_files",
    "heldout_sequences",
    "EOT",
    "VOCAB",
]

EOT = "<|endoftext|>"
VOCAB = 1024
HELDOUT_EVERY = 12
_SKIP = {"test", "tests", "idle_test", "site-packages", "__pycache__"}


@dataclass(frozen=True)
class Corpus:
    root: Path
    train: tuple[Path, ...]
    heldout: tuple[Path, ...]


def gather_files(root: str | Path | None = None) -> Corpus:
    """The standard library's source files, split into train and held-out (see module docs)."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files = sorted(
        (
            p
            for p in root.rglob("*.py")
            if not (_SKIP & set(p.relative_to(root).parts)) and not p.name.startswith("test_")
        ),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        raise FileNotFoundError(f"no Python source files under {root}")
    heldout = tuple(p for i, p in enumerate(files) if i % HELDOUT_EVERY == 0)
    train = tuple(p for i, p in enumerate(files) if i % HELDOUT_EVERY != 0)
    return Corpus(root, train, heldout)


def read_source(path: Path) -> str:
    """A source file's text (undecodable bytes replaced)."""
    return path.read_text(encoding="utf-8", errors="replace")


def bpe_tokenizer(texts: Iterable[str], vocab: int = VOCAB) -> Tokenizer:
    """A byte-level BPE tokenizer (GPT-2's pre-tokenizer) trained on ``texts``; ``<|endoftext|>`` is id 0."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def train_tokenizer(files: tuple[Path, ...], vocab: int = VOCAB) -> Tokenizer:
    """A byte-level BPE tokenizer trained on ``files``; ``<|endoftext|>`` is id 0."""
    return bpe_tokenizer((read_source(p) for p in files), vocab)


def encode_texts(tokenizer: Tokenizer, texts: list[str]) -> torch.Tensor:
    """Documents as one stream of token ids, each followed by ``<|endoftext|>``."""
    eot = tokenizer.token_to_id(EOT)
    if eot is None:
        raise InputError(f"the tokenizer has no {EOT!r} token to end documents with; train it with bpe_tokenizer")
    ids: list[int] = []
    for enc in tokenizer.encode_batch(texts):
        ids.extend(enc.ids)
        ids.append(eot)
    return torch.tensor(ids, dtype=torch.long)


def encode_files(tokenizer: Tokenizer, files: tuple[Path, ...]) -> torch.Tensor:
    """All files as one stream of token ids, each document followed by ``<|endoftext|>``."""
    return encode_texts(tokenizer, [read_source(p) for p in files])


def heldout_sequences(stream: torch.Tensor, length: int) -> torch.Tensor:
    """Non-overlapping windows ``[n, length]`` of a token stream."""
    n = stream.numel() // length
    return stream[: n * length].view(n, length).clone()
