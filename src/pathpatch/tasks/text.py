"""Text to tokens for the task generators: any tokenizer, templates with slots, and the split rule.

- :class:`Encoder` wraps a ``tokenizers.Tokenizer`` or a Hugging Face tokenizer (anything with
  ``encode(text, add_special_tokens=False)``): token ids of a text without special tokens, and the
  token strings of ids (for reports).
- :class:`Template` is a prompt with slots, ``"Then, {X} and {Y} went to the {PLACE}."``. A slot's
  leading space belongs to the value (`` Mary``), so every word is encoded the way it appears in
  context. :meth:`Template.render` encodes the literal parts and the slot values one by one and
  checks the concatenation against the encoding of the whole text: a text that tokenizes
  differently in context is refused (``None``), so named positions always point at their word.
- :func:`split_items`: the items of one split (``"train"``, ``"validation"``, ``"test"``), 60/20/20
  by the CRC-32 of each item's text: the same for every seed and tokenizer, so the splits of names,
  templates and words are disjoint whatever a tokenizer later drops.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArgumentError

__all__ = ["Encoder", "Template", "Rendered", "SPLITS", "SLOTS", "split_items", "check_split"]

SPLITS = ("train", "validation", "test")
SLOTS = re.compile(r"(\s?)\{([A-Z][A-Z0-9_]*)\}")


def check_split(split: object) -> str:
    """One of :data:`SPLITS`."""
    if not isinstance(split, str) or split not in SPLITS:
        raise ArgumentError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
    return split


def split_items(items: Sequence[str], split: str) -> tuple[str, ...]:
    """The items of ``split``: all items ordered by CRC-32, the first 60% train, the next 20%
    validation, the rest test (at least one each once there are three items)."""
    check_split(split)
    ordered = sorted(dict.fromkeys(items), key=lambda s: (zlib.crc32(s.encode()), s))
    n = len(ordered)
    n_val = max(round(0.2 * n), 1 if n >= 3 else 0)
    n_test = n_val
    n_train = n - n_val - n_test
    bounds = {"train": (0, n_train), "validation": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
    lo, hi = bounds[split]
    return tuple(ordered[lo:hi])


class Encoder:
    """Token ids of texts (no special tokens), for a ``tokenizers.Tokenizer`` or a Hugging Face
    tokenizer; ``describe()`` names it in reports."""

    def __init__(self, tokenizer: Any) -> None:
        encode = getattr(tokenizer, "encode", None)
        if not callable(encode):
            raise TypeError(
                "tokenizer must be a tokenizers.Tokenizer or a Hugging Face tokenizer (with encode), "
                f"got {type(tokenizer).__name__}; load one with tokenizers.Tokenizer.from_file(...)"
            )
        self.tokenizer = tokenizer
        self._hf = not _is_rust(tokenizer)
        self._cache: dict[str, tuple[int, ...]] = {}
        self.unknown = self._unknown()

    def _unknown(self) -> int | None:
        """The id of the unknown-word token, if the tokenizer has one (a byte-level BPE has none)."""
        if self._hf:
            unk = getattr(self.tokenizer, "unk_token_id", None)
            return unk if isinstance(unk, int) else None
        token = getattr(self.tokenizer.model, "unk_token", None)
        found = self.tokenizer.token_to_id(token) if isinstance(token, str) else None
        return int(found) if found is not None else None

    def ids(self, text: str) -> tuple[int, ...]:
        if text not in self._cache:
            if self._hf:
                out = self.tokenizer.encode(text, add_special_tokens=False)
            else:
                out = self.tokenizer.encode(text, add_special_tokens=False).ids
            self._cache[text] = tuple(int(i) for i in out)
        return self._cache[text]

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """The token strings of ``ids``."""
        if self._hf:
            return [str(t) for t in self.tokenizer.convert_ids_to_tokens(list(ids))]
        return [str(self.tokenizer.id_to_token(i)) for i in ids]

    def single(self, text: str) -> int | None:
        """The id of ``text`` if it is exactly one token, and not the unknown-word token, else None."""
        ids = self.ids(text)
        return ids[0] if len(ids) == 1 and ids[0] != self.unknown else None

    def why_not_single(self, text: str) -> str:
        ids = self.ids(text)
        if len(ids) == 1:
            return f"{text!r} is the unknown-word token {self.pieces(ids)}"
        return f"{text!r} is {len(ids)} tokens {self.pieces(ids)}"

    def pad_id(self) -> int:
        """The tokenizer's padding id if it has one, else 0 (padding sits after the last target
        position, which a causal model never reads)."""
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if isinstance(pad, int):
            return pad
        padding = getattr(self.tokenizer, "padding", None)
        if isinstance(padding, dict) and isinstance(padding.get("pad_id"), int):
            return int(padding["pad_id"])
        return 0

    def describe(self) -> str:
        size = getattr(self.tokenizer, "vocab_size", None)
        if size is None and callable(getattr(self.tokenizer, "get_vocab_size", None)):
            size = self.tokenizer.get_vocab_size()
        return f"{type(self.tokenizer).__name__} with {size} tokens"


def _is_rust(tokenizer: Any) -> bool:
    try:
        from tokenizers import Tokenizer
    except ImportError:  # pragma: no cover - tokenizers is a dependency
        return False
    return isinstance(tokenizer, Tokenizer)


@dataclass(frozen=True)
class Rendered:
    """One filled template: its text, token ids and where each slot's tokens start."""

    text: str
    ids: tuple[int, ...]
    starts: dict[str, int] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Template:
    """A prompt with ``{SLOT}`` slots (upper-case names); ``name`` identifies it in splits and reports."""

    text: str
    name: str = ""

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.group(2) for m in SLOTS.finditer(self.text)))

    def fill(self, values: Mapping[str, str]) -> str:
        return SLOTS.sub(lambda m: m.group(1) + values[m.group(2)], self.text)

    def render(self, encoder: Encoder, values: Mapping[str, str]) -> Rendered | None:
        """The filled template, or None if it tokenizes differently in context than part by part
        (then a slot's position would not be its word's) or holds a word the tokenizer does not
        know (the unknown-word token)."""
        ids: list[int] = []
        starts: dict[str, int] = {}
        lengths: dict[str, int] = {}
        at = 0
        for m in SLOTS.finditer(self.text):
            ids += encoder.ids(self.text[at : m.start()]) if m.start() > at else ()
            part = encoder.ids(m.group(1) + values[m.group(2)])
            starts.setdefault(m.group(2), len(ids))
            lengths.setdefault(m.group(2), len(part))
            ids += part
            at = m.end()
        ids += encoder.ids(self.text[at:]) if at < len(self.text) else ()
        text = self.fill(values)
        if tuple(ids) != encoder.ids(text) or (encoder.unknown is not None and encoder.unknown in ids):
            return None
        return Rendered(text, tuple(ids), starts, lengths)
