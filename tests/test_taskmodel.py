"""tasks-4l: its tokenizer, its training text (train splits only), its card, and `pathpatch demo tasks`."""

from __future__ import annotations

import json
import math
import random
import re
import shutil

import pytest
import torch
from click.testing import CliRunner

import pathpatch as pp
from pathpatch import tasks
from pathpatch.cli import cli
from pathpatch.errors import InputError
from pathpatch.taskmodel.composed import COMPOSED_FRAMES
from pathpatch.taskmodel.corpus import background_text, example_text, fillers, frames, task_examples
from pathpatch.taskmodel.frames import EXTRA_FRAMES
from pathpatch.taskmodel.probe import prove_task
from pathpatch.taskmodel.vocab import force_single, required_words
from pathpatch.taskmodel.words import TRAIN_FEMALE, TRAIN_MALE, TRAIN_NOUNS
from pathpatch.tasks import agreement, docstring, greater_than, words
from pathpatch.tasks.text import split_items
from pathpatch.zoo import bundle, shipped_dir


@pytest.fixture(scope="module")
def shipped():  # type: ignore[no-untyped-def]
    return bundle("tasks-4l")


def _held_out(items: tuple[str, ...]) -> set[str]:
    return set(split_items(items, "validation")) | set(split_items(items, "test"))


def test_every_task_word_is_one_token_and_years_come_in_pairs(shipped) -> None:  # type: ignore[no-untyped-def]
    tok = shipped.tokenizer
    several = [w for w in required_words() if len(tok.encode(w).ids) != 1]
    assert several == []
    assert tok.encode(" 1732").tokens == ["\u012017", "32"]
    assert tok.encode("from 1705 to 17").tokens[-3:] == ["05", "\u0120to", "\u012017"]
    for task in tasks.TASKS:
        for split in tasks.SPLITS:
            report = tasks.fit(task, tok, split)
            assert report.drops == (), (task, split, str(report))


def test_force_single_joins_words_and_refuses_what_it_cannot() -> None:
    from pathpatch.taskmodel.vocab import _bare

    base = _bare(["the cat sat on the mat"] * 20, 300)
    assert len(base.encode(" Zebediah").ids) > 1
    joined = force_single(base, [" Zebediah", " Quentin"])
    assert len(joined.encode(" Zebediah").ids) == 1 and len(joined.encode(" Quentin").ids) == 1
    assert joined.encode(" the cat").ids == base.encode(" the cat").ids  # learned tokens unchanged
    with pytest.raises(InputError, match="still several tokens"):
        force_single(base, [" Zebediah"], rounds=1)


def test_training_frames_are_none_of_the_tasks_templates() -> None:
    for task, listed in EXTRA_FRAMES.items():
        extra = listed + COMPOSED_FRAMES.get(task, ())
        module = tasks.TASKS[task]
        every = {t.text for split in tasks.SPLITS for t in module.templates(split)}
        assert every.isdisjoint(extra), task
        held = {t.text for split in ("validation", "test") for t in module.templates(split)}
        assert held.isdisjoint(t.text for t in frames(task)), task
        slots = {s for split in tasks.SPLITS for t in module.templates(split) for s in t.slots}
        for text in extra:
            assert set(re.findall(r"\{([A-Z0-9_]+)\}", text)) <= slots, (task, text)


def test_composed_frames_stay_clear_of_the_held_out_templates() -> None:
    for task, words_left_out in (
        ("ioi", {"arrived", "spent", "sold", "Since"}),
        ("pronouns", {"went", "bought", "said", "visited"}),
    ):
        composed = COMPOSED_FRAMES[task]
        assert len(composed) == len(set(composed)) == 300, task
        held = [t.text for split in ("validation", "test") for t in tasks.TASKS[task].templates(split)]
        for frame in composed:
            assert not words_left_out & set(re.findall(r"\w+", frame)), (task, frame)
            # neither is the other with words in front (a held-out template one opener away)
            assert not [h for h in held if h.endswith(frame) or frame.endswith(h)], (task, frame)
            slots = set(re.findall(r"\{([A-Z]+)\}", frame))
            assert slots >= ({"X", "Y", "S"} if task == "ioi" else {"NAME"}), (task, frame)
            assert frame[0].isupper() or frame[0] == "{", frame
    assert all(f.endswith((" to", " at")) for f in COMPOSED_FRAMES["ioi"])


