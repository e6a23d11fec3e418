"""Docstring completion (Heimersheim and Janiak 2023): after two documented parameters of a
function, the next ``:param`` names the third argument of its signature.

::

    def load(self, path, mode, size):
        \"\"\"Load the file.

        :param path: where to read
        :param mode: how to open it
        :param                      → `` size``

Six frames (with and without ``self``, a fourth argument, a return annotation, a method's
indentation); frames and argument names are split. Argument names must be one token after a space.
Named positions: ``A``, ``B``, ``C`` (the arguments in the signature), ``A2`` and ``B2`` (their
mentions in the docstring) and ``END``. The target is C, the distractor A as the docstring writes
it (what copying the token after the first ``:param`` would give); the metric is the logit
difference.

Counterfactuals (same length, same descriptions):

- ``"random_def"``: the signature's arguments are replaced by three other names, so the docstring
  no longer says which argument is left;
- ``"random_doc"``: the documented names are replaced instead.
"""

from __future__ import annotations

import random
from typing import Any

from .base import Drop, Example, FitReport, Fitter, LogitDiff, TaskPairs, check_request, draw, pair_up
from .text import SLOTS, Encoder, Template, check_split, split_items

__all__ = ["pairs", "fit", "lexicon", "templates", "FRAMES", "ARGUMENTS", "COUNTERFACTUALS"]

COUNTERFACTUALS = ("random_def", "random_doc")

_DOC = '"""{DESC}\n\n    :param {A2}: {DA}\n    :param {B2}: {DB}\n    :param'
FRAMES = (
    "def {F}(self, {A}, {B}, {C}):\n    " + _DOC,
    "def {F}({A}, {B}, {C}):\n    " + _DOC,
    "def {F}(self, {A}, {B}, {C}, {D}):\n    " + _DOC,
    "def {F}(self, {A}, {B}, {C}) -> None:\n    " + _DOC,
    "    def {F}(self, {A}, {B}, {C}):\n        " + _DOC.replace("\n    ", "\n        "),
    "def {F}(cls, {A}, {B}, {C}):\n    " + _DOC,
)

ARGUMENTS = (
    "file", "name", "data", "key", "value", "line", "path", "text", "item", "node",
    "size", "count", "index", "user", "token", "source", "target", "mode", "level", "width",
    "height", "color", "label", "query", "result", "message", "config", "order", "limit", "offset",
    "state", "step", "start", "end", "page", "field", "model", "shape", "scale", "rate",
)  # fmt: skip

FUNCTIONS = ("load", "save", "update", "process", "run", "check", "build", "parse", "render", "send")
DESCRIPTIONS = ("Load the file.", "Update the state.", "Run one step.", "Check the input.", "Build the result.")
PHRASES = ("the first one", "where to read", "how to open it", "what to use", "the new value", "the old value")


def templates(split: str) -> tuple[Template, ...]:
    names = split_items([f"docstring {i}" for i in range(len(FRAMES))], check_split(split))
    return tuple(Template(text, f"docstring {i}") for i, text in enumerate(FRAMES) if f"docstring {i}" in names)


def _fit(tokenizer: Any, split: str) -> tuple[Fitter, list[str], list[Template]]:
    encoder = Encoder(tokenizer)
    fitter = Fitter("docstring", check_split(split), encoder)
    args = [a for (a,) in fitter.words("argument", [(a,) for a in split_items(ARGUMENTS, split)])]
    pick = (args + ["x", "y", "z", "w"])[:4]
    probe = {"A": pick[0], "B": pick[1], "C": pick[2], "D": pick[3], "A2": pick[0], "B2": pick[1]}
    probe |= {"F": FUNCTIONS[0], "DESC": DESCRIPTIONS[0], "DA": PHRASES[0], "DB": PHRASES[1]}
    kept = fitter.templates(templates(split), lambda t: probe, ["A", "B", "C", "A2", "B2"], len(args) >= 4)
    return fitter, args, kept


def lexicon() -> tuple[str, ...]:
    """Every text the task writes: its frames without their slots, and every word a slot takes
    (to build a vocabulary in which each is one token)."""
    return tuple(SLOTS.sub(" ", t) for t in FRAMES) + ARGUMENTS + FUNCTIONS + DESCRIPTIONS + PHRASES


def fit(tokenizer: Any, split: str = "train") -> FitReport:
    """What ``tokenizer`` keeps of the task's argument names and templates in ``split``."""
    return _fit(tokenizer, split)[0].report()


def pairs(
    tokenizer: Any, seed: int = 0, split: str = "train", count: int = 100, counterfactual: str = "random_def"
) -> TaskPairs:
    """``count`` docstring pairs of ``split`` (module docs), drawn reproducibly from ``seed``."""
    check_request(count, seed, counterfactual, COUNTERFACTUALS)
    fitter, args, kept = _fit(tokenizer, split)
    fitter.require("argument", len(args), 7)
    fitter.require("template", len(kept), 1)

    def make(rng: random.Random, other: random.Random) -> Example | Drop:
        template = rng.choice(kept)
        a, b, c, d = rng.sample(args, 4)
        da, db = rng.sample(PHRASES, 2)
        ref = {"A": a, "B": b, "C": c, "D": d, "A2": a, "B2": b}
        ref |= {"F": rng.choice(FUNCTIONS), "DESC": rng.choice(DESCRIPTIONS), "DA": da, "DB": db}
        swap = ("A", "B", "C") if counterfactual == "random_def" else ("A2", "B2")
        new = {**ref, **dict(zip(swap, other.sample([x for x in args if x not in (a, b, c, d)], 3)))}
        named = {"A": "A", "B": "B", "C": "C", "A2": "A2", "B2": "B2"}
        got = pair_up(template, fitter.encoder, ref, new, named)
        if isinstance(got, Drop):
            return got
        r, n, positions = got
        return Example(r, n, positions, r.ids[positions["C"]], r.ids[positions["A2"]])

    return draw(fitter, count, seed, counterfactual, LogitDiff(), make)
