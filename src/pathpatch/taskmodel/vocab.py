"""The tokenizer of ``tasks-4l``: a byte-level BPE in which every word the standard tasks need is
one token.

The tasks (:mod:`pathpatch.tasks`) need names, nouns, pronouns, verbs, argument names and the
two-digit years ``00`` .. ``99`` as single tokens, and the century `` 17`` before a year to stay
apart from it (``" 1732"`` → `` 17`` ``32``). A BPE learned from text alone keeps few of them
whole, so the tokenizer is built in three steps:

1. **Pre-tokenizer**: two-digit runs (with an optional leading space) are split off before
   GPT-2's byte-level rule, so digits come in pairs from the left: ``1732`` → ``17`` ``32``.
2. **BPE** (``vocab`` learned tokens) on the training text, ``<|endoftext|>`` as id 0.
3. **Added merges**, after the learned ones: for every required word, the merges that join the
   pieces the BPE leaves it in, repeated until each word is one token (:func:`force_single`).
   Merges added last never change how the learned tokens form, only join what is left.

Whether the result fits is not assumed: :func:`pathpatch.tasks.fit` on every task and split
reports anything dropped, and the card records it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import InputError
from ..induction.corpus import EOT
from ..tasks import TASKS, lexicon
from .words import TRAIN_FEMALE, TRAIN_MALE, TRAIN_NOUNS

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["task_tokenizer", "force_single", "required_words", "DIGIT_PAIRS"]

DIGIT_PAIRS = r" ?\d\d"
"""The pre-tokenizer's first split: a leading space and two digits, or two digits."""


def required_words() -> tuple[str, ...]:
    """Every text that must be one token: each one-word entry of every task's lexicon and each
    training-only name and noun (:mod:`.words`) after a space (`` Mary``, `` keys``, `` size``),
    the years ``00`` .. ``99`` without one, and `` 17``."""
    words: dict[str, None] = {}
    extra = TRAIN_MALE + TRAIN_FEMALE + tuple(w for pair in TRAIN_NOUNS for w in pair)
    for entry in [e for task in TASKS for e in lexicon(task)] + list(extra):
        text = entry.strip()
        if text and " " not in text and text.isalpha():
            words[" " + text] = None
    words |= dict.fromkeys(f"{y:02d}" for y in range(100))
    words[" 17"] = None
    return tuple(words)


def _bare(texts: Iterable[str], vocab: int) -> Tokenizer:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(DIGIT_PAIRS), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def force_single(tokenizer: Tokenizer, words: Sequence[str], rounds: int = 8) -> Tokenizer:
    """``tokenizer`` with merges appended so that each of ``words`` is one token: each round
    joins the first two pieces of every word still in several. Refused (:class:`InputError`,
    naming them) if some word is still split after ``rounds`` rounds."""
    from tokenizers import Tokenizer

    tok = tokenizer
    for _ in range(rounds):
        split = [(w, tok.encode(w).tokens) for w in words]
        split = [(w, pieces) for w, pieces in split if len(pieces) > 1]
        if not split:
            return tok
        data = json.loads(tok.to_str())
        table: dict[str, int] = data["model"]["vocab"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["model"]["merges"]]
        known = set(merges)
        for _, pieces in split:
            pair = (pieces[0], pieces[1])
            if pair not in known:
                merges.append(pair)
                known.add(pair)
            table.setdefault(pair[0] + pair[1], len(table))
        data["model"]["merges"] = [list(m) for m in merges]
        tok = Tokenizer.from_str(json.dumps(data))
    still = [w for w in words if len(tok.encode(w).ids) > 1]
    if still:
        raise InputError(f"{len(still)} words are still several tokens after {rounds} rounds of merges: {still[:8]}")
    return tok


def task_tokenizer(texts: Iterable[str], vocab: int) -> Tokenizer:
    """The ``tasks-4l`` tokenizer (module docs): ``vocab`` learned tokens on ``texts``, then every
    :func:`required_words` entry made one token."""
    return force_single(_bare(texts, vocab), required_words())