def test_no_held_out_word_fills_a_training_slot(shipped) -> None:  # type: ignore[no-untyped-def]
    f = fillers(shipped.tokenizer)
    assert _held_out(words.NAMES).isdisjoint(f.names + f.male + f.female)
    assert _held_out(docstring.ARGUMENTS).isdisjoint(f.arguments)
    held_nouns = {w for split in ("validation", "test") for p in agreement.split_items_pairs(split) for w in p}
    assert held_nouns.isdisjoint(w for p in f.nouns for w in p)
    assert _held_out(words.PLACES).isdisjoint(f.places) and _held_out(words.OBJECTS).isdisjoint(f.objects)
    assert len(f.names) > 300 and len(f.arguments) > 200  # copying is learnt on many tokens
    held_nouns_words = set(held_nouns)
    own = {  # what a task's examples never hold: its own held-out words
        "ioi": _held_out(words.NAMES),
        "pronouns": _held_out(words.NAMES),
        "docstring": _held_out(docstring.ARGUMENTS),
        "agreement": held_nouns_words,
        "greater-than": _held_out(greater_than.NOUNS),
    }
    rng = random.Random(3)
    for task, banned in own.items():
        kept = frames(task)
        for _ in range(300):
            text = example_text(task, rng.choice(kept), f, rng)
            # docstring's fixed words ("Update the state.") may be argument names: read its signature
            signature = re.search(r"\((.*?)\)", text) if task == "docstring" else None
            used = signature.group(1).split(", ") if signature else re.findall(r"[A-Za-z]+", text)
            assert banned.isdisjoint(used), (task, text)
    assert len(task_examples(shipped.tokenizer, 50, seed=3)) == 50


def test_training_only_words_are_no_task_word_of_any_split(shipped) -> None:  # type: ignore[no-untyped-def]
    task_words = {w.lower() for task in tasks.TASKS for e in tasks.lexicon(task) for w in re.findall(r"\w+", e)}
    extra = TRAIN_MALE + TRAIN_FEMALE + tuple(w for pair in TRAIN_NOUNS for w in pair)
    assert len(set(extra)) == len(extra) == 2 * 140 + 2 * 110
    assert not {w.lower() for w in extra} & task_words
    assert set(TRAIN_MALE).isdisjoint(TRAIN_FEMALE)
    assert all(p == s + "s" for s, p in TRAIN_NOUNS)
    vocab = shipped.tokenizer.get_vocab()
    assert all("\u0120" + w in vocab for w in extra)  # each one token after a space
    assert {" " + w for w in extra} <= set(required_words())
    f = fillers(shipped.tokenizer)  # and they fill the slots of training, beside the train split's words
    assert set(TRAIN_MALE) <= set(f.male) and set(TRAIN_FEMALE) <= set(f.female)
    assert set(TRAIN_NOUNS) <= set(f.nouns) and set(TRAIN_MALE + TRAIN_FEMALE) <= set(f.names)


def test_background_gives_every_name_its_gender_and_every_noun_its_number() -> None:
    text = background_text(random.Random(0), 80_000)
    about: dict[str, list[str]] = {}  # sentences by the word they are about (Mary, Mr Mary, The keys, two keys)
    for s in text:
        w = s.rstrip(".").split(" ")
        about.setdefault(w[1] if w[0] in ("Mr", "Ms", "The", "one", "two") else w[0], []).append(s)
    female_names = words.FEMALE_NAMES + TRAIN_FEMALE
    for name in words.NAMES + TRAIN_MALE + TRAIN_FEMALE:
        gendered = [
            s for s in about.get(name, []) if re.search(r"\b(man|woman|brother|sister|father|mother)\b|^M[rs] ", s)
        ]
        assert gendered, name
        female = name in female_names
        assert all(bool(re.search(r"\b(woman|sister|mother)\b|^Ms ", s)) == female for s in gendered), name
        pronouns = {p.lower() for s in about.get(name, []) for p in re.findall(r"\b([Hh]e|[Ss]he|his|her)\b", s)}
        assert pronouns == ({"she", "her"} if female else {"he", "his"}), (name, pronouns)
    # a subject pronoun is never where a held-out pronoun template would put it
    assert not [s for s in text if re.search(r"\b(because|but|that|where) (he|she)\b", s)]
    for singular, plural in agreement.NOUNS + TRAIN_NOUNS:
        one = [s for s in about.get(singular, []) if s.startswith(("The ", "one "))]
        many = [s for s in about.get(plural, []) if s.startswith(("The ", "two "))]
        assert one and many, singular
        assert all(not re.search(r"\b(are|were|have)\b", s) for s in one), singular
        assert all(not re.search(r"\b(is|was|has)\b", s) for s in many), plural
        # some say it a few words on, where a verb cannot just follow the word before it
        assert any(re.match(rf"The {singular} \w+ (\w+ )?(is|was|has)\b", s) for s in one), singular


