"""The shipped counting model ``numbers-4l``: loads offline, fixed logits, it counts, and the number
study runs on it end to end (checked against hand computations)."""

from __future__ import annotations

import json

import pytest
import torch

import pathpatch as pp
from conftest import check_logits_checksum
from pathpatch.counting.probe import prove_counting
from pathpatch.counting.task import number_task
from pathpatch.lang.cut import only_at
from tolerance import FORWARD, REDUCTION, approx

# Recorded when the model was shipped (see src/pathpatch/assets/numbers-4l/card.json).
FIXED_INPUT = torch.arange(0, 1195, 23)[None, :52]
CHECKSUM = {"sum": -135339.1045637587, "abs_sum": 223125.55870473478, "first": [1.740053, -4.219316, -3.079311]}


@pytest.fixture(scope="module")
def shipped() -> pp.zoo.Bundle:  # type: ignore[name-defined]
    return pp.bundle("numbers-4l")


def test_loads_offline_with_its_tokenizer(shipped) -> None:  # type: ignore[no-untyped-def]
    cfg = shipped.model.config
    assert (cfg.n_layers, cfg.n_heads, cfg.positions, cfg.norm, cfg.act) == (4, 8, "absolute", True, "gelu")
    assert cfg.d_mlp == 4 * cfg.d_model
    assert shipped.tokenizer.get_vocab_size() == cfg.d_vocab
    assert shipped.tokenizer.token_to_id("<|endoftext|>") == 0
    for n in range(200):  # every number of the task is one token, decoded back to itself
        ids = shipped.tokenizer.encode(f" {n}").ids
        assert len(ids) == 1 and shipped.tokenizer.decode(ids) == f" {n}", n
    text = "def f(x):\n    return x[3] + 12\n"
    assert shipped.tokenizer.decode(shipped.tokenizer.encode(text).ids) == text
    assert shipped.card["name"] == "numbers-4l" and shipped.heldout.shape[1] == cfg.n_ctx
    size = sum((pp.zoo.shipped_dir("numbers-4l") / f).stat().st_size for f in ("model.safetensors", "tokenizer.json"))
    assert size < 15e6


def test_logits_match_the_stored_checksum(shipped) -> None:  # type: ignore[no-untyped-def]
    check_logits_checksum(shipped.model, FIXED_INPUT, CHECKSUM)


def test_it_counts(shipped) -> None:  # type: ignore[no-untyped-def]
    """Top-1 accuracy of " s+3" after "<|endoftext|> s s+1 s+2" over every s whose numbers are
    single tokens (0..196), recomputed here from the logits, and equal to the card's."""
    task = number_task(shipped.tokenizer, 0, 196)
    assert len(task.starts) == 197
    tokens = task.pairs.ref.tokens
    assert tokens[:, 0].eq(0).all()  # the model's own <|endoftext|> first
    with torch.no_grad():
        top = shipped.model(tokens)[:, -1].argmax(-1)
    want = torch.tensor([shipped.tokenizer.token_to_id(f"Ġ{s + 3}") for s in task.starts])
    accuracy = float((top == want).double().mean())
    assert accuracy >= 0.9
    proof = prove_counting(shipped.model, shipped.tokenizer, 0, 196)
    assert proof.accuracy == pytest.approx(accuracy) and proof.prompts == 197
    assert shipped.card["accuracy"] == pytest.approx(accuracy) and proof.logit_diff > 0


