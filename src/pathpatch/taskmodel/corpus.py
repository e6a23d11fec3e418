"""Training text for ``tasks-4l``: examples of the standard tasks and background sentences.

**Task examples** (:func:`task_examples`): a prompt and its answer, from each task's
``"train"``-split templates and the training-only frames of :mod:`.frames`, slots filled by
:func:`fillers`: the train splits' names, places, objects and nouns, the training-only names and
nouns of :mod:`.words` and, where the task is copying one token, many more words, so that the
model learns to copy any token rather than a few dozen names. IOI's names also take every
docstring argument and every other vocabulary word; docstring's arguments every name and
lower-case vocabulary word. So no task's own validation or test word (no held-out name in IOI or
pronouns, no held-out argument in docstring, no held-out noun in agreement) and no validation or
test template ever appears in an example of that task (``tests/test_taskmodel.py`` checks it).
Greater-than's answer is a year drawn uniformly from those after the start year, as a text
continuing "from 1732 to 17" would. Each answer's loss weighs ``answer_weight`` times a template
token's (:func:`example_stream`).

**Background sentences** (:func:`background_text`): what any pretrained model knows of the words
the held-out splits use, in frames that are not the tasks'. Every name of every split (and every
training-only name) is said to be a man or a woman ("Mary is a woman.", "Ms Mary is here.") and
owns things ("Henry lost his key.", "At the station, Mary showed everyone her map.") and is
referred to where a sentence or an "and" clause starts ("Mary is here. She is tired."), never
after the words that end a held-out pronoun template ("because", "but", "that", "where"); every
noun's number is shown next to it and a few words on ("The keys are here.", "The key we found
was new."), with no second noun to attract the verb; every argument name, place, object and
noun occurs in a neutral line; and a quarter of the sentences are lists of task words said twice
("Mary size keys. Mary size keys."), so that every word has been copied somewhere. Without them
a held-out name's gender (which the pronoun task asks for) could not be known at all; with them,
what the model has to learn from the task examples is the task itself: for a held-out word, to
read the gender or number the background gave it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..tasks import TASKS, agreement, docstring, greater_than, words
from ..tasks.text import Template, split_items
from .composed import COMPOSED_FRAMES
from .frames import EXTRA_FRAMES
from .words import TRAIN_FEMALE, TRAIN_MALE, TRAIN_NOUNS

__all__ = [
    "TASK_WEIGHTS",
    "Fillers",
    "fillers",
    "frames",
    "vocab_words",
    "example_text",
    "task_examples",
    "background_text",
    "example_stream",
]

TASK_WEIGHTS = {"ioi": 0.36, "greater-than": 0.07, "docstring": 0.17, "agreement": 0.15, "pronouns": 0.25}
"""Each task's share of the task examples."""

_MAN = ("{} is a man.", "{} is my brother.", "{} is a father.", "Mr {} is here.")
_WOMAN = ("{} is a woman.", "{} is my sister.", "{} is a mother.", "Ms {} is here.")
_NEUTRAL = ("I met {} today.", "{} was there.", "We called {}.", "Ask {} about it.")
_ONE = (  # a noun's number, next to it and a few words on
    "The {} is here.", "one {}.", "The {} was here.", "The {} over there is old.", "The {} we found was new.",
    "The {} here has a mark.",
)  # fmt: skip
_MANY = (
    "The {} are here.", "two {}.", "The {} were here.", "The {} over there are old.", "The {} we found were new.",
    "The {} here have a mark.",
)  # fmt: skip
_OWN = (  # possessives, near the name and further from it ({{}}: the name, then an object)
    "{{}} lost {w} {{}}.",
    "{{}} and {w} friend left.",
    "{{}} went out and could not find {w} {{}}.",
    "At the station, {{}} showed everyone {w} {{}}.",
    "{{}} thinks the {{}} on the table is {w} own.",
)
_SUBJECT = (  # subject pronouns, only where a sentence or an "and" clause starts
    "{{}} is here. {W} is tired.",
    "{{}} came home late. {W} was hungry.",
    "{{}} opened the {{}}, and {w} smiled.",
    "{{}} woke up early, and {w} made tea.",
)


