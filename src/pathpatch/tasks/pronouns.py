"""Gendered pronouns: "Then Mary went to the park because" → `` she`` (not `` he``).

Ten frames end where a subject pronoun referring to the named person comes next; frames, names,
places and objects are split (the names are those of :mod:`.words`, with their gender). The
pronouns `` he`` and `` she`` must be one token each. Named positions: ``NAME`` and ``END``; the
target is the pronoun of the name's gender, the distractor the other; the metric is the logit
difference.

Counterfactual ``"gender_flip"``: x_new names a person of the other gender, so the pronoun flips.
"""

from __future__ import annotations

import random
from typing import Any

from .base import Drop, Example, FitReport, Fitter, LogitDiff, TaskPairs, check_request, draw, pair_up
from .text import SLOTS, Encoder, Template, check_split, split_items
from .words import FEMALE_NAMES, MALE_NAMES, OBJECTS, PLACES

__all__ = ["pairs", "fit", "lexicon", "templates", "FRAMES", "COUNTERFACTUALS"]

COUNTERFACTUALS = ("gender_flip",)

FRAMES = (
    "Then {NAME} went to the {PLACE} because",
    "After lunch, {NAME} walked to the {PLACE}, and then",
    "Yesterday {NAME} was late for work, so",
    "When {NAME} woke up,",
    "Last week {NAME} bought a {OBJECT}, but",
    "At the {PLACE}, {NAME} said that",
    "Once {NAME} finished the {OBJECT},",
    "Today {NAME} felt tired, so",
    "In the evening {NAME} visited the {PLACE}, where",
    "After {NAME} found the {OBJECT},",
)

PRONOUNS = ("he", "she")  # masculine, feminine


def templates(split: str) -> tuple[Template, ...]:
    names = split_items([f"pronouns {i}" for i in range(len(FRAMES))], check_split(split))
    return tuple(Template(text, f"pronouns {i}") for i, text in enumerate(FRAMES) if f"pronouns {i}" in names)


def _fit(tokenizer: Any, split: str) -> tuple[Fitter, list[str], list[str], list[Template]]:
    encoder = Encoder(tokenizer)
    fitter = Fitter("pronouns", check_split(split), encoder)
    both = set(split_items(MALE_NAMES + FEMALE_NAMES, split))
    male = [n for (n,) in fitter.words("male name", [(n,) for n in MALE_NAMES if n in both])]
    female = [n for (n,) in fitter.words("female name", [(n,) for n in FEMALE_NAMES if n in both])]
    fitter.words("pronoun", [PRONOUNS])
    probe = {"NAME": (male + female + ["Mary"])[0], "PLACE": "park", "OBJECT": "book"}
    kept = fitter.templates(templates(split), lambda t: probe, ["NAME"], bool(male or female))
    return fitter, male, female, kept


def lexicon() -> tuple[str, ...]:
    """Every text the task writes: its frames without their slots, and every word a slot takes
    (to build a vocabulary in which each is one token)."""
    return tuple(SLOTS.sub(" ", t) for t in FRAMES) + MALE_NAMES + FEMALE_NAMES + PLACES + OBJECTS + PRONOUNS


def fit(tokenizer: Any, split: str = "train") -> FitReport:
    """What ``tokenizer`` keeps of the task's names, pronouns and templates in ``split``."""
    return _fit(tokenizer, split)[0].report()


def pairs(
    tokenizer: Any, seed: int = 0, split: str = "train", count: int = 100, counterfactual: str = "gender_flip"
) -> TaskPairs:
    """``count`` pronoun pairs of ``split`` (module docs), drawn reproducibly from ``seed``; each
    gender is the reference's in about half of them."""
    check_request(count, seed, counterfactual, COUNTERFACTUALS)
    fitter, male, female, kept = _fit(tokenizer, split)
    fitter.require("pronoun pair", fitter.kept["pronoun"], 1)
    fitter.require("male name", len(male), 1)
    fitter.require("female name", len(female), 1)
    fitter.require("template", len(kept), 1)
    encoder = fitter.encoder
    he, she = encoder.single(" he"), encoder.single(" she")
    assert he is not None and she is not None  # checked above
    places, objects = split_items(PLACES, split), split_items(OBJECTS, split)

    def make(rng: random.Random, other: random.Random) -> Example | Drop:
        template = rng.choice(kept)
        feminine = rng.random() < 0.5
        name = rng.choice(female if feminine else male)
        ref = {"NAME": name, "PLACE": rng.choice(places), "OBJECT": rng.choice(objects)}
        flipped = other.choice(male if feminine else female)
        got = pair_up(template, encoder, ref, {**ref, "NAME": flipped}, {"NAME": "NAME"})
        if isinstance(got, Drop):
            return got
        r, n, positions = got
        return Example(r, n, positions, she if feminine else he, he if feminine else she)

    return draw(fitter, count, seed, counterfactual, LogitDiff(), make)
