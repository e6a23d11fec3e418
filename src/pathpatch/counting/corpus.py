"""Training text for ``numbers-4l``: counting text in varied contexts, and its tokenizer.

**Counting documents** (:func:`counting_document`), each drawn from a seeded ``random.Random``:

- bare runs, the task's own form: ``" 12 13 14 15 16"``;
- runs after a word and with commas: ``"page 41, 42, 43"``, ``"steps 7 8 9"``;
- numbered lists: ``"1. open\\n2. read\\n3. close"``;
- dates and days: ``"May 3, May 4, May 5"``, ``"day 17 day 18"``;
- indexing: ``"x[3], x[4], x[5]"``.

A run's step is +1 in most documents, but also +2, +3, +5, +10 or −1, and some documents are
numbers that do not count at all: the next number is not a function of the last one alone, so
the model has to read the earlier numbers (heads) as well as the last one.

**Tokenizer** (:func:`number_tokenizer`): the byte-level BPE of :mod:`pathpatch.induction.corpus`
trained on the code corpus plus counting text, then given merges of the highest priority that
make every number ``" 0"`` … ``" 199"`` (with its leading space) one token, so that the task's
prompts ``<|endoftext|> s s+1 s+2`` are four tokens and their answers one.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["NUMBER_MAX", "counting_document", "counting_text", "number_tokenizer", "KINDS"]

NUMBER_MAX = 199  # " 0" .. " 199" are single tokens
_STEPS = (1, 1, 1, 1, 1, 1, 2, 3, 5, 10, -1)
_WORDS = (
    "page",
    "pages",
    "step",
    "steps",
    "row",
    "item",
    "chapter",
    "line",
    "lines",
    "level",
    "round",
    "part",
    "box",
    "room",
    "seat",
    "bus",
    "track",
    "version",
    "slide",
    "figure",
)
_ITEMS = (
    "open",
    "read",
    "close",
    "print",
    "sort",
    "parse",
    "load",
    "save",
    "test",
    "build",
    "run",
    "stop",
    "apples",
    "pears",
    "eggs",
    "milk",
    "bread",
    "rice",
    "tea",
    "salt",
)
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_NAMES = ("x", "a", "row", "data", "items", "buf", "arr", "xs")


def _run(rng: random.Random, lo: int = 0, hi: int = NUMBER_MAX, counts: bool = True) -> list[int]:
    """Numbers of one run: an arithmetic run inside ``[lo, hi]``, or (``counts=False``) random ones."""
    n = rng.randint(3, 12)
    if not counts:
        return [rng.randint(lo, hi) for _ in range(n)]
    step = rng.choice(_STEPS)
    span = abs(step) * (n - 1)
    if span > hi - lo:
        step, span = 1, n - 1
    first = rng.randint(lo, hi - span) + (span if step < 0 else 0)
    return [first + i * step for i in range(n)]


def _bare(rng: random.Random, counts: bool) -> str:
    return "".join(f" {n}" for n in _run(rng, counts=counts))


def _worded(rng: random.Random, counts: bool) -> str:
    sep = rng.choice((", ", " ", ", ", "; "))
    return rng.choice(_WORDS) + " " + sep.join(str(n) for n in _run(rng, counts=counts))


def _listed(rng: random.Random, counts: bool) -> str:
    nums = _run(rng, 1, 60, counts)
    style = rng.choice(("{n}. {w}", "{n}) {w}", "- {w} {n}", "{w} {n}:"))
    return "\n".join(style.format(n=n, w=rng.choice(_ITEMS)) for n in nums)


def _dated(rng: random.Random, counts: bool) -> str:
    nums = _run(rng, 1, 31, counts)
    if rng.random() < 0.5:
        month = rng.choice(_MONTHS)
        return ", ".join(f"{month} {n}" for n in nums)
    word = rng.choice(("day", "Day", "week", "night"))
    return " ".join(f"{word} {n}" for n in nums)


def _indexed(rng: random.Random, counts: bool) -> str:
    name = rng.choice(_NAMES)
    return ", ".join(f"{name}[{n}]" for n in _run(rng, 0, 99, counts))


KINDS: dict[str, tuple[float, Callable[[random.Random, bool], str]]] = {
    "bare": (0.45, _bare),
    "worded": (0.2, _worded),
    "listed": (0.1, _listed),
    "dated": (0.15, _dated),
    "indexed": (0.1, _indexed),
}


def counting_document(rng: random.Random, noise: float = 0.1) -> str:
    """One document; a fraction ``noise`` of them has numbers that do not count."""
    kinds = list(KINDS.values())
    _, make = rng.choices(kinds, weights=[w for w, _ in kinds])[0]
    return make(rng, rng.random() >= noise)


def counting_text(n: int, seed: int) -> list[str]:
    """``n`` counting documents from ``seed``."""
    rng = random.Random(seed)
    return [counting_document(rng) for _ in range(n)]


def _number_merges() -> list[tuple[str, str]]:
    """Merges building ``"Ġ" + digits`` left to right for every number up to :data:`NUMBER_MAX`."""
    merges: list[tuple[str, str]] = []
    for n in range(NUMBER_MAX + 1):
        digits = str(n)
        for i in range(1, len(digits) + 1):
            pair = ("Ġ" + digits[: i - 1], digits[i - 1])
            if pair not in merges:
                merges.append(pair)
    return merges


def number_tokenizer(texts: Iterable[str], vocab: int) -> Tokenizer:
    """Byte-level BPE trained on ``texts`` (``vocab`` learned tokens), then the number merges
    put first, so that ``" 0"`` … ``" 199"`` are single tokens; ``<|endoftext|>`` is id 0."""
    from tokenizers import Tokenizer

    from ..induction.corpus import bpe_tokenizer

    base = bpe_tokenizer(texts, vocab)
    data = json.loads(base.to_str())
    table: dict[str, int] = data["model"]["vocab"]
    old = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in data["model"]["merges"]]
    new = _number_merges()
    for left, right in new:
        table.setdefault(left + right, len(table))
    chosen = set(new)
    data["model"]["merges"] = [list(m) for m in new] + [list(m) for m in old if m not in chosen]
    return Tokenizer.from_str(json.dumps(data))