def background_text(rng: random.Random, n: int) -> list[str]:
    """``n`` background sentences (module docs), each naming one word of any split or one
    training-only word (:mod:`.words`)."""
    male, female = words.MALE_NAMES + TRAIN_MALE, words.FEMALE_NAMES + TRAIN_FEMALE
    choices: list[Any] = []
    choices += [(_MAN, name) for name in male] + [(_WOMAN, name) for name in female]
    choices += [(_NEUTRAL, name) for name in male + female]
    for singular, plural in agreement.NOUNS + TRAIN_NOUNS:
        choices += [(_ONE, singular), (_MANY, plural)]
    for word in words.PLACES + words.OBJECTS + greater_than.NOUNS:
        choices.append((("the {} ", "a {} and", "About the {}."), word))
    for arg in docstring.ARGUMENTS:
        choices.append((("{} = None\n", "print({})\n", "return {}\n"), arg))
    choices += [(tuple(f.format(w="his") for f in _OWN), name) for name in male]
    choices += [(tuple(f.format(w="her") for f in _OWN), name) for name in female]
    choices += [(tuple(f.format(w="he", W="He") for f in _SUBJECT), name) for name in male]
    choices += [(tuple(f.format(w="she", W="She") for f in _SUBJECT), name) for name in female]
    choices += [c for c in choices if c[0] in (_MAN, _WOMAN)]  # gender twice as often
    every = list(dict.fromkeys(_every_word()))
    out = []
    for _ in range(n):
        if rng.random() < 0.25:  # a list said twice: any word, copied
            listed = " ".join(rng.sample(every, rng.randrange(3, 7)))
            out.append(f"{listed}. {listed}.")
            continue
        frames, word = rng.choice(choices)
        out.append(rng.choice(frames).format(word, rng.choice(words.OBJECTS)))
    return out


def _every_word() -> tuple[str, ...]:
    nouns = tuple(w for pair in agreement.NOUNS + TRAIN_NOUNS for w in pair)
    names = words.NAMES + TRAIN_MALE + TRAIN_FEMALE
    return names + docstring.ARGUMENTS + nouns + words.PLACES + words.OBJECTS + greater_than.NOUNS


def held_out(items: tuple[str, ...]) -> set[str]:
    """The items of the validation and test splits."""
    return set(split_items(items, "validation")) | set(split_items(items, "test"))


def _held_out_words() -> set[str]:
    """Every word of a validation or test split of any task."""
    out = held_out(words.NAMES) | held_out(docstring.ARGUMENTS) | held_out(words.PLACES) | held_out(words.OBJECTS)
    out |= {w for split in ("validation", "test") for pair in agreement.split_items_pairs(split) for w in pair}
    return out | held_out(greater_than.NOUNS)


def vocab_words(tokenizer: Any) -> list[str]:
    """The alphabetic words (2+ letters) that are one token after a space, none held out."""
    held = _held_out_words()
    found = []
    for piece in tokenizer.get_vocab():
        word = piece[1:]
        if piece.startswith("\u0120") and len(word) >= 2 and word.isascii() and word.isalpha() and word not in held:
            if len(tokenizer.encode(" " + word).ids) == 1:
                found.append(word)
    return sorted(found)


@dataclass(frozen=True)
class Fillers:
    """What training fills the slots with: train-split words, and (for the copying tasks) every
    other vocabulary word, so that copying is learnt for any token, not for a few names."""

    names: tuple[str, ...]  # IOI's names: train names, every argument, vocabulary words
    male: tuple[str, ...]
    female: tuple[str, ...]
    arguments: tuple[str, ...]  # docstring's arguments: train arguments, every name, lower-case vocabulary words
    nouns: tuple[tuple[str, str], ...]  # agreement: train pairs and vocabulary pairs (w, ws)
    places: tuple[str, ...]
    objects: tuple[str, ...]
    events: tuple[str, ...]  # greater-than's nouns


def fillers(tokenizer: Any) -> Fillers:
    """The fillers of :class:`Fillers`. A copying task's slots also take the other copying task's
    words of every split (IOI's names: docstring's arguments; docstring's arguments: IOI's
    names), so that every task word has been copied somewhere, but never in its own task's
    held-out splits: no validation or test name fills an IOI slot, no validation or test argument
    a docstring slot, and no other held-out word any slot."""
    pool = vocab_words(tokenizer)
    lower = [w for w in pool if w.islower()]
    singles = set(lower)
    pairs = [(w, w + "s") for w in lower if w + "s" in singles and not w.endswith("s")]
    train = "train"
    names = split_items(words.NAMES, train)
    return Fillers(
        names=tuple(dict.fromkeys(names + TRAIN_MALE + TRAIN_FEMALE + docstring.ARGUMENTS + tuple(pool))),
        male=tuple(n for n in names if n in words.MALE_NAMES) + TRAIN_MALE,
        female=tuple(n for n in names if n in words.FEMALE_NAMES) + TRAIN_FEMALE,
        arguments=tuple(dict.fromkeys(split_items(docstring.ARGUMENTS, train) + words.NAMES + tuple(lower))),
        nouns=tuple(dict.fromkeys(agreement.split_items_pairs(train) + list(TRAIN_NOUNS) + pairs)),
        places=split_items(words.PLACES, train),
        objects=split_items(words.OBJECTS, train),
        events=split_items(greater_than.NOUNS, train),
    )


