"""Subject–verb agreement across an attractor: "The key near the cabinets" → `` is`` (not `` are``).

Ten frames put a noun phrase of the other number (the attractor) between the subject and its verb
("The keys behind the door" → `` are``); frames and nouns are split. A noun is a singular/plural
pair, both forms one token after a space; a verb pair (`` is``/`` are``, `` was``/`` were``,
`` has``/`` have``) is kept when both forms are one token. Named positions: ``SUBJ``, ``ATTR`` and
``END``; the target is the verb form agreeing with the subject, the distractor the other; the metric
is the logit difference.

Counterfactual ``"number_flip"``: x_new has the subject and the attractor in the other number
("The keys near the cabinet"), so the correct verb flips; x_new is an attractor example too.
"""

from __future__ import annotations

import random
from typing import Any

from .base import Drop, Example, FitReport, Fitter, LogitDiff, TaskPairs, check_request, draw, pair_up
from .text import SLOTS, Encoder, Template, check_split, split_items

__all__ = ["pairs", "fit", "lexicon", "templates", "FRAMES", "NOUNS", "VERBS", "COUNTERFACTUALS"]

COUNTERFACTUALS = ("number_flip",)

FRAMES = (
    "The {SUBJ} near the {ATTR}",
    "The {SUBJ} behind the {ATTR}",
    "The {SUBJ} beside the {ATTR}",
    "The {SUBJ} of the {ATTR}",
    "The {SUBJ} with the {ATTR}",
    "The {SUBJ} that the {ATTR} saw",
    "The {SUBJ} that the {ATTR} liked",
    "The {SUBJ} for the {ATTR}",
    "The {SUBJ} from the {ATTR}",
    "The {SUBJ} under the {ATTR}",
)

NOUNS: tuple[tuple[str, str], ...] = (
    ("key", "keys"), ("dog", "dogs"), ("book", "books"), ("car", "cars"), ("tree", "trees"),
    ("house", "houses"), ("bird", "birds"), ("cat", "cats"), ("table", "tables"), ("door", "doors"),
    ("boy", "boys"), ("girl", "girls"), ("teacher", "teachers"), ("friend", "friends"), ("farmer", "farmers"),
    ("window", "windows"), ("letter", "letters"), ("song", "songs"), ("box", "boxes"), ("bag", "bags"),
    ("student", "students"), ("doctor", "doctors"), ("chair", "chairs"), ("road", "roads"), ("river", "rivers"),
    ("lamp", "lamps"), ("cup", "cups"), ("plan", "plans"), ("ship", "ships"), ("king", "kings"),
)  # fmt: skip

VERBS = (("is", "are"), ("was", "were"), ("has", "have"))


def templates(split: str) -> tuple[Template, ...]:
    names = split_items([f"agreement {i}" for i in range(len(FRAMES))], check_split(split))
    return tuple(Template(text, f"agreement {i}") for i, text in enumerate(FRAMES) if f"agreement {i}" in names)


def _fit(tokenizer: Any, split: str) -> tuple[Fitter, list[tuple[str, ...]], list[tuple[str, ...]], list[Template]]:
    encoder = Encoder(tokenizer)
    fitter = Fitter("agreement", check_split(split), encoder)
    nouns = fitter.words("noun", split_items_pairs(split))
    verbs = fitter.words("verb", list(VERBS))
    pick = [n[0] for n in nouns] + ["key", "door"]
    kept = fitter.templates(
        templates(split), lambda t: {"SUBJ": pick[0], "ATTR": pick[1]}, ["SUBJ", "ATTR"], len(nouns) >= 2
    )
    return fitter, nouns, verbs, kept


def split_items_pairs(split: str) -> list[tuple[str, str]]:
    """The noun pairs of ``split`` (split by their singular)."""
    keep = set(split_items([s for s, _ in NOUNS], split))
    return [p for p in NOUNS if p[0] in keep]


def lexicon() -> tuple[str, ...]:
    """Every text the task writes: its frames without their slots, and every word a slot takes
    (to build a vocabulary in which each is one token)."""
    return tuple(SLOTS.sub(" ", t) for t in FRAMES) + tuple(w for pair in NOUNS + VERBS for w in pair)


def fit(tokenizer: Any, split: str = "train") -> FitReport:
    """What ``tokenizer`` keeps of the task's nouns, verbs and templates in ``split``."""
    return _fit(tokenizer, split)[0].report()


def pairs(
    tokenizer: Any, seed: int = 0, split: str = "train", count: int = 100, counterfactual: str = "number_flip"
) -> TaskPairs:
    """``count`` agreement pairs of ``split`` (module docs), drawn reproducibly from ``seed``; the
    subject is singular in about half of them."""
    check_request(count, seed, counterfactual, COUNTERFACTUALS)
    fitter, nouns, verbs, kept = _fit(tokenizer, split)
    fitter.require("noun", len(nouns), 2)
    fitter.require("verb", len(verbs), 1)
    fitter.require("template", len(kept), 1)
    encoder = fitter.encoder

    def make(rng: random.Random, other: random.Random) -> Example | Drop:
        template = rng.choice(kept)
        subj, attr = rng.sample(nouns, 2)
        verb = rng.choice(verbs)
        plural = rng.random() < 0.5
        ref = {"SUBJ": subj[plural], "ATTR": attr[not plural]}
        new = {"SUBJ": subj[not plural], "ATTR": attr[plural]}
        got = pair_up(template, encoder, ref, new, {"SUBJ": "SUBJ", "ATTR": "ATTR"})
        if isinstance(got, Drop):
            return got
        r, n, positions = got
        good, bad = encoder.single(" " + verb[plural]), encoder.single(" " + verb[not plural])
        assert good is not None and bad is not None  # both forms were checked
        return Example(r, n, positions, good, bad)

    return draw(fitter, count, seed, counterfactual, LogitDiff(), make)