def test_study_end_to_end_on_a_few_prompts(shipped, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from pathpatch.cli import cli

    out = tmp_path / "numbers"
    result = CliRunner().invoke(
        cli,
        [
            "demo",
            "numbers",
            "--first",
            "20",
            "--last",
            "35",
            "--max-nodes",
            "3",
            "--boot",
            "100",
            "--out",
            str(out),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "counting: top-1 accuracy" in result.output and "path search kept" in result.output
    for name in (
        "report.html",
        "report.md",
        "report.json",
        "study.json",
        "trace.png",
        "search.png",
        "proportion_explained.png",
        "circuit.png",
        "circuit.svg",
    ):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    study = json.loads((out / "study.json").read_text())
    proof = prove_counting(shipped.model, shipped.tokenizer, 20, 35)
    assert report["accuracy"] == pytest.approx(proof.accuracy) and report["counting"]["prompts"] == 16
    assert report["graph"]["n_layers"] == 4 and {"logit_diff", "scores", "description"} <= set(report)
    rows = {r["name"]: r for r in report["scores"]}
    assert rows["direct only (no node at the last position)"]["hypothesis"] == {
        "op": "&",
        "a": {"only_at": [-1, []]},
        "b": {"paths": ["... -> out@-1"]},
    }
    # the path search's nodes, rescored by hand: |Δ loss| of pp.evaluate's logits on the same pairs
    task = number_task(shipped.tokenizer, 20, 35)
    ref, new, targets = task.pairs.ref.tokens, task.pairs.new_tokens, task.pairs.ref.target_tokens[:, -1]
    name = next(n for n in rows if n.startswith("path search"))
    hyp = only_at(-1, study["path_nodes"])

    def loss(logits: torch.Tensor) -> torch.Tensor:
        return -logits[:, -1].double().log_softmax(-1).gather(1, targets[:, None])[:, 0]

    with torch.no_grad():
        clean, ablated, patched = (
            loss(shipped.model(ref)),
            loss(shipped.model(new)),
            loss(pp.evaluate(shipped.model, hyp, ref, new)),
        )
    want = 1 - (patched - clean).abs().mean() / (ablated - clean).abs().mean()
    assert rows[name]["metrics"]["proportion_explained"]["value"] == approx(float(want), steps=FORWARD)
    every = rows["every node at the last position (all paths)"]["metrics"]["proportion_explained"]["value"]
    assert every == approx(1.0, steps=REDUCTION)
    # what each method needs: the path search's first steps and the tracing's first cells, counted again
    for row in study["info"]["needed"]:
        level, claim = row["level"], row["path_search"]
        i = next((i for i, st in enumerate(study["search"]) if st["proportion_explained"] >= level), None)
        assert (claim is None) == (i is None), level
        if claim is not None:
            assert claim["nodes"] == i
            assert claim["paths"] == (only_at(-1, study["path_nodes"][:i]) & pp.paths("... -> out@-1")).count(
                shipped.model, n_pos=4
            )
    html = (out / "report.html").read_text()
    assert "<svg" in html and "circuit.svg" in html and "accuracy" in html


def test_train_numbers_tiny(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`pathpatch train numbers` for 2 steps of a d_model-16 model on a small corpus (the stdlib's
    json package) and 200 counting documents: the written model, tokenizer, data and card."""
    import sysconfig
    from pathlib import Path

    from click.testing import CliRunner
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    import pathpatch.counting.train as train_module
    from pathpatch.cli import cli
    from pathpatch.induction.corpus import gather_files

    corpus = gather_files(Path(sysconfig.get_paths()["stdlib"]) / "json")
    monkeypatch.setattr(train_module, "gather_files", lambda: corpus)
    out = tmp_path / "model"
    result = CliRunner().invoke(
        cli,
        [
            "--threads",
            "1",
            "train",
            "numbers",
            "--out",
            str(out),
            "--steps",
            "2",
            "--d-model",
            "16",
            "--counting-docs",
            "200",
            "--seed",
            "3",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["steps"] == 2 and card["training"]["seed"] == 3 and card["threads"] == 1
    assert card["config"]["d_model"] == 16 and card["config"]["d_mlp"] == 64 and card["config"]["n_layers"] == 4
    assert card["config"]["positions"] == "absolute" and [h["step"] for h in card["history"]] == [2]
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert card["config"]["d_vocab"] == tokenizer.get_vocab_size()
    assert all(len(tokenizer.encode(f" {n}").ids) == 1 for n in range(200))
    model = pp.load(out)
    proof = prove_counting(model, tokenizer, 0, 196)
    assert card["accuracy"] == pytest.approx(proof.accuracy) and card["counting"]["prompts"] == 197
    held = load_file(str(out / "heldout.safetensors"))["tokens"].long()
    assert held.shape[1] == card["config"]["n_ctx"] and bool((held[:, 0] == 0).all())  # windows start at EOT
    assert f"counting accuracy {card['accuracy']:.3f}" in result.output


def test_counting_text_and_number_merges() -> None:
    from pathpatch.counting.corpus import counting_text, number_tokenizer

    docs = counting_text(300, seed=0)
    assert docs == counting_text(300, seed=0) and docs != counting_text(300, seed=1)
    bare = [d for d in docs if d.startswith(" ")]
    assert len(bare) > 60  # the task's own form is common
    steps = {int(b.split()[1]) - int(b.split()[0]) for b in bare}
    assert {1, 2, -1} <= steps  # not only +1: the next number depends on more than the last one
    tokenizer = number_tokenizer(docs, 300)
    for n in (0, 7, 42, 100, 199):
        assert tokenizer.encode(f" {n}").tokens == [f"Ġ{n}"]
    assert len(tokenizer.encode(" 1234").ids) == 2 and tokenizer.token_to_id("<|endoftext|>") == 0


@pytest.mark.slow
def test_demo_numbers_reproduces_the_readme(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`pathpatch demo numbers` with the defaults gives the README's numbers (and the README says them)."""
    from pathlib import Path

    from click.testing import CliRunner

    from pathpatch.cli import cli

    result = CliRunner().invoke(cli, ["demo", "numbers", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((tmp_path / "report.json").read_text())
    study = json.loads((tmp_path / "study.json").read_text())
    assert report["accuracy"] == 1.0 and report["counting"]["prompts"] == 197
    assert study["path_nodes"] == ["a1.0", "a1.1", "m0", "m3", "a1.3", "m1", "a0.4", "m2"]
    assert study["tracing_cells"] == ["attn1@3", "mlp3@3", "mlp2@3", "mlp1@3", "mlp0@3"]
    rows = {r["name"]: r for r in report["scores"]}
    logit = {r["name"]: r["metrics"]["proportion_explained"]["value"] for r in report["logit_diff"]["scores"]}
    want = {
        "direct only (no node at the last position)": (2, 0.491, 0.347),
        "path search (8 nodes)": (26816, 0.903, 0.664),
        "causal-tracing cells (5 cells, 12 nodes)": (63776, 0.930, 0.742),
        "every node at the last position (all paths)": (213767200, 1.0, 1.0),
    }
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name, (paths, loss, diff) in want.items():
        assert rows[name]["n_paths"] == paths, name
        assert rows[name]["metrics"]["proportion_explained"]["value"] == pytest.approx(loss, abs=0.002), name
        assert logit[name] == pytest.approx(diff, abs=0.002), name
        assert f"{paths:,}" in readme and (loss == 1.0 or f"{loss:.3f}" in readme), name
    needed = {r["level"]: (r["path_search"], r["tracing"]) for r in study["info"]["needed"]}
    want_needed = {
        0.6: ((2, 1982), (8, 7922)),
        0.7: ((4, 3992), (8, 7922)),
        0.8: ((6, 11968), (10, 31688)),
        0.9: ((8, 26816), (12, 63776)),
    }
    for level, (p, t) in want_needed.items():
        assert (needed[level][0]["nodes"], needed[level][0]["paths"]) == p, level
        assert (needed[level][1]["nodes"], needed[level][1]["paths"]) == t, level
        assert f"| {level} | {p[0]} ({p[1]:,} paths) | {t[0]} ({t[1]:,} paths) |" in readme, level
    attention = study["info"]["attention"]
    assert attention["a0.4"][2] > 0.95  # the previous-token head
    assert all(0.44 < attention[h][2] < 0.5 for h in ("a1.0", "a1.1", "a1.3"))
    assert "top-1 accuracy 1.000** on all 197 prompts" in readme and "logit difference of s+3" in readme
