"""Tests of the ``pathpatch`` command line (pathpatch.cli)."""

from __future__ import annotations

import html
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pathpatch.cli import cli
from pathpatch.graph import Graph
from pathpatch.model.config import ModelConfig
from pathpatch.report import Report
from tolerance import FORWARD, REDUCTION, approx, close


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_example_writes_report_files(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "example"
    result = runner.invoke(cli, ["example", "--out", str(out), "--examples", "16", "--quiet"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "all paths" in result.output
    assert "proportion explained" in result.output
    assert "ATE =" in result.output
    assert "mixed copies per batch" in result.output
    report = Report.from_json((out / "report.json").read_text())
    assert len(report) == 7
    assert report.meta["examples"] == 16
    page = (out / "report.html").read_text()
    assert page.count("<svg") >= 2 and all(html.escape(s.name) in page for s in report)  # two diagrams, every row
    for s in report:
        assert s.name in result.output
    full = report["all paths"].metrics
    assert full["proportion_explained"].value == approx(1.0, steps=REDUCTION)
    close(full["aue"].value, 0.0, steps=REDUCTION)
    assert report["no paths"].metrics["proportion_explained"].value == approx(0.0, steps=REDUCTION)
    assert report["no paths"].n_paths == 0
    assert report["direct: embed -> out"].n_paths == 1
    md = (out / "report.md").read_text()
    assert "| hypothesis |" in md and "all paths" in md
    engine = json.loads((out / "engine.json").read_text())
    assert engine["hypotheses"] == 7
    assert engine["paths_in_model"] == report["all paths"].n_paths
    png = out / "proportion_explained.png"
    assert png.stat().st_size > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paths_direct(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["paths", "embed -> out"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 of ")
    assert "  embed -> out" in result.output.splitlines()


def test_paths_count_matches_enumeration(runner) -> None:  # type: ignore[no-untyped-def]
    graph = Graph(ModelConfig(n_layers=2, n_heads=2, d_model=8, d_head=1, d_vocab=1, n_ctx=1, positions="shortformer"))
    every = list(graph.iter_paths())
    want = sum(
        any(p.node.kind == "head" and p.node.layer == 1 and p.channel == "k" for p in path.ports) for path in every
    )
    assert 0 < want < len(every)
    result = runner.invoke(cli, ["paths", "a1.*.k", "--layers", "2", "--heads", "2", "--list", "0"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{want} of {len(every)} paths (")
    assert len(lines) == 1  # --list 0: nothing listed


def test_paths_list_limit(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(
        cli, ["paths", "embed -> a0.* -> a1.*.k -> out", "--layers", "2", "--heads", "2", "--list", "3"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    n = int(lines[0].split()[0])
    assert n == 2 * 3 * 2  # a0.{0,1} via q/k/v, then a1.{0,1}.k
    assert len([line for line in lines if line.startswith("  embed ->")]) == 3
    assert lines[-1] == f"  ... {n - 3} more"


def test_help_mentions_the_path_language(runner) -> None:  # type: ignore[no-untyped-def]
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    assert "path language" in top.output and "paths --help" in top.output
    sub = runner.invoke(cli, ["paths", "--help"])
    assert sub.exit_code == 0
    for word in ("Letters:", "aL.H.c", "Wildcards", "...", "embed -> out"):
        assert word in sub.output


def test_example_help(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["example", "--help"])
    assert result.exit_code == 0
    assert "--examples" in result.output and "report.json" in result.output


def test_example_help_mentions_the_path_language(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["example", "--help"])
    assert result.exit_code == 0
    assert "path language" in result.output or "paths --help" in result.output


def test_bad_pattern_exits_2_with_column() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pathpatch.cli", "paths", "embed -> a0.x -> out"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "column" in proc.stderr
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


def _main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    from pathpatch.cli import main

    monkeypatch.setattr(sys, "argv", ["pathpatch", *args])
    with pytest.raises(SystemExit) as info:
        main()
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_main_unknown_node_exits_2_with_suggestions(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _main(monkeypatch, capsys, "paths", "embed -> a5.0.q -> out")
    assert code == 2
    assert out == ""
    assert "no node or port 'a5.0.q'" in err and "column 9" in err and "did you mean" in err


def test_main_usage_error_exits_2(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _main(monkeypatch, capsys, "paths")
    assert code == 2
    assert "Missing argument" in err


def test_paths_on_a_saved_model(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from conftest import tiny_model
    from pathpatch.model.native import save_model

    model = tiny_model("absolute", 12)
    save_model(model, tmp_path / "m")
    result = runner.invoke(cli, ["paths", "embed -> out", "m*", "--model", str(tmp_path / "m"), "--list", "0"])
    assert result.exit_code == 0, result.output
    graph = model.graph
    want = sum(
        path.name == "embed -> out" or any(p.node.kind == "mlp" for p in path.ports) for path in graph.iter_paths()
    )
    assert result.output.splitlines() == [f"{want} of {graph.count_paths()} paths ({graph.describe()})"]


def test_demo_small_runs_on_the_shipped_model(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["demo", "--out", str(tmp_path), "--examples", "6", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "previous-token heads ['a0.2']" in result.output
    assert "1 naive (Olsson et al.)" in result.output and "best compact set" in result.output
    for name in (
        "report.md",
        "report.json",
        "study.json",
        "proof.json",
        "head_scores.png",
        "proportion_explained.png",
        "refinements.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name


@pytest.mark.slow
def test_demo_reproduces_the_readme_numbers(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(cli, ["demo", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    report = Report.from_json((tmp_path / "report.json").read_text())
    naive = report["1 naive (Olsson et al.)"].metrics["proportion_explained"].value
    best = report["3 best compact (naive + top 8)"].metrics["proportion_explained"].value
    assert naive == pytest.approx(0.743, abs=0.002)
    assert best == pytest.approx(0.919, abs=0.002)
    assert report["1 naive (Olsson et al.)"].n_paths == 16


def _by_hand(model, pairs, hyp, delta: str) -> float:  # type: ignore[no-untyped-def]
    """Proportion explained of ``hyp`` recomputed from the clean, x_new and patched logits (float64)."""
    import torch

    import pathpatch as pp

    ref, new, mask, targets = pairs.ref.tokens, pairs.new_tokens, pairs.ref.target_mask, pairs.ref.target_tokens

    def per_example(values: torch.Tensor) -> torch.Tensor:  # [batch, pos] -> mean over target positions
        return (values * mask).sum(1) / mask.sum(1)

    def ce(logits: torch.Tensor) -> torch.Tensor:
        return per_example(-logits.double().log_softmax(-1).gather(-1, targets[..., None])[..., 0])

    def d(clean: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        if delta == "loss":
            return (ce(other) - ce(clean)).abs()
        log_p, log_q = clean.double().log_softmax(-1), other.double().log_softmax(-1)
        return per_example((log_p.exp() * (log_p - log_q)).sum(-1))

    with torch.no_grad():
        clean = model(ref)
        aue = d(clean, pp.evaluate(model, hyp, ref, new)).mean()
        ate = d(clean, model(new)).mean()
    return float(1 - aue / ate)


def test_scan_senders_on_the_shipped_model(runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`pathpatch scan` on the shipped model: sender sweep (rows checked by hand), every path under a
    memory bound, errors."""
    import pathpatch as pp
    from pathpatch.data import pair_derangement
    from pathpatch.induction.study import induction_dataset
    from pathpatch.zoo import bundle

    out = tmp_path / "scan"
    result = runner.invoke(
        cli, ["scan", "senders", "--receivers", "a1.6", "--examples", "8", "--quiet", "--top", "3", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "ablate scan of 10 senders" in result.output and "3 that matter most" in result.output
    data = json.loads((out / "scan.json").read_text())
    assert data["kind"] == "senders" and len(data["rows"]) == 10
    rows = {r["name"]: r["value"] for r in data["rows"]}
    shipped = bundle("induction-2l")
    pairs = pair_derangement(induction_dataset(shipped.heldout, 8, 0), 0)
    for sender in ("a0.2", "pos"):  # the previous-token head, and pos (which enters through q and k only)
        ports = [p for p in ("a1.6.q", "a1.6.k", "a1.6.v") if sender != "pos" or not p.endswith(".v")]
        hyp = pp.through_edge(sender, ports[0])
        for port in ports[1:]:
            hyp = hyp | pp.through_edge(sender, port)
        assert rows[sender] == approx(_by_hand(shipped.model, pairs, ~hyp, "kl"), steps=FORWARD), sender
    printed = [line.split()[0] for line in _table(result.output).splitlines()[1:4]]
    assert printed == [r["name"] for r in sorted(data["rows"], key=lambda r: r["value"])[:3]]
    result = runner.invoke(
        cli, ["scan", "paths", "--examples", "3", "--quiet", "--max-memory", "200MB", "--top", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "restore scan of 1041 paths" in result.output
    result = runner.invoke(cli, ["scan", "senders", "--quiet"])
    assert result.exit_code != 0 and "needs --receivers" in result.output


@pytest.fixture
def tiny_shipped(monkeypatch):  # type: ignore[no-untyped-def]
    """`pathpatch scan` on a tiny stand-in for the shipped model (same code path, fast)."""
    import torch

    import pathpatch.zoo as zoo
    from conftest import tiny_model
    from pathpatch.data import pair_derangement
    from pathpatch.induction.study import induction_dataset

    model = tiny_model("shortformer", None, n_heads=2, n_ctx=10, d_vocab=6, seed=4)
    heldout = torch.randint(0, 6, (30, 10), generator=torch.Generator().manual_seed(1))
    shipped = zoo.Bundle(model, None, heldout, {})
    monkeypatch.setattr(zoo, "bundle", lambda name="induction-2l": shipped)
    return model, pair_derangement(induction_dataset(heldout, 12, 0), 0)


def _scan(runner, tmp_path, *args: str) -> tuple[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    out = tmp_path / "_".join(a.strip("-") for a in args)
    result = runner.invoke(cli, ["scan", *args, "--examples", "12", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return _table(result.output), json.loads((out / "scan.json").read_text())


def _table(output: str) -> str:
    """The scan's output without its stage lines (``[1/2] ...``, printed even under --quiet)."""
    return "".join(line for line in output.splitlines(keepends=True) if not line.startswith("["))


def test_scan_nodes_modes_deltas_device_dtype(  # type: ignore[no-untyped-def]
    runner, tmp_path, tiny_shipped, monkeypatch, capsys
) -> None:
    """`scan nodes` with the default mode and delta, then --mode ablate --delta kl --device cpu, then
    --dtype bfloat16: every row checked by hand; a bad device is a clean error."""
    import torch

    import pathpatch as pp

    model, pairs = tiny_shipped
    nodes = ["a0.0", "a0.1", "a1.0", "a1.1"]
    runs = {}
    for args, mode, delta in [
        (("nodes", "--top", "0"), "restore", "kl"),
        (("nodes", "--mode", "ablate", "--delta", "loss", "--device", "cpu"), "ablate", "loss"),
    ]:
        output, data = _scan(runner, tmp_path, *args)
        assert output.startswith(f"{mode} scan of 4 nodes, proportion explained, 12 examples, delta={delta}")
        assert data["mode"] == mode and data["meta"]["delta"] == delta and data["kind"] == "nodes"
        assert [r["name"] for r in data["rows"]] == nodes
        for row in data["rows"]:
            hyp = pp.through(row["name"]) if mode == "restore" else ~pp.through(row["name"])
            assert row["value"] == approx(_by_hand(model, pairs, hyp, delta), steps=FORWARD), (mode, row)
        assert (tmp_path / "_".join(a.strip("-") for a in args) / "heads.png").stat().st_size > 0
        if mode == "ablate":  # the default --top 15 > 4 rows prints all of them, smallest first
            printed = [line.split()[0] for line in output.splitlines()[1:5]]
            assert printed == [r["name"] for r in sorted(data["rows"], key=lambda r: r["value"])]
        else:  # --top 0: every row in graph order
            assert [line.split()[0] for line in output.splitlines()[1:5]] == nodes
        runs[mode] = data
    assert runs["ablate"]["meta"]["device"] == "cpu" and runs["ablate"]["meta"]["dtype"] == "float32"
    _, half = _scan(runner, tmp_path, "nodes", "--top", "0", "--dtype", "bfloat16")
    assert half["meta"]["dtype"] == "bfloat16"
    # computed in bfloat16: a few bfloat16 roundings of a proportion (scale 1) off the float32 scan
    assert [r["value"] for r in half["rows"]] == approx(
        [r["value"] for r in runs["restore"]["rows"]], steps=8, dtype=torch.bfloat16
    )
    code, out, err = _main(
        monkeypatch, capsys, "scan", "nodes", "--device", "nonsense", "--quiet", "--out", str(tmp_path / "bad")
    )
    assert code == 2 and out == ""
    assert err.startswith("error: device='nonsense' is not a device torch knows") and "Traceback" not in err
    if not torch.cuda.is_available():
        code, _, err = _main(
            monkeypatch, capsys, "scan", "nodes", "--device", "cuda", "--quiet", "--out", str(tmp_path / "bad")
        )
        assert code == 2 and "torch sees no CUDA device here; use device='cpu'" in err


def test_scan_edges(runner, tmp_path, tiny_shipped) -> None:  # type: ignore[no-untyped-def]
    """`scan edges` (default: ablate each edge), rows by hand, the smallest printed first."""
    import pathpatch as pp

    model, pairs = tiny_shipped
    edges = model.graph.edges
    output, data = _scan(runner, tmp_path, "edges", "--delta", "kl", "--top", "3")
    assert data["mode"] == "ablate" and len(data["rows"]) == len(edges)
    assert output.startswith(
        f"ablate scan of {len(edges)} edges, proportion explained, 12 examples, delta=kl (3 that matter most)\n"
    )
    smallest = sorted(data["rows"], key=lambda r: r["value"])[:3]
    printed = [" ".join(line.split()[:3]) for line in output.splitlines()[1:4]]  # "u -> v.c"
    assert printed == [r["name"] for r in smallest]
    rows = {r["name"]: r["value"] for r in data["rows"]}
    ate = pp.Estimate.from_dict(data["ate"])  # printed, recorded, one precision for the rows
    assert f"\nATE = {ate} (x_new everywhere vs the clean run)\n" in output
    assert all(len(line.split()[3].split(".")[1]) == 3 for line in output.splitlines()[1:4])
    folder = tmp_path / "edges_delta_kl_top_3"
    for name in ("top.png", "circuit.png", "circuit.svg"):  # every scan writes a plot; edges also a diagram
        assert (folder / name).stat().st_size > 0, name
    assert data["graph"]["n_heads"] == 2
    for edge in (edges[0], edges[len(edges) // 2], edges[-1]):
        hyp = ~pp.through_edge(edge.sender, edge.receiver)
        assert rows[edge.name] == approx(_by_hand(model, pairs, hyp, "kl"), steps=FORWARD), edge.name


def test_train_tiny(runner, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`pathpatch train` for 2 steps of a d_model-16 model on a small corpus (the stdlib's json
    package); the written model, tokenizer, held-out data and card are checked by hand."""
    import math
    import sysconfig
    from pathlib import Path

    import torch
    import torch.nn.functional as F
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    import pathpatch.induction.train as train_module
    from pathpatch.induction.corpus import gather_files, heldout_sequences
    from pathpatch.model.config import NativeConfig
    from pathpatch.model.native import load_model_dir, native_model

    corpus = gather_files(Path(sysconfig.get_paths()["stdlib"]) / "json")
    monkeypatch.setattr(train_module, "gather_files", lambda: corpus)
    out = tmp_path / "model"
    result = runner.invoke(
        cli, ["train", "induction", "--out", str(out), "--steps", "2", "--d-model", "16", "--seed", "3", "--quiet"]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["steps"] == 2 and card["training"]["d_model"] == 16 and card["training"]["seed"] == 3
    assert card["config"]["d_model"] == 16 and card["config"]["d_head"] == 2 and card["config"]["n_heads"] == 8
    assert [h["step"] for h in card["history"]] == [2]
    assert card["uniform_loss"] == pytest.approx(math.log(1024))
    assert f"corpus: {len(corpus.train)} train files" in result.output
    assert f"held-out loss {card['heldout_loss']:.3f} (uniform {math.log(1024):.3f})" in result.output
    # the held-out windows are the held-out files encoded with the written tokenizer
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    eot = tokenizer.token_to_id("<|endoftext|>")
    ids: list[int] = []
    for path in corpus.heldout:
        ids += tokenizer.encode(path.read_text(encoding="utf-8", errors="replace")).ids + [eot]
    heldout = load_file(str(out / "heldout.safetensors"))["tokens"].long()
    assert heldout.shape[1] == 128 and torch.equal(heldout, heldout_sequences(torch.tensor(ids), 128))
    # the card's held-out loss is the written model's next-token loss on those windows
    model = load_model_dir(out)
    with torch.no_grad():
        logits = model(heldout[:500, :-1])
    want = F.cross_entropy(logits.reshape(-1, 1024).double(), heldout[:500, 1:].reshape(-1)).item()
    assert card["heldout_loss"] == approx(want, steps=REDUCTION)
    assert abs(want - math.log(1024)) < 1.0  # 2 steps from a small init: still near uniform
    # and two AdamW steps moved the weights away from the seeded initialisation
    init = native_model(NativeConfig(**card["config"]))
    assert (model.W_Q - init.W_Q).abs().max() > 1e-4
    assert tuple(model.W_E.shape) == (1024, 16)
