"""The standard tasks' generators: templates, named positions, counterfactuals, single-token
filtering with its report, disjoint splits, any tokenizer, and the greater-than metric."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Regex, Tokenizer, models
from tokenizers.pre_tokenizers import Sequence, Split, Whitespace, WhitespaceSplit

import pathpatch as pp
from conftest import tiny_model
from pathpatch import tasks
from pathpatch.errors import ArgumentError, InputError
from pathpatch.tasks import greater_than, ioi
from pathpatch.tasks.text import SPLITS, split_items
from pathpatch.tasks.words import NAMES
from tolerance import approx

_DIGITS = Split(Regex(r"\d\d"), behavior="isolated")


def word_tokenizer(
    names: list[str] | None = None, leave_out: set[str] = frozenset(), whitespace_only: bool = False
) -> Tokenizer:
    """A word-level tokenizer in which every word of the tasks (but ``leave_out``) is one token;
    ``whitespace_only`` splits at spaces only, so "store." is one (unknown) word."""
    pre = WhitespaceSplit() if whitespace_only else Sequence([Whitespace(), _DIGITS])
    words: set[str] = set()
    for task in names or list(tasks.TASKS):
        for text in tasks.lexicon(task):
            words |= {w for w, _ in Sequence([Whitespace(), _DIGITS]).pre_tokenize_str(text)}
    vocab = {w: i for i, w in enumerate(["[UNK]", *sorted(words - set(leave_out))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre
    return tok


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return word_tokenizer()


@pytest.fixture(scope="module")
def shipped() -> Tokenizer:
    return pp.bundle("induction-2l").tokenizer


def test_ioi_templates_positions_and_answers(tok: Tokenizer) -> None:
    assert len(ioi.FRAMES) == 15 and len(NAMES) >= 100
    assert sum(len(ioi.templates(s)) for s in SPLITS) == 30
    data = ioi.pairs(tok, seed=0, split="train", count=60)
    ref = data.ref
    assert len(data) == 60 and data.task == "ioi" and data.counterfactual == "abc"
    abba = baba = 0
    for i in range(len(data)):
        at, row = ref.names_at(i), ref.tokens[i]
        assert set(at) == {"IO", "S1", "S2", "END"}
        assert row[at["IO"]] == ref.target_tokens[i, at["END"]]
        assert row[at["S1"]] == row[at["S2"]] == ref.distractor_tokens[i, at["END"]]
        assert ref.target_mask[i].nonzero().flatten().tolist() == [at["END"]]
        assert data.texts[i].endswith(" to") and tok.id_to_token(int(row[at["END"]])) == "to"
        abba += at["IO"] < at["S1"]
        baba += at["IO"] > at["S1"]
    assert abba and baba  # both forms are drawn


def test_ioi_counterfactuals(tok: Tokenizer) -> None:
    abc = ioi.pairs(tok, seed=1, count=30, counterfactual="abc")
    flip = ioi.pairs(tok, seed=1, count=30, counterfactual="s2_io_flip")
    for data in (abc, flip):
        for i in range(len(data)):
            at = data.ref.names_at(i)
            ref, new = data.ref.tokens[i], data.new_tokens[i]
            slots = [at["IO"], at["S1"], at["S2"]]
            others = [p for p in range(len(ref)) if p not in slots]
            assert torch.equal(ref[others], new[others])  # only the names change
            if data is abc:
                names = {int(new[p]) for p in slots}
                assert len(names) == 3 and not names & {int(ref[at["IO"]]), int(ref[at["S1"]])}
            else:
                assert new[at["S2"]] == ref[at["IO"]] and new[at["S1"]] == ref[at["S1"]]
    assert abc.texts == flip.texts and torch.equal(abc.ref.tokens, flip.ref.tokens)  # one seed, one x_ref
    with pytest.raises(ArgumentError, match="counterfactual"):
        ioi.pairs(tok, counterfactual="abb")


@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_every_task_draws_aligned_pairs(tok: Tokenizer, task: str) -> None:
    module = tasks.TASKS[task]
    for kind in module.COUNTERFACTUALS:
        data = tasks.generate(task, tok, seed=3, split="validation", count=12, counterfactual=kind)
        assert isinstance(data, pp.Pairs) and data.counterfactual == kind and data.split == "validation"
        assert data.new_tokens.shape == data.ref.tokens.shape and len(data.texts) == len(data.new_texts) == 12
        assert data.report is not None and data.report.examples_dropped == 0
        assert all(v == data.report.offered[k] for k, v in data.report.kept.items())  # nothing dropped
        for i in range(len(data)):
            at = data.ref.names_at(i)
            end = at["END"]
            assert data.ref.target_tokens[i, end] != data.ref.distractor_tokens[i, end]
            # padding only after END, in both x_ref and x_new
            n = len(tok.encode(data.texts[i]).ids)
            assert end == n - 1 == len(tok.encode(data.new_texts[i]).ids) - 1
        # reproducible from the seed; another seed draws other examples
        again = tasks.generate(task, tok, seed=3, split="validation", count=12, counterfactual=kind)
        assert again.texts == data.texts and torch.equal(again.new_tokens, data.new_tokens)
        assert tasks.generate(task, tok, seed=4, split="validation", count=12, counterfactual=kind).texts != data.texts


def test_task_answers(tok: Tokenizer) -> None:
    gt = greater_than.pairs(tok, seed=0, count=20)
    for i in range(len(gt)):
        at = gt.ref.names_at(i)
        yy = int(tok.id_to_token(int(gt.ref.tokens[i, at["YY"]])))
        end = at["END"]
        assert tok.id_to_token(int(gt.ref.target_tokens[i, end])) == f"{yy + 1:02d}"
        assert tok.id_to_token(int(gt.ref.distractor_tokens[i, end])) == f"{yy:02d}"
        assert tok.id_to_token(int(gt.new_tokens[i, at["YY"]])) == "01" and gt.texts[i].endswith(" 17")
    agr = tasks.generate("agreement", tok, count=20)
    for i in range(len(agr)):
        at, text = agr.ref.names_at(i), agr.texts[i]
        subj = tok.id_to_token(int(agr.ref.tokens[i, at["SUBJ"]]))
        verb = tok.id_to_token(int(agr.ref.target_tokens[i, at["END"]]))
        plural = dict((p, True) for _, p in tasks.agreement.NOUNS).get(subj, False)
        assert verb in ({"are", "were", "have"} if plural else {"is", "was", "has"}), text
    pro = tasks.generate("pronouns", tok, count=20)
    female = set(tasks.words.FEMALE_NAMES)
    for i in range(len(pro)):
        name = tok.id_to_token(int(pro.ref.tokens[i, pro.ref.names_at(i)["NAME"]]))
        new = tok.id_to_token(int(pro.new_tokens[i, pro.ref.names_at(i)["NAME"]]))
        target = tok.id_to_token(int(pro.ref.target_tokens[i, pro.ref.names_at(i)["END"]]))
        assert target == ("she" if name in female else "he") and (name in female) != (new in female)
    doc = tasks.generate("docstring", tok, count=20)
    for i in range(len(doc)):
        at = doc.ref.names_at(i)
        row = doc.ref.tokens[i]
        assert doc.ref.target_tokens[i, at["END"]] == row[at["C"]] and row[at["A"]] == row[at["A2"]]
        assert doc.texts[i].endswith(":param")


@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_splits_are_disjoint_in_words_and_templates(tok: Tokenizer, task: str) -> None:
    module = tasks.TASKS[task]
    frames = [{t.text for t in module.templates(s)} for s in SPLITS]
    assert all(frames) and not (frames[0] & frames[1] or frames[0] & frames[2] or frames[1] & frames[2])
    assert set().union(*frames) == set(module.FRAMES)
    parts = [set(split_items(NAMES, s)) for s in SPLITS]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]) and set().union(*parts) == set(NAMES)
    # the names drawn into test prompts are test names: no training name leaks
    test = tasks.generate(task, tok, split="test", count=30)
    if task in ("ioi", "pronouns"):
        test_names = set(split_items(NAMES, "test"))
        for text in test.texts:
            assert not {w for w in tok.encode(text).tokens if w in set(NAMES)} - test_names


def test_single_token_filter_reports_every_drop() -> None:
    missing = {"Mary", "John", "Anna"}
    tok = word_tokenizer(["ioi"], leave_out=missing)
    reports = [ioi.fit(tok, s) for s in SPLITS]
    assert {d.item for r in reports for d in r.dropped("name")} == missing
    for r in reports:
        assert r.offered["name"] - r.kept["name"] == len(r.dropped("name"))
        assert all("unknown-word token" in d.reason for d in r.dropped("name"))
    data = ioi.pairs(tok, count=40)
    assert not missing & {w for text in data.texts for w in text.replace(".", " ").replace(",", " ").split()}
    assert data.report is not None and data.report.kept["name"] == reports[0].kept["name"]


def test_templates_that_tokenize_differently_are_dropped() -> None:
    tok = word_tokenizer(["ioi"], whitespace_only=True)  # "store." and "Then," are unknown words
    report = ioi.fit(tok, "train")
    assert report.kept["template"] < report.offered["template"]
    assert len(report.dropped("template")) == report.offered["template"] - report.kept["template"]
    kept = [t for t in ioi.templates("train") if t.name not in {d.item for d in report.dropped("template")}]
    for t in kept:  # what is kept has no punctuation glued to a word
        assert "," not in t.text and "." not in t.text


def test_shipped_tokenizer_fit_reports(shipped: Tokenizer) -> None:
    """The shipped byte-level BPE (1024 tokens) holds few whole words: the reports say which."""
    report = ioi.fit(shipped, "train")
    assert report.kept["name"] == 0 and len(report.dropped("name")) == report.offered["name"]
    assert "tokens" in report.dropped("name")[0].reason and "kept name 0/" in str(report)
    with pytest.raises(InputError, match="the tokenizer leaves 0 name"):
        ioi.pairs(shipped)
    doc = tasks.fit("docstring", shipped, "train")
    assert 0 < doc.kept["argument"] < doc.offered["argument"]
    data = tasks.generate("docstring", shipped, count=10)
    assert data.report is not None and data.report.kept["argument"] == doc.kept["argument"]
    assert all(isinstance(d.item, str) for d in data.report.drops)
    assert data.report.to_dict()["kept"] == data.report.kept


def test_hugging_face_tokenizer_gives_the_same_pairs(shipped: Tokenizer) -> None:
    transformers = pytest.importorskip("transformers")
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=shipped)
    a, b = tasks.generate("docstring", shipped, count=8), tasks.generate("docstring", hf, count=8)
    assert a.texts == b.texts and torch.equal(a.ref.tokens, b.ref.tokens) and torch.equal(a.new_tokens, b.new_tokens)
    assert "1024 tokens" in str(tasks.fit("ioi", hf)) and tasks.fit("ioi", hf).kept == tasks.fit("ioi", shipped).kept


def test_prob_diff_by_hand(tok: Tokenizer) -> None:
    data = greater_than.pairs(tok, seed=0, count=6)
    metric = data.metric
    assert isinstance(metric, tasks.ProbDiff) and metric.delta is metric
    years = metric.years
    logits = torch.randn(*data.ref.tokens.shape, tok.get_vocab_size(), generator=torch.Generator().manual_seed(0))
    got = metric.value(logits, data.ref)
    for i in range(len(data)):
        end = data.ref.names_at(i)["END"]
        p = logits[i, end].double().softmax(-1)[years]
        yy = int(tok.id_to_token(int(data.ref.distractor_tokens[i, end])))
        assert float(got[i]) == approx(float(p[yy + 1 :].sum() - p[: yy + 1].sum()), steps=200)
    assert float(metric(logits, logits, data.ref).abs().max()) == 0.0
    solved = metric.correct(logits, data.ref)
    for i in range(len(data)):
        end = data.ref.names_at(i)["END"]
        yy = int(tok.id_to_token(int(data.ref.distractor_tokens[i, end])))
        assert bool(solved[i]) == (int(logits[i, end][years].argmax()) > yy)


def test_task_pairs_score_on_a_model(tok: Tokenizer) -> None:
    vocab = tok.get_vocab_size()
    gt = greater_than.pairs(tok, seed=0, count=8)
    model = tiny_model(d_vocab=vocab, n_ctx=gt.ref.n_pos)
    report = pp.score(model, {"all": pp.paths(["..."])}, gt, delta=gt.metric.delta, n_boot=40, progress=False)
    assert report["all"].metrics["proportion_explained"].value == approx(1.0, steps=1000)
    data = ioi.pairs(tok, seed=0, count=8)
    model = tiny_model(d_vocab=vocab, n_ctx=data.ref.n_pos)
    with torch.no_grad():
        logits = model(data.ref.tokens)
    acc = tasks.accuracy(data.metric, logits, data.ref)
    assert acc == float((pp.metrics.logit_diff(logits, data.ref) > 0).double().mean())
    sub = data[2:5]
    assert isinstance(sub, tasks.TaskPairs) and sub.texts == data.texts[2:5] and sub.counterfactual == "abc"