def test_the_card_records_what_the_shipped_model_does(shipped) -> None:  # type: ignore[no-untyped-def]
    card = shipped.card
    assert set(card["accuracy"]) == set(tasks.TASKS)
    assert card["minutes"] <= 60 and card["training"]["test_examples"] == 1000
    size = sum(p.stat().st_size for p in shipped_dir("tasks-4l").iterdir())
    assert size <= 15 * 2**20
    for task in tasks.TASKS:  # the card's own test prompts, proved again here
        proof = prove_task(shipped.model, shipped.tokenizer, task, "test", 1000)
        # a prompt whose logit difference is within float error of 0 may flip on another machine
        assert abs(proof.accuracy - card["accuracy"][task]) <= 0.003, (task, proof.summary())


def _task_dir(tmp_path, kind: str):  # type: ignore[no-untyped-def]
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    vocab = bundle("tasks-4l").tokenizer.get_vocab_size()
    if kind == "gpt2":
        config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=vocab, n_positions=64)
        hf = transformers.GPT2LMHeadModel(config)
    else:
        config = transformers.LlamaConfig(
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            hidden_size=16,
            intermediate_size=32,
            vocab_size=vocab,
            max_position_embeddings=64,
        )
        hf = transformers.LlamaForCausalLM(config)
    directory = tmp_path / kind
    hf.eval().save_pretrained(directory)
    shutil.copy(shipped_dir("tasks-4l") / "tokenizer.json", directory / "tokenizer.json")
    return directory


_SMALL = ["--search-examples", "6", "--test-examples", "8", "--boot", "20", "--ig-steps", "1", "--quiet"]


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_demo_tasks_runs_on_a_hugging_face_directory(tmp_path, kind: str) -> None:  # type: ignore[no-untyped-def]
    directory = _task_dir(tmp_path, kind)
    out = tmp_path / "out"
    args = ["demo", "tasks", "--model", str(directory), "--tasks", "ioi,greater-than", "--out", str(out), *_SMALL]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for task in ("ioi", "greater-than"):
        data = json.loads((out / task / "task.json").read_text())
        assert set(data["methods"]) == {"acdc", "eap", "eap-ig", "paths"}
        for method, row in data["methods"].items():
            # random weights: a circuit may do worse than the empty one, so CPR (area under f) can be
            # below 0; CMD (area of |1 - f|) cannot
            assert math.isfinite(row["cpr"]) and 0 <= row["cmd"], (task, method)
            mib = json.loads((out / task / f"mib-{method}.json").read_text())
            assert mib["cfg"]["n_layers"] == 2 and mib["edges"], (task, method)
        assert (out / task / "report.html").is_file() and (out / task / "mib.png").is_file()
    assert "ioi_roles" in json.loads((out / "ioi" / "task.json").read_text())
    assert (out / "report.html").is_file() and "greater-than" in result.output


def test_demo_tasks_refuses_an_unknown_task(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.taskmodel.command import _TASKS  # the command's list (it imports no torch)

    assert _TASKS == tuple(tasks.TASKS)
    result = CliRunner().invoke(cli, ["demo", "tasks", "--tasks", "ioi,sva", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown tasks ['sva']" in result.output


def test_the_demo_on_the_shipped_model_finds_faithful_circuits(tmp_path, shipped) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.taskmodel.demo import TaskDemoSettings, run_task

    settings = TaskDemoSettings(search_examples=16, test_examples=24, n_boot=50, ig_steps=2)
    data = run_task(shipped.model, shipped.tokenizer, "greater-than", tmp_path / "gt", settings, echo=lambda s: None)
    assert data["proof"]["accuracy"] >= 0.9
    for method, row in data["methods"].items():
        assert row["edges"] < data["n_edges"], method
        assert 0 < row["cpr"] <= 1.5 and row["cmd"] >= 0, (method, row["cpr"])
    assert pp.Circuit.load(tmp_path / "gt" / "circuit-paths.json").patterns


@pytest.mark.slow
def test_training_writes_a_model_directory_with_its_card(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.taskmodel.train import TasksConfig, train_tasks

    cfg = TasksConfig(
        steps=4, probe_every=2, task_examples=500, background_sentences=200, probe_examples=8, test_examples=8
    )
    card = train_tasks(cfg, tmp_path / "m", progress=False, log=lambda s: None)
    assert set(card["accuracy"]) == set(tasks.TASKS) and [h["step"] for h in card["history"]] == [2, 4]
    model = pp.load(tmp_path / "m")
    assert model.config.d_vocab == card["config"]["d_vocab"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "heldout.safetensors", "card.json"):
        assert (tmp_path / "m" / name).is_file()
