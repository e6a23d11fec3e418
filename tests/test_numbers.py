"""The GPT-2 number study end to end on random-init GPT-2s (no weights exist here, nothing is
downloaded): structure, shapes, finite numbers and report files. A word-level tokenizer with GPT-2's
conventions (" 12" is one token, "<|endoftext|>" the separator) stands in for GPT-2's BPE."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from hooked import restore_with_hook
from pathpatch.cli import cli
from pathpatch.counting.task import number_logit_diff, number_task
from pathpatch.data import Dataset
from pathpatch.errors import InputError, ModelLoadError
from pathpatch.lang.cut import only_at
from tolerance import FORWARD, REDUCTION, approx, close

pytestmark = pytest.mark.numeric

transformers = pytest.importorskip("transformers")


def number_tokenizer(vocab_size: int):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    vocab = {"<unk>": 0, "<|endoftext|>": vocab_size - 1}
    vocab.update({f" {n}": n + 1 for n in range(0, 120)})
    return Tokenizer(WordLevel(vocab, unk_token="<unk>"))


def gpt2_dir(tmp_path, **kw):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    args = dict(n_layer=2, n_head=4, n_embd=32, vocab_size=128, n_positions=16)
    args.update(kw)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**args)).eval()
    hf.save_pretrained(tmp_path / "gpt2")
    number_tokenizer(args["vocab_size"]).save(str(tmp_path / "gpt2" / "tokenizer.json"))
    return tmp_path / "gpt2"


def test_task_prompts_and_metric() -> None:
    task = number_task(number_tokenizer(128))
    tokens = task.pairs.ref.tokens
    assert tokens.shape == (100, 4) and len(task.starts) == 100
    assert tokens[0].tolist() == [127, 2, 3, 4] and task.pairs.ref.target_tokens[0, -1] == 5  # " 1 2 3" -> " 4"
    assert not bool((task.pairs.new_tokens == tokens).all(1).any())  # x_new is always another prompt
    assert len(task.numbers) == 100
    logits = torch.zeros(1, 4, 128)
    logits[0, -1, 5] = 3.0
    data = Dataset(tokens[:1], task.pairs.ref.target_mask[:1], task.pairs.ref.target_tokens[:1])
    assert number_logit_diff(logits, data, task.numbers).item() == pytest.approx(3.0)
    with pytest.raises(InputError, match="single-token numbers"):
        number_task(number_tokenizer(128), first=200, last=300)


def test_only_at_equals_its_pattern_form() -> None:
    from conftest import tiny_model
    from pathpatch.engine.api import evaluate

    model = tiny_model("absolute", 12, seed=3)
    gen = torch.Generator().manual_seed(0)
    ref, new = torch.randint(0, 11, (2, 4), generator=gen), torch.randint(0, 11, (2, 4), generator=gen)
    for keep in [[], ["a0.1"], ["a1.0", "m0"], ["a0.0", "a0.1", "a1.0", "a1.1", "m0", "m1"]]:
        h = only_at(-1, keep)
        p = h.pattern_equivalent(model.graph)
        assert h.count(model, n_pos=4) == p.count(model, n_pos=4)
        close(evaluate(model, h, ref, new), evaluate(model, p, ref, new), steps=REDUCTION)


def test_numbers_cli_end_to_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model_dir = gpt2_dir(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "demo",
            "numbers",
            "--model",
            str(model_dir),
            "--out",
            str(out),
            "--max-nodes",
            "2",
            "--boot",
            "100",
            "--batch-size",
            "50",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "path search kept" in result.output
    for name in [
        "report.html",
        "report.md",
        "report.json",
        "study.json",
        "trace.png",
        "search.png",
        "proportion_explained.png",
        "circuit.png",
    ]:
        assert (out / name).stat().st_size > 0, name
    study = json.loads((out / "study.json").read_text())
    rows = study["trace"]["rows"]
    assert len(rows) == 3 * 2 * 4  # resid/attn/mlp x 2 layers x 4 positions
    # every cell by hand: restore that module's output at that position in GPT-2's own x_new run (hooks)
    hf = transformers.GPT2LMHeadModel.from_pretrained(model_dir).eval()
    task = number_task(number_tokenizer(128))
    ref, new, data = task.pairs.ref.tokens, task.pairs.new_tokens, task.pairs.ref
    with torch.no_grad():
        clean, ablated = hf(ref).logits, hf(new).logits
    for r in rows:
        block = hf.transformer.h[r["layer"]]
        module = {"resid": block, "attn": block.attn, "mlp": block.mlp}[r["kind"]]
        patched = restore_with_hook(hf, module, ref, new, r["position"])
        assert r["value"] == approx(_proportion(clean, ablated, patched, data), steps=FORWARD), r
    # the last block's residual at the last position is the whole output there
    last = [r for r in rows if r["kind"] == "resid" and r["layer"] == 1 and r["position"] == 3][0]
    assert last["value"] == approx(1.0, steps=REDUCTION)
    assert 1 <= len(study["search"]) <= 3
    report = json.loads((out / "report.json").read_text())
    assert {"scores", "graph", "accuracy", "counting", "logit_diff"} <= set(report)
    assert report["accuracy"] == report["counting"]["accuracy"] and report["counting"]["prompts"] == 100
    reports = {"loss": report, "logit_diff": report["logit_diff"]}
    # "direct only": no head or MLP at the last position reads x_ref, so out's input there is x_new's
    # final residual with x_new's token embedding swapped for x_ref's (positions are equal)
    swap = hf.transformer.wte.weight[ref[:, -1]] - hf.transformer.wte.weight[new[:, -1]]

    def direct(mod, args):  # type: ignore[no-untyped-def]
        hidden = args[0].clone()
        hidden[:, -1] += swap
        return (hidden,)

    with torch.no_grad():
        handle = hf.transformer.ln_f.register_forward_pre_hook(direct)
        patched = hf(new).logits
        handle.remove()
    want = {
        "loss": _proportion(clean, ablated, patched, data),
        "logit_diff": _proportion(clean, ablated, patched, data, task.numbers),
    }
    for key, r in reports.items():
        values = [s["metrics"]["proportion_explained"]["value"] for s in r["scores"]]
        assert r["scores"][0]["name"] == "direct only (no node at the last position)"
        assert values[0] == approx(want[key], steps=FORWARD), key
        assert values[-1] == approx(1.0, steps=REDUCTION)
    sp = study["info"]["specificity"]
    assert sp["paths_path"] > 0 and sp["paths_tracing"] > 0
    # paths are counted at the last position only (the metric reads nothing else): "direct only" holds
    # embed@3 -> out@3 and pos@3 -> out@3
    assert study["info"]["paths_at_last_position"]["direct only (no node at the last position)"] == 2


def _proportion(clean, ablated, patched, data, numbers=None) -> float:  # type: ignore[no-untyped-def]
    """1 − mean|Δ|(patched) / mean|Δ|(ablated), Δ of the loss at the last position (or, with
    ``numbers``, of the logit of the answer minus the mean logit of the other answers)."""
    target = data.target_tokens[:, -1]

    def measure(logits):  # type: ignore[no-untyped-def]
        last = logits[:, -1].double()
        if numbers is None:
            return -last.log_softmax(-1).gather(-1, target[:, None])[:, 0]
        others = numbers[None, :] != target[:, None]  # [batch, answer]
        rivals = (last[:, numbers] * others).sum(1) / others.sum(1)
        return last.gather(-1, target[:, None])[:, 0] - rivals

    base = measure(clean)
    return float(1 - (measure(patched) - base).abs().mean() / (measure(ablated) - base).abs().mean())


def test_numbers_needs_a_tokenizer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model_dir = gpt2_dir(tmp_path)
    (model_dir / "tokenizer.json").unlink()
    result = CliRunner().invoke(cli, ["demo", "numbers", "--model", str(model_dir)])
    assert isinstance(result.exception, ModelLoadError)
    assert "no tokenizer for" in str(result.exception) and "tokenizer.save_pretrained(DIR)" in str(result.exception)


@pytest.mark.slow
def test_numbers_on_a_gpt2_small_shaped_random_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.counting.study import run_numbers
    from pathpatch.model.hf_gpt2 import from_hf

    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config()).eval()  # 12 layers x 12 heads, d_model 768
    study = run_numbers(
        from_hf(hf),
        number_tokenizer(50257),
        tmp_path,
        max_nodes=2,
        n_boot=100,
        batch_size=25,
        progress=False,
        echo=lambda s: None,
    )
    assert len(study.trace.rows) == 3 * 12 * 4
    assert all(math.isfinite(r.estimate.value) for r in study.trace.rows)
    assert (tmp_path / "report.md").stat().st_size > 0
