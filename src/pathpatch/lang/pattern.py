"""Parsing path patterns (DESIGN §2).

A pattern is a chain of elements joined by ``->``; each element matches one letter of a path
(an input node, or a port ``node[.channel]`` that the path enters), or ``...`` (any sub-path,
possibly empty):

- ``embed``, ``pos``, ``out``; ``*`` (any one letter);
- heads ``a{L}.{H}[.{C}]``: ``L``/``H`` a number, ``*`` or a set ``{0,2}`` / range ``{0-3}``;
  ``C`` a channel ``q``/``k``/``v``, ``*`` or a set ``{q,k}``; no channel means any; ``a1`` means
  any head of layer 1 and ``a*`` any head;
- MLPs ``m{L}`` with the same number forms.

A pattern is anchored at the start only if its first element is an input (``embed``/``pos``) and
at the end only if its last element is ``out``; an open end gets an implicit ``...``. So
``a1.5.k`` means "every path that enters head 1.5 through k".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import PatternError
from ..graph import Node, Port

__all__ = ["Element", "Gap", "LetterSet", "parse_pattern", "Letter"]

Letter = Node | Port  # an input node (first letter of a path) or a port it enters
_NUMS = r"(?:\d+|\*|\{[^}]*\})"
_ELEMENT_RE = re.compile(
    rf"^(?:(?P<word>embed|pos|out)|(?P<star>\*)|(?P<gap>\.\.\.)"
    rf"|a(?P<al>{_NUMS})(?:\.(?P<ah>{_NUMS})(?:\.(?P<ac>[qkv*]|\{{[^}}]*\}}))?)?"
    rf"|m(?P<ml>{_NUMS}))$"
)


@dataclass(frozen=True)
class Gap:
    """``...``: any sequence of letters, possibly empty."""

    text: str = "..."
    column: int = 0


@dataclass(frozen=True)
class LetterSet:
    """One element: the set of letters it matches. ``None`` fields mean "any"."""

    kind: str  # "embed" | "pos" | "out" | "head" | "mlp" | "any"
    layers: frozenset[int] | None = None
    heads: frozenset[int] | None = None
    channels: frozenset[str] | None = None
    text: str = ""
    column: int = 0

    def matches(self, letter: Letter) -> bool:
        if self.kind == "any":
            return True
        node = letter if isinstance(letter, Node) else letter.node
        if self.kind in ("embed", "pos", "out"):
            return node.kind == self.kind
        if self.kind != node.kind:
            return False
        if self.layers is not None and node.layer not in self.layers:
            return False
        if self.kind == "head":
            if self.heads is not None and node.head not in self.heads:
                return False
            if self.channels is not None and letter.channel not in self.channels:  # type: ignore[union-attr]
                return False
        return True

    @property
    def is_input(self) -> bool:
        return self.kind in ("embed", "pos")


Element = Gap | LetterSet


def _numbers(text: str, pattern: str, column: int) -> frozenset[int] | None:
    if text == "*":
        return None
    if not text.startswith("{"):
        return frozenset({int(text)})
    values: set[int] = set()
    inner = text[1:-1]
    if not inner.strip():
        raise PatternError("empty set", pattern, text, column)
    for item in inner.split(","):
        item = item.strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)|(\d+)", item)
        if not m:
            raise PatternError("a set holds numbers or ranges like {0,2} or {0-3}", pattern, item or text, column)
        if m.group(3):
            values.add(int(m.group(3)))
        else:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise PatternError(f"empty range {lo}-{hi}", pattern, item, column)
            values.update(range(lo, hi + 1))
    return frozenset(values)


def _channels(text: str | None, pattern: str, column: int) -> frozenset[str] | None:
    if text is None or text == "*":
        return None
    items = [c.strip() for c in text.strip("{}").split(",")] if text.startswith("{") else [text]
    bad = [c for c in items if c not in ("q", "k", "v")]
    if bad or not items:
        raise PatternError("a channel is q, k or v", pattern, bad[0] if bad else text, column)
    return frozenset(items)


def _element(text: str, pattern: str, column: int) -> Element:
    m = _ELEMENT_RE.match(text)
    if not m:
        hint = [s for s in ("embed", "pos", "out", "...") if s.startswith(text[:1])]
        raise PatternError(
            "not a path element (expected embed, pos, out, aL.H[.q|k|v], mL, * or ...)", pattern, text, column, hint
        )
    if m.group("gap"):
        return Gap(text, column)
    if m.group("star"):
        return LetterSet("any", text=text, column=column)
    if m.group("word"):
        return LetterSet(m.group("word"), text=text, column=column)
    if m.group("ml") is not None:
        return LetterSet("mlp", _numbers(m.group("ml"), pattern, column), text=text, column=column)
    return LetterSet(
        "head",
        _numbers(m.group("al"), pattern, column),
        _numbers(m.group("ah"), pattern, column) if m.group("ah") else None,
        _channels(m.group("ac"), pattern, column),
        text=text,
        column=column,
    )


def parse_pattern(pattern: str) -> tuple[Element, ...]:
    """The elements of ``pattern``, with implicit gaps added at open ends (parsed once per text)."""
    if not isinstance(pattern, str):
        raise TypeError(f"a pattern is a string, got {type(pattern).__name__}")
    return _parse(pattern)


@lru_cache(maxsize=4096)
def _parse(pattern: str) -> tuple[Element, ...]:
    elements: list[Element] = []
    column = 0
    for i, raw in enumerate(pattern.split("->")):
        stripped = raw.strip()
        start = column + (len(raw) - len(raw.lstrip()))
        if not stripped:
            if not pattern.strip():
                raise PatternError("empty pattern", pattern, pattern, 0)
            arrow = column - 2 if i else len(raw)  # the arrow with no element on one side
            raise PatternError("missing element next to an arrow", pattern, "->", arrow)
        elements.append(_element(stripped, pattern, start))
        column += len(raw) + 2
    for i, el in enumerate(elements):
        if isinstance(el, LetterSet) and el.is_input and i != 0:
            raise PatternError("an input node can only start a path", pattern, el.text, el.column)
        if isinstance(el, LetterSet) and el.kind == "out" and i != len(elements) - 1:
            raise PatternError("'out' can only end a path", pattern, el.text, el.column)
    first, last = elements[0], elements[-1]
    if not (isinstance(first, LetterSet) and first.is_input):
        elements.insert(0, Gap("...", 0))
    if not (isinstance(last, LetterSet) and last.kind == "out"):
        elements.append(Gap("...", len(pattern)))
    return tuple(elements)
