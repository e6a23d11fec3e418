"""The commands take a shipped model or a directory (``--model``), offer every δ, read ``--top``
as "matter most" everywhere, and refuse an option the chosen subcommand would ignore."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import pathpatch as pp
from pathpatch.cli import cli
from pathpatch.scans import ScanTable


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A tiny model directory with held-out text, as `pathpatch train induction` writes one."""
    d = tmp_path_factory.mktemp("m") / "tiny"
    model = pp.native_model(
        pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=6, n_ctx=10, positions="shortformer")
    )
    pp.save_model(model, d)
    heldout = torch.randint(0, 6, (20, 10), generator=torch.Generator().manual_seed(1))
    save_file({"tokens": heldout}, str(d / "heldout.safetensors"))
    return d


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output + (
        "" if result.exception is None or result.exit_code == 2 else repr(result.exception)
    )


def test_scan_takes_a_model_directory_and_logit_diff(model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out = run(
        "scan",
        "nodes",
        "--model",
        str(model_dir),
        "--delta",
        "logit_diff",
        "--examples",
        "6",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert code == 0, out
    assert f"the model in {model_dir}" in out and "delta=logit_diff" in out
    assert json.loads((tmp_path / "scan.json").read_text())["meta"]["delta"] == "logit_diff"


def test_discover_takes_a_model_directory_and_logit_diff(model_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out = run(
        "discover",
        "acdc",
        "--model",
        str(model_dir),
        "--delta",
        "logit_diff",
        "--examples",
        "6",
        "--quiet",
        "--out",
        str(tmp_path),
    )
    assert code == 0, out
    assert "delta=logit_diff" in out
    assert pp.Circuit.load(tmp_path / "circuit.json", model=pp.load(model_dir)).found_by["delta"] == "logit_diff"


def test_paths_takes_a_shipped_name_or_a_directory(model_dir) -> None:  # type: ignore[no-untyped-def]
    code, out = run("paths", "embed -> out", "--model", "numbers-4l", "--list", "0")
    assert code == 0 and out.startswith("1 of ") and "4 layers" in out, out
    code, out = run("paths", "embed -> out", "--model", str(model_dir), "--list", "0")
    assert code == 0 and out.startswith("1 of "), out


@pytest.mark.parametrize(
    "args, message",
    [
        (("scan", "nodes", "--receivers", "a1.6"), "--receivers is for `scan senders` only"),
        (("discover", "paths", "--threshold", "0.1"), "--threshold is for `discover acdc` only"),
        (("discover", "acdc", "--top", "4"), "--top is for `discover eap|eap-ig` only"),
        (("discover", "eap", "--ig-steps", "3"), "--ig-steps is for `discover eap-ig` only"),
        (("discover", "acdc", "--target", "0.5"), "--target is for `discover paths|eap|eap-ig` only"),
        (("discover", "acdc", "--planted", "chain", "--model", "numbers-4l"), "--model and --planted exclude"),
        (
            ("paths", "embed -> out", "--model", "induction-2l", "--layers", "3"),
            "--layers describes a graph without --model",
        ),
        (("demo", "--model", "x", "numbers"), "pass --model after `numbers`"),
    ],
)
def test_an_option_the_subcommand_would_ignore_is_refused(args, message) -> None:  # type: ignore[no-untyped-def]
    code, out = run(*args)
    assert code == 2 and message in out, out


def test_top_means_matter_most_in_the_api_as_on_the_command_line() -> None:
    values = {"a0.0": 0.3, "a0.1": -0.2, "m0": 0.9}
    rows = tuple((n, pp.Estimate(v, v - 0.1, v + 0.1)) for n, v in values.items())
    ablate = ScanTable("ablate", "proportion_explained", rows, pp.Report(()))
    restore = ScanTable("restore", "proportion_explained", rows, pp.Report(()))
    assert [n for n, _ in ablate.top(2)] == ["a0.1", "a0.0"]  # ablating what matters leaves little explained
    assert [n for n, _ in restore.top(2)] == ["m0", "a0.0"]
    assert [n for n, _ in ScanTable("ablate", "aue", rows, pp.Report(())).top(1)] == ["m0"]  # much unexplained
    assert ablate.top(2) == ablate.most_important(2) and ablate.by_value(1) == [("m0", rows[2][1])]
