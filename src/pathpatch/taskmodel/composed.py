"""Training-only frames for ``tasks-4l`` composed from clause pools: hundreds of IOI and pronoun
frames, so that the model learns the rule over many sentence shapes rather than over the few
dozen of :mod:`.frames`.

IOI frames are an opening that names ``{X}`` and ``{Y}`` (a main clause, or a subordinate one
ending in a comma), a joiner, and a clause in which ``{S}`` gives or says something *to* the
indirect object. Pronoun frames are a clause about ``{NAME}`` and a connective after which a
subject pronoun referring to the name comes next. The pools leave out the verbs that the
validation and test templates pair with their connectives (pronouns: "went", "bought", "said",
"visited"; IOI: "arrived", "spent", "sold" and the opener "Since"), so that no composed frame is
a held-out template or one word away from it; ``test_taskmodel`` checks that none is a template
of any split. The frames are drawn without replacement from the pools' product by a fixed seed,
so the set is the same on every machine.
"""

from __future__ import annotations

import itertools
import random

__all__ = ["COMPOSED_FRAMES"]

_IOI_PREFIXES = ("", "On Tuesday, ", "In the afternoon, ", "Last night, ", "After dinner, ", "Later that week, ")
_IOI_MAIN = (  # main clauses naming X and Y
    "{X} and {Y} went to the {PLACE}",
    "{X} and {Y} sat in the {PLACE}",
    "{X} and {Y} walked into the {PLACE}",
    "{X} and {Y} stayed at the {PLACE}",
    "{X} and {Y} ate lunch at the {PLACE}",
    "{X} and {Y} waited at the {PLACE}",
    "{X} and {Y} left the {PLACE}",
    "{X} and {Y} painted the {PLACE}",
    "{X} and {Y} ran to the {PLACE}",
    "{X} and {Y} looked around the {PLACE}",
)
_IOI_SUBORDINATE = ("When ", "As ", "Because ", "Once ", "Just after ", "Before ")
_IOI_JOINERS = (". ", ", and ", ", and then ", ". Then ", ". Later, ", ", so ", ". After a while, ")
_IOI_TRANSFERS = (
    "{S} gave a {OBJECT} to",
    "{S} handed a {OBJECT} to",
    "{S} passed the {OBJECT} to",
    "{S} lent the {OBJECT} to",
    "{S} threw a {OBJECT} to",
    "{S} showed the {OBJECT} to",
    "{S} brought the {OBJECT} to",
    "{S} sent a {OBJECT} to",
    "{S} offered the {OBJECT} to",
    "{S} read a {OBJECT} to",
    "{S} gave it to",
    "{S} wanted to give the {OBJECT} to",
    "{S} said goodbye to",
    "{S} waved to",
    "{S} talked to",
    "{S} wrote a letter to",
    "{S} mailed the {OBJECT} to",
    "{S} tossed a {OBJECT} to",
)

_PRONOUN_PREFIXES = ("", "On Sunday ", "This morning ", "Later ", "After work ", "At noon ")
_PRONOUN_CLAUSES = (
    "{NAME} walked to the {PLACE}",
    "{NAME} cleaned the {OBJECT}",
    "{NAME} found a {OBJECT}",
    "{NAME} lost the {OBJECT}",
    "{NAME} looked at the {OBJECT}",
    "{NAME} sat in the {PLACE}",
    "{NAME} left the {PLACE}",
    "{NAME} ran to the {PLACE}",
    "{NAME} fixed the {OBJECT}",
    "{NAME} opened the {OBJECT}",
    "{NAME} was tired",
    "{NAME} laughed",
    "{NAME} called a friend",
    "{NAME} waited at the {PLACE}",
    "{NAME} dropped the {OBJECT}",
    "{NAME} wanted a {OBJECT}",
)
_PRONOUN_CONNECTIVES = (
    " because",
    ", but",
    ", so",
    ", and",
    ", and then",
    " when",
    " until",
    ", although",
    " after",
    " before",
)
_PRONOUN_SUBORDINATE = ("When ", "After ", "Before ", "Although ", "Once ", "As soon as ")

_SEED = 29
_COUNT = 300


def _ioi() -> list[str]:
    main = [p + c + j + t for p, c, j, t in itertools.product(_IOI_PREFIXES, _IOI_MAIN, _IOI_JOINERS, _IOI_TRANSFERS)]
    sub = [s + c + ", " + t for s, c, t in itertools.product(_IOI_SUBORDINATE, _IOI_MAIN, _IOI_TRANSFERS)]
    return main + sub


def _pronouns() -> list[str]:
    main = [p + c + k for p, c, k in itertools.product(_PRONOUN_PREFIXES, _PRONOUN_CLAUSES, _PRONOUN_CONNECTIVES)]
    sub = [s + c + "," for s, c in itertools.product(_PRONOUN_SUBORDINATE, _PRONOUN_CLAUSES)]
    return main + sub


def _draw(frames: list[str]) -> tuple[str, ...]:
    """``_COUNT`` of ``frames`` (or all), with a capital first letter, in a fixed order."""
    picked = random.Random(_SEED).sample(frames, min(_COUNT, len(frames)))
    return tuple(f[0].upper() + f[1:] for f in picked)


COMPOSED_FRAMES: dict[str, tuple[str, ...]] = {"ioi": _draw(_ioi()), "pronouns": _draw(_pronouns())}
"""Task name -> composed training-only frames (IOI and pronouns; module docs)."""
