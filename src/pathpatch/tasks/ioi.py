"""Indirect object identification (Wang et al. 2022): "Then, Mary and John went to the store. John
gave a drink to" → `` Mary``.

Fifteen sentence frames, each in its ABBA form (the indirect object IO first: "Mary and John ...
John gave ... to") and its BABA form ("John and Mary ... John gave ... to"): 30 templates, split
by frame, so a frame's two forms share a split. Names are the 140 of :mod:`.words`, split by name.
Named positions: ``IO`` and ``S1`` (the two first mentions), ``S2`` (the subject's second mention)
and ``END``; the target is IO's token, the distractor S's; the metric is the logit difference
IO − S (:class:`~.base.LogitDiff`), an example solved when it is positive.

Counterfactuals x_new (same template, same places and objects):

- ``"abc"``: the three name slots take three other names, all distinct ("Then, Anna and Paul
  went ... Ruth gave ... to"): no name is repeated, so nothing says who the indirect object is;
- ``"s2_io_flip"``: S2 becomes IO ("Then, Mary and John ... Mary gave ... to"): the answer flips
  to S.
"""

from __future__ import annotations

import random
from typing import Any

from .base import Drop, Example, FitReport, Fitter, LogitDiff, TaskPairs, check_request, draw, pair_up
from .text import SLOTS, Encoder, Template, check_split, split_items
from .words import NAMES, OBJECTS, PLACES

__all__ = ["pairs", "fit", "lexicon", "templates", "FRAMES", "COUNTERFACTUALS"]

COUNTERFACTUALS = ("abc", "s2_io_flip")

FRAMES = (
    "Then, {X} and {Y} went to the {PLACE}. {S} gave a {OBJECT} to",
    "When {X} and {Y} got a {OBJECT} at the {PLACE}, {S} decided to give it to",
    "After {X} and {Y} arrived at the {PLACE}, {S} handed the {OBJECT} to",
    "While {X} and {Y} were working at the {PLACE}, {S} passed a {OBJECT} to",
    "Then, {X} and {Y} had a long talk at the {PLACE}. {S} offered a {OBJECT} to",
    "Friends {X} and {Y} found a {OBJECT} at the {PLACE}. {S} gave it to",
    "Yesterday, {X} and {Y} spent the day at the {PLACE}. Later, {S} sent a {OBJECT} to",
    "At the {PLACE}, {X} and {Y} were hungry. {S} brought a {OBJECT} to",
    "The {PLACE} was quiet when {X} and {Y} walked in. {S} showed a {OBJECT} to",
    "Once {X} and {Y} reached the {PLACE}, {S} threw a {OBJECT} to",
    "Then, {X} and {Y} were cleaning the {PLACE}. {S} lent a {OBJECT} to",
    "On Monday, {X} and {Y} visited the {PLACE}. {S} gave a {OBJECT} to",
    "Since {X} and {Y} were at the {PLACE}, {S} sold a {OBJECT} to",
    "Later, {X} and {Y} met at the {PLACE}, and {S} gave a {OBJECT} to",
    "In the morning, {X} and {Y} left for the {PLACE}. {S} mailed a {OBJECT} to",
)


def templates(split: str) -> tuple[Template, ...]:
    """The ABBA and BABA templates of ``split`` (X and Y are the first two mentions; in ABBA X is
    IO, in BABA X is S)."""
    frames = set(split_items([f"ioi {i:02d}" for i in range(len(FRAMES))], check_split(split)))
    return tuple(
        Template(text, f"ioi {i:02d} {form}")
        for i, text in enumerate(FRAMES)
        if f"ioi {i:02d}" in frames
        for form in ("ABBA", "BABA")
    )


def _fit(tokenizer: Any, split: str) -> tuple[Fitter, list[str], list[Template]]:
    encoder = Encoder(tokenizer)
    fitter = Fitter("ioi", check_split(split), encoder)
    names = [n for (n,) in fitter.words("name", [(n,) for n in split_items(NAMES, split)])]
    probe = {"X": names[0] if names else "Mary", "Y": names[-1] if names else "John", "PLACE": "store"}
    kept = fitter.templates(
        templates(split), lambda t: {**probe, "S": probe["Y"], "OBJECT": "drink"}, "XYS", bool(names)
    )
    return fitter, names, kept


def lexicon() -> tuple[str, ...]:
    """Every text the task writes: its frames without their slots, and every word a slot takes
    (to build a vocabulary in which each is one token)."""
    return tuple(SLOTS.sub(" ", t) for t in FRAMES) + NAMES + PLACES + OBJECTS


def fit(tokenizer: Any, split: str = "train") -> FitReport:
    """What ``tokenizer`` keeps of the task's names and templates in ``split``."""
    return _fit(tokenizer, split)[0].report()


def pairs(
    tokenizer: Any, seed: int = 0, split: str = "train", count: int = 100, counterfactual: str = "abc"
) -> TaskPairs:
    """``count`` IOI pairs of ``split`` (module docs), drawn reproducibly from ``seed``."""
    check_request(count, seed, counterfactual, COUNTERFACTUALS)
    fitter, names, kept = _fit(tokenizer, split)
    fitter.require("name", len(names), 5 if counterfactual == "abc" else 2)
    fitter.require("template", len(kept), 1)
    places, objects = split_items(PLACES, split), split_items(OBJECTS, split)

    def make(rng: random.Random, other: random.Random) -> Example | Drop:
        template = rng.choice(kept)
        io, s = rng.sample(names, 2)
        abba = template.name.endswith("ABBA")
        x, y = (io, s) if abba else (s, io)
        common = {"PLACE": rng.choice(places), "OBJECT": rng.choice(objects)}
        ref = {"X": x, "Y": y, "S": s, **common}
        if counterfactual == "abc":
            a, b, c = other.sample([n for n in names if n not in (io, s)], 3)
            new = {"X": a, "Y": b, "S": c, **common}
        else:
            new = {**ref, "S": io}
        named = {"IO": "X" if abba else "Y", "S1": "Y" if abba else "X", "S2": "S"}
        got = pair_up(template, fitter.encoder, ref, new, named)
        if isinstance(got, Drop):
            return got
        r, n, positions = got
        return Example(r, n, positions, r.ids[positions["IO"]], r.ids[positions["S1"]])

    return draw(fitter, count, seed, counterfactual, LogitDiff(), make)
