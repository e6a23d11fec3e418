"""Every bad input of the input-validation audit is a typed error with a helpful message, before any work."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import pathpatch as pp
from pathpatch.cli import cli
from pathpatch.errors import ArgumentError, DeviceError, EmptyPathSetError, UnreliableIntervalWarning
from pathpatch.estimates import Estimate, summarise

KW = dict(progress=False, n_boot=40)


@pytest.fixture(scope="module")
def model() -> pp.ResidualModel:
    return pp.native_model(
        pp.NativeConfig(
            n_layers=2, n_heads=2, d_model=16, d_head=4, d_vocab=20, n_ctx=8, positions="shortformer", init_std=0.3
        )
    )


@pytest.fixture(scope="module")
def data() -> pp.Dataset:
    return pp.Dataset.next_token(torch.randint(0, 20, (6, 6), generator=torch.Generator().manual_seed(0)))


@pytest.fixture(scope="module")
def pairs(data: pp.Dataset) -> pp.Pairs:
    return pp.pair_derangement(data)


# ---------------------------------------------------------------- silent wrong numbers


@pytest.mark.parametrize(
    "edge,why",
    [
        ("a1.0 -> a0.1.k", "a1.0 does not come before a0.1"),
        ("pos -> a0.1.v", "with shortformer positions, pos feeds only the q and k inputs"),
    ],
)
def test_edge_scan_of_a_missing_edge(model, pairs, edge, why) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmptyPathSetError, match=f"no edge {edge} in this model .*{why}"):
        pp.edge_scan(model, pairs, edges=[edge], **KW)
    with pytest.raises(EmptyPathSetError, match=f"no edge {edge}"):
        pp.score(model, [pp.through_edge(*edge.split(" -> "))], pairs, **KW)


def test_positional_edge_that_joins_no_positions(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmptyPathSetError, match=r"joins no positions of a 6-token sequence"):
        pp.score(model, [~pp.through_edge("a0.0@4", "a1.0.k@2")], pairs, **KW)
    # the same edge forwards in position is fine, and so is a key from an earlier position
    pp.evaluate(model, pp.through_edge("a0.0@2", "a1.0.k@4"), pairs.ref.tokens, pairs.new_tokens)


def test_backward_and_impossible_paths(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmptyPathSetError, match=r"'embed -> a1.0.v -> a0.1.v -> out' is no path of this model"):
        pp.path_scan(model, pairs, paths=["embed -> a1.0.v -> a0.1.v -> out"], **KW)
    with pytest.raises(EmptyPathSetError, match=r"'embed@5 -> a1.0.k@3' names no path .*6-token sequences"):
        pp.score(model, [pp.paths("embed@5 -> a1.0.k@3")], pairs, **KW)
    with pytest.raises(EmptyPathSetError, match=r"is no path"):
        pp.path_scan(model, pairs, paths=["embed@5 -> a1.0.k@3 -> out@3"], **KW)


def test_n_boot_too_small(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ArgumentError, match=r"n_boot=1 is too small for a 0.95 interval.*n_boot >= 20"):
        pp.score(model, [pp.all_paths()], pairs, progress=False, n_boot=1)
    with pytest.raises(ArgumentError, match=r"n_boot=99 is too small for a 0.99 interval.*n_boot >= 100"):
        pp.score(model, [pp.all_paths()], pairs, progress=False, n_boot=99, level=0.99)
    with pytest.warns(UnreliableIntervalWarning, match=r"n_boot=30 gives a rough 0.95 interval"):
        pp.score(model, [pp.all_paths()], pairs, progress=False, n_boot=30)


def test_cli_negative_examples_is_refused_at_once() -> None:
    result = CliRunner().invoke(cli, ["scan", "nodes", "--examples", "-5", "--quiet"])
    assert result.exit_code == 2 and "Invalid value for '--examples': -5 is not in the range x>=2" in result.output


# ---------------------------------------------------------------- raw crashes


def _saved(model: pp.ResidualModel, tmp_path: Path) -> Path:
    return pp.save_model(model, tmp_path / "m")


def test_config_that_is_not_json(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = _saved(model, tmp_path)
    (d / "config.json").write_text("{not json")
    with pytest.raises(pp.ModelLoadError, match=r"m/config.json is not valid JSON .*save_model"):
        pp.load(d)
    (d / "config.json").write_text("[1, 2]")
    with pytest.raises(pp.ModelLoadError, match=r"must hold a JSON object of config fields, got a list"):
        pp.load_model_dir(d)


def test_config_that_disagrees_with_the_weights(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = _saved(model, tmp_path)
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "d_model": 32}))
    with pytest.raises(
        pp.ModelLoadError,
        match=r"tensor W_E has shape \(20, 16\), but .*config.json implies "
        r"\(20, 32\); the config does not match the weights",
    ):
        pp.load(d)
    (d / "config.json").write_text(json.dumps({**config, "d_mlp": 8}))
    with pytest.raises(pp.ModelLoadError, match=r"lacks tensors \['W_in', .*config does not match"):
        pp.load(d)
    (d / "config.json").write_text(json.dumps({**config, "eps": "small"}))
    with pytest.raises(pp.ConfigError, match=r"config.json: eps must be a positive finite number, got 'small'"):
        pp.load(d)


def test_truncated_weights(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = _saved(model, tmp_path)
    raw = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(pp.ModelLoadError, match=r"cannot read the model in .*truncated or not safetensors"):
        pp.load(d)


def test_bad_devices_and_dtypes(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DeviceError, match=r"device='tpu' is not a device torch knows; use 'cpu'"):
        pp.score(model, [pp.all_paths()], pairs, device="tpu", **KW)
    with pytest.raises(TypeError, match=r"dtype must be a torch.dtype, got the string 'bfloat16'; pass torch.bfloat16"):
        pp.score(model, [pp.all_paths()], pairs, dtype="bfloat16", **KW)
    with pytest.raises(DeviceError, match=r"floating-point torch dtype"):
        pp.node_scan(model, pairs, dtype=torch.int32, **KW)
    result = CliRunner().invoke(cli, ["scan", "nodes", "--device", "tpu", "--quiet"])
    assert result.exit_code != 0 and isinstance(result.exception, DeviceError)


def test_cli_device_error_is_one_line(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.cli import main

    monkeypatch.setattr(sys, "argv", ["pathpatch", "scan", "nodes", "--device", "tpu"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: device='tpu' is not a device torch knows; use 'cpu', 'cuda', 'cuda:1' or 'mps'"


def test_evaluate_many_of_nothing(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pp.InputError, match=r"got no hypotheses; pass at least one"):
        pp.evaluate_many(model, [], pairs.ref.tokens, pairs.new_tokens)


def test_score_of_a_dataset(model, data) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(
        TypeError,
        match=r"pairs must be Pairs .*got a Dataset; pair it first: "
        r"pathpatch.pair_derangement\(dataset",
    ):
        pp.score(model, [pp.all_paths()], data, **KW)
    with pytest.raises(TypeError, match=r"got a Dataset"):
        pp.node_scan(model, data, **KW)


# ---------------------------------------------------------------- unclear messages


def test_load_of_a_missing_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pp.ModelLoadError, match=r"no directory '.*nowhere': the path does not exist"):
        pp.load(str(tmp_path / "nowhere"))
    with pytest.raises(pp.ModelLoadError, match=r"is a file; pass the directory"):
        (tmp_path / "f").write_text("x")
        pp.load(tmp_path / "f")


def test_paths_of_a_number() -> None:
    with pytest.raises(TypeError, match=r"paths\(\) takes a pattern string .*got int"):
        pp.paths(123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"through\(\) takes a node name"):
        pp.through(3)  # type: ignore[arg-type]


def test_sender_scan_names_the_unknown_node(model, pairs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pp.UnknownNodeError, match=r"no node or port 'a9.6' in this model \(2 layers x 2 heads"):
        pp.sender_scan(model, pairs, "a9.6", **KW)


def test_receivers_with_spaces() -> None:
    from pathpatch.scan_command import split_receivers

    assert split_receivers("a1.6, a1.7") == ["a1.6", "a1.7"]
    assert split_receivers(" a1.6.k ,m1,") == ["a1.6.k", "m1"]
    result = CliRunner().invoke(cli, ["scan", "senders", "--receivers", " , ", "--quiet"])
    assert result.exit_code == 2 and "needs --receivers" in result.output


@pytest.mark.slow
def test_receivers_with_spaces_scan(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        cli, ["scan", "senders", "--receivers", "a1.6, a1.7", "--examples", "3", "--quiet", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "[1/2] scanning senders" in result.output and "[2/2] scored 10 hypotheses" in result.output


def test_bogus_metric_is_refused_before_scoring(model, pairs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pathpatch.scans as scans

    monkeypatch.setattr(scans, "score", lambda *a, **k: pytest.fail("scored before checking the metric"))
    with pytest.raises(ArgumentError, match=r"unknown metric 'bogus'; choose one of \['ate', 'aue'"):
        pp.node_scan(model, pairs, metric="bogus", **KW)


# ---------------------------------------------------------------- two more


def test_evaluate_with_nan_weights(model, pairs) -> None:  # type: ignore[no-untyped-def]
    broken = pp.native_model(model.native_config)
    with torch.no_grad():
        broken.W_U[0, 0] = float("nan")
    with pytest.raises(pp.InputError, match=r"evaluate produced NaN or infinite logits; check the model's weights"):
        pp.evaluate(broken, pp.all_paths(), pairs.ref.tokens, pairs.new_tokens)
    with pytest.raises(pp.InputError, match=r"evaluate_many produced NaN"):
        pp.evaluate_many(broken, [pp.all_paths()], pairs.ref.tokens, pairs.new_tokens)


def test_evaluate_refuses_1d_tokens_like_dataset(model, pairs) -> None:  # type: ignore[no-untyped-def]
    one = pairs.ref.tokens[0]
    with pytest.raises(
        pp.InputError,
        match=r"ref_tokens must be 2-D \[batch, pos\], got shape \(6,\); add a batch "
        r"dimension with ref_tokens.unsqueeze\(0\)",
    ):
        pp.evaluate(model, pp.all_paths(), one, one)
    with pytest.raises(pp.InputError, match=r"tokens must be 2-D"):
        pp.Dataset.next_token(one)


# ---------------------------------------------------------------- intervals that mean something


def test_ratio_flagged_when_its_denominator_interval_includes_zero() -> None:
    rng = np.random.default_rng(0)
    per = {
        "delta_h": rng.random(40),
        "delta_empty": rng.random(40) + 0.5,
        "loss_h": rng.random(40),
        "loss_clean": rng.normal(1.0, 1.0, 40),
        "loss_new": rng.normal(1.05, 1.0, 40),
    }
    gap = per["loss_new"] - per["loss_clean"]
    boot = np.random.default_rng(0).integers(0, 40, (1000, 40))
    low, high = np.quantile(gap[boot].mean(1), [0.025, 0.975])
    assert low < 0 < high  # the independent check that this loss gap is indistinguishable from 0
    out = summarise(per, n_boot=1000)
    assert out["loss_recovered"].unreliable and "loss gap" in out["loss_recovered"].unreliable
    assert out["proportion_explained"].unreliable is None
    assert str(out["loss_recovered"]).endswith(" (!)")
    # a δ that can be negative: the ATE's interval includes 0, so every ratio is flagged
    per["delta_empty"] = rng.normal(0.05, 1.0, 40)
    flagged = summarise(per, n_boot=1000)
    assert "the ATE's interval" in flagged["proportion_explained"].unreliable  # type: ignore[operator]
    assert "the ATE's interval" in flagged["loss_recovered"].unreliable  # type: ignore[operator]


def test_report_table_json_and_markdown_carry_the_flag() -> None:
    bad = Estimate(-0.5, -4.9, 3.6, unreliable="the loss gap includes 0")
    report = pp.Report((pp.HypothesisScore("h", 3, {"loss_recovered": bad, "aue": Estimate(1.0, 0.9, 1.1)}),))
    text = str(report)
    assert "-0.500 [-4.900, 3.600] (!)" in text and "(!) unreliable loss recovered: the loss gap includes 0" in text
    assert "(!) unreliable loss recovered" in report.to_markdown()
    back = pp.Report.from_json(report.to_json())
    assert back["h"].metrics["loss_recovered"].unreliable == "the loss gap includes 0"
    assert "unreliable" not in json.loads(report.to_json())["scores"][0]["metrics"]["aue"]


@pytest.mark.slow
def test_quick_start_flags_its_loss_recovered() -> None:
    model = pp.native_model(
        pp.NativeConfig(
            n_layers=2,
            n_heads=4,
            d_model=64,
            d_head=16,
            d_vocab=64,
            n_ctx=32,
            d_mlp=128,
            positions="shortformer",
            init_std=0.2,
        )
    )
    tokens = torch.randint(0, 64, (128, 24), generator=torch.Generator().manual_seed(0))
    pairs = pp.pair_derangement(pp.Dataset.next_token(tokens), seed=0)
    naive = pp.paths(["embed -> out", "embed -> a1.*.v -> out"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default n_boot draws no warning
        report = pp.score(model, {"naive": naive}, pairs, progress=False)
    assert str(report["naive"].metrics["loss_recovered"]) == "-0.518 [-4.894, 3.582] (!)"
    assert report["naive"].metrics["proportion_explained"].reliable


# ---------------------------------------------------------------- startup


def test_help_does_not_import_torch() -> None:
    code = "import sys; from pathpatch.cli import cli; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "False", run.stderr


def test_lazy_package_exports_every_name() -> None:
    for name in pp.__all__:
        assert getattr(pp, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        pp.nonsense  # noqa: B018


def test_no_public_name_is_also_a_submodule() -> None:
    """A package that exports ``f`` from a submodule also named ``f`` hands out the module instead of
    the function once anything imports ``package.f`` (Python sets the attribute on import), so which
    one a caller gets would depend on import order."""
    import pkgutil
    from importlib import import_module

    packages = [pp] + [import_module(m.name) for m in pkgutil.walk_packages(pp.__path__, "pathpatch.") if m.ispkg]
    clashes = {
        package.__name__: sorted(set(package.__all__) & {m.name for m in pkgutil.iter_modules(package.__path__)})
        for package in packages
        if hasattr(package, "__all__")
    }
    assert not any(clashes.values()), clashes


def test_more_wrong_types_and_values(model, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=r"pair_derangement takes a pathpatch.Dataset .*got Tensor"):
        pp.pair_derangement(data.tokens)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"seed must be an int, got str"):
        pp.pair_derangement(data, seed="0")  # type: ignore[arg-type]
    with pytest.raises(pp.InputError, match=r"n_pos is the sequence length, a positive int, got 0"):
        pp.through("a1.0@0").count(model, n_pos=0)
    with pytest.raises(pp.InputError, match=r"limit must be None \(all paths\) or a non-negative int, got -1"):
        pp.all_paths().list(model, limit=-1)
    assert pp.all_paths().list(model, limit=0) == []
    with pytest.raises(TypeError, match=r"save_model: model must be a pathpatch ResidualModel"):
        pp.save_model("model", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"dtype must be a torch.dtype, got the string 'float32'"):
        pp.native_model(model.native_config, dtype="float32")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"subgraph\(\) takes a list of edges"):
        pp.subgraph("a0.0 -> a1.0.k")
