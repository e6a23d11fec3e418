"""Training-only sentence frames for ``tasks-4l``, beside each task's train-split templates.

None of these is a template of :mod:`pathpatch.tasks` (``test_taskmodel`` checks it), so the
validation and test templates stay unseen; more frames make the model learn the task's rule
rather than the wording of six or nine templates. Slots are those of the tasks' templates.
"""

from __future__ import annotations

__all__ = ["EXTRA_FRAMES"]

_DOC = '"""{DESC}\n\n    :param {A2}: {DA}\n    :param {B2}: {DB}\n    :param'

EXTRA_FRAMES: dict[str, tuple[str, ...]] = {
    "ioi": (
        "{X} and {Y} went to the {PLACE}, and {S} gave a {OBJECT} to",
        "After lunch, {X} and {Y} went to the {PLACE}. {S} handed a {OBJECT} to",
        "{X} and {Y} were at the {PLACE}. {S} gave the {OBJECT} to",
        "When {X} and {Y} came to the {PLACE}, {S} gave a {OBJECT} to",
        "In the {PLACE}, {X} and {Y} talked, and then {S} passed the {OBJECT} to",
        "On Friday, {X} and {Y} went to the {PLACE}. {S} sent the {OBJECT} to",
        "Then {X} and {Y} walked to the {PLACE}, where {S} gave a {OBJECT} to",
        "Both {X} and {Y} liked the {PLACE}. {S} bought a {OBJECT} for",
    ),
    "pronouns": (
        "{NAME} went to the {PLACE}, and then",
        "After the {OBJECT} broke, {NAME} was sad, so",
        "On Sunday {NAME} stayed home because",
        "{NAME} looked at the {OBJECT}, and",
        "When {NAME} got to the {PLACE},",
        "Later that day {NAME} called home, and",
        "Before {NAME} left the {PLACE},",
    ),
    "agreement": (
        "The {SUBJ} next to the {ATTR}",
        "The {SUBJ} above the {ATTR}",
        "The {SUBJ} in the {ATTR}",
        "The {SUBJ} by the {ATTR}",
        "The {SUBJ} that the {ATTR} found",
        "The {SUBJ} without the {ATTR}",
        "The {SUBJ} like the {ATTR}",
    ),
    "greater-than": (
        "The {NOUN} lasted from 17{YY} to 17",
        "The {NOUN} was held between 17{YY} and 17",
        "From 17{YY} to 17",
        "The {NOUN} of 17{YY} ended in 17",
        "The {NOUN} started in 17{YY} and stopped in 17",
        "The {NOUN} went from the year 17{YY} until the year 17",
        "It lasted from the year 17{YY} to the year 17",
    ),
    "docstring": (
        "def {F}({A}, {B}, {C}, {D}):\n    " + _DOC,
        "def {F}(self, {A}, {B}, {C}) -> int:\n    " + _DOC,
        "async def {F}(self, {A}, {B}, {C}):\n    " + _DOC,
        "def {F}(self, {A}, {B}, {C}, {D}) -> None:\n    " + _DOC,
        "    def {F}(cls, {A}, {B}, {C}):\n        " + _DOC.replace("\n    ", "\n        "),
    ),
}
"""Task name -> training-only frames with the task's slots."""