def frames(task: str) -> tuple[Template, ...]:
    """A task's train-split templates and its training-only frames (:mod:`.frames`, :mod:`.composed`)."""
    texts = dict.fromkeys(t.text for t in TASKS[task].templates("train"))
    texts |= dict.fromkeys(EXTRA_FRAMES[task] + COMPOSED_FRAMES.get(task, ()))
    return tuple(Template(t, task) for t in texts)


def example_text(task: str, template: Template, f: Fillers, rng: random.Random) -> str:
    """One filled training prompt followed by its answer, as text."""
    if task == "ioi":
        io, s = rng.sample(f.names, 2)
        x, y = (io, s) if rng.random() < 0.5 else (s, io)
        text = template.fill({"X": x, "Y": y, "S": s, "PLACE": rng.choice(f.places), "OBJECT": rng.choice(f.objects)})
        return text + " " + io
    if task == "pronouns":
        feminine = rng.random() < 0.5
        name = rng.choice(f.female if feminine else f.male)
        text = template.fill({"NAME": name, "PLACE": rng.choice(f.places), "OBJECT": rng.choice(f.objects)})
        return text + (" she" if feminine else " he")
    if task == "agreement":
        subj, attr = rng.sample(f.nouns, 2)
        plural = int(rng.random() < 0.5)
        verb = rng.choice(agreement.VERBS)
        return template.fill({"SUBJ": subj[plural], "ATTR": attr[1 - plural]}) + " " + verb[plural]
    if task == "greater-than":
        yy = rng.randrange(2, 99)
        text = template.fill({"NOUN": rng.choice(f.events), "YY": f"{yy:02d}"})
        return text + f"{rng.randrange(yy + 1, 100):02d}"
    a, b, c, d = rng.sample(f.arguments, 4)
    da, db = rng.sample(docstring.PHRASES, 2)
    values = {"A": a, "B": b, "C": c, "D": d, "A2": a, "B2": b, "F": rng.choice(docstring.FUNCTIONS)}
    values |= {"DESC": rng.choice(docstring.DESCRIPTIONS), "DA": da, "DB": db}
    return template.fill(values) + " " + c


def task_examples(tokenizer: Any, count: int, seed: int) -> list[list[int]]:
    """About ``count`` training examples, prompt and answer, mixed over the tasks by
    :data:`TASK_WEIGHTS`, from the train-split templates and the training-only frames filled by
    :func:`fillers`; shuffled."""
    rng = random.Random(seed)
    f = fillers(tokenizer)
    texts = []
    for task, weight in TASK_WEIGHTS.items():
        kept = frames(task)
        texts += [example_text(task, rng.choice(kept), f, rng) for _ in range(max(1, round(weight * count)))]
    rng.shuffle(texts)
    return [e.ids for e in tokenizer.encode_batch(texts)]


def example_stream(
    examples: list[list[int]], background: list[list[int]], eot: int, seed: int, answer_weight: float = 1.0
) -> tuple[Int[Tensor, " token"], Float[Tensor, " token"], Int[Tensor, " start"]]:
    """Examples and background sentences in a seeded random order, each followed by
    ``<|endoftext|>``, as one stream; each token's loss weight (``answer_weight`` for the answer,
    the last token of a task example; 1 for every other token); and where each document starts
    (windows open there, so a prompt is seen from position 0 as it is tested, and after others)."""
    rng = random.Random(seed)
    docs = [(True, e) for e in examples] + [(False, b) for b in background]
    rng.shuffle(docs)
    ids: list[int] = []
    answers: list[int] = []
    starts: list[int] = []
    for is_task, doc in docs:
        starts.append(len(ids))
        ids += doc + [eot]
        if is_task:
            answers.append(len(ids) - 2)
    weights = torch.ones(len(ids))
    weights[torch.tensor(answers, dtype=torch.long)] = answer_weight
    return torch.tensor(ids, dtype=torch.long), weights, torch.tensor(starts, dtype=torch.long)
