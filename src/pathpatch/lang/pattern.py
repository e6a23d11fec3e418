"""Parsing path patterns (docs/design.md §2).

A pattern is a chain of elements joined by ``->``; each element matches one letter of a path
(an input node, or a port ``node[.channel]`` that the path enters), or ``...`` (any sub-path,
possibly empty):

- ``embed``, ``pos``, ``out``; ``*`` (any one letter);
- heads ``a{L}.{H}[.{C}]``: ``L``/``H`` a number, ``*`` or a set ``{0,2}`` / range ``{0-3}``;
  ``C`` a channel ``q``/``k``/``v``, ``*`` or a set ``{q,k}``; no channel means any; ``a1`` means
  any head of layer 1 and ``a*`` any head;
- MLPs ``m{L}`` with the same number forms;
- any element but ``...`` may end in a position ``@P`` (docs/design.md §4): ``@3`` (position 3), ``@-1``
  (the last position), ``@END`` (a position the dataset names, per example), ``@*`` or a set
  ``@{0,2}`` / ``@{1-3}`` / ``@{-1,END}``. The position of a letter is the position of the copy it
  names: a head's query position. An edge into ``q``, an MLP or ``out`` stays at one position;
  an edge into ``k`` or ``v`` comes from any key position at or before the query position.
  ``a9.1@-1`` is every path through head 9.1 at the last position.

A pattern is anchored at the start only if its first element is an input (``embed``/``pos``) and
at the end only if its last element is ``out``; an open end gets an implicit ``...``. So
``a1.5.k`` means "every path that enters head 1.5 through k".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from ..errors import PatternError
from ..graph import Node, Port

__all__ = [
    "Element",
    "Gap",
    "LetterSet",
    "parse_pattern",
    "Letter",
    "PosSpec",
    "PosContext",
    "resolve_positions",
    "uses_positions",
]

Letter = Node | Port  # an input node (first letter of a path) or a port it enters
Symbol = Letter | tuple[Letter, int]  # what an automaton reads: a letter, with its copy's position in positional walks
PosSpec = frozenset[int | str]  # positions of an element: ints (negative from the end) and names
_NAME_RE = re.compile(r"^[A-Za-z_]\w*$")
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
    positions: PosSpec | None = None  # None: any position

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
            channel = letter.channel if isinstance(letter, Port) else None
            if self.channels is not None and channel not in self.channels:
                return False
        return True

    @property
    def is_input(self) -> bool:
        return self.kind in ("embed", "pos")

    def matches_at(self, t: int, resolved: dict[PosSpec, frozenset[int]]) -> bool:
        """Whether position ``t`` is one of this element's (``resolved`` maps specs to positions)."""
        return self.positions is None or t in resolved[self.positions]


def uses_positions(elements: tuple[Element, ...]) -> bool:
    return any(isinstance(el, LetterSet) and el.positions is not None for el in elements)


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


def _positions(text: str, pattern: str, column: int) -> PosSpec | None:
    """``3``, ``-1``, ``END``, ``*`` or a set ``{0,2}`` / ``{1-3}`` / ``{-1,END}``."""
    if text == "*":
        return None
    items = [i.strip() for i in text[1:-1].split(",")] if text.startswith("{") and text.endswith("}") else [text]
    values: set[int | str] = set()
    for item in items:
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", item)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise PatternError(f"empty position range {lo}-{hi}", pattern, item, column)
            values.update(range(lo, hi + 1))
        elif re.fullmatch(r"-?\d+", item):
            values.add(int(item))
        elif _NAME_RE.match(item):
            values.add(item)
        else:
            raise PatternError(
                "a position is a number (negative counts from the end), a name the dataset "
                "defines (like END), * or a set like {0,2}, {1-3} or {-1,END}",
                pattern,
                item or text,
                column,
            )
    return frozenset(values)


@dataclass(frozen=True)
class PosContext:
    """What positions mean for one group of examples: the sequence length and the named positions."""

    n_pos: int
    names: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, n_pos: int, names: dict[str, int] | None = None) -> PosContext:
        return cls(int(n_pos), tuple(sorted((k, int(v)) for k, v in (names or {}).items())))

    def resolve(self, spec: PosSpec, pattern: str = "") -> frozenset[int]:
        return resolve_positions(spec, self.n_pos, dict(self.names), pattern)


def resolve_positions(spec: PosSpec, n_pos: int, names: dict[str, int], pattern: str = "") -> frozenset[int]:
    """The absolute positions ``spec`` means in a sequence of ``n_pos`` tokens with named ``names``."""
    out: set[int] = set()
    for item in spec:
        if isinstance(item, str):
            if item not in names:
                known = ", ".join(sorted(names)) or "none"
                raise PatternError(
                    f"position name {item!r} is not defined by the dataset (it defines: {known}); "
                    "pass Dataset(..., positions={name: tensor of one position per example})",
                    pattern or item,
                    item,
                    max(pattern.find("@" + item) + 1, 0),
                )
            out.add(names[item])
        elif -n_pos <= item < n_pos:
            out.add(item % n_pos)
        else:
            raise PatternError(
                f"position {item} is outside sequences of {n_pos} tokens (valid: 0..{n_pos - 1} or -{n_pos}..-1)",
                pattern or str(item),
                str(item),
                max(pattern.find(f"@{item}") + 1, 0),
            )
    return frozenset(out)


def _element(text: str, pattern: str, column: int) -> Element:
    position: PosSpec | None = None
    if "@" in text:
        text, _, spec = text.partition("@")
        text = text.strip()
        if text == "...":
            raise PatternError("'...' has no position; put @ on a node, e.g. 'a1.*@-1'", pattern, "...@", column)
        if not spec.strip():
            raise PatternError("missing position after '@'", pattern, text + "@", column)
        position = _positions(spec.strip(), pattern, column + len(text) + 1)
        element = _element(text, pattern, column)
        assert isinstance(element, LetterSet)  # '...' was refused above
        return replace(element, positions=position, text=f"{text}@{spec.strip()}")
    m = _ELEMENT_RE.match(text)
    if not m:
        hint = [s for s in ("embed", "pos", "out", "...") if s.startswith(text[:1])]
        raise PatternError(
            "not a path element (expected embed, pos, out, aL.H[.q|k|v], mL, * or ..., "
            "each with an optional @position)",
            pattern,
            text,
            column,
            hint,
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
