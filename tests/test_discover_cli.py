"""`pathpatch discover` on planted circuits: each algorithm finds the true edges (ROC area 1.0)."""

import json

import pytest
from click.testing import CliRunner

from pathpatch.cli import cli
from pathpatch.discovery import Circuit
from pathpatch.discovery.command import PLANTED_TASKS
from pathpatch.discovery.planted import PLANTED, planted


def test_the_command_offers_every_planted_task() -> None:
    assert PLANTED_TASKS == PLANTED


@pytest.mark.parametrize(
    "algorithm, task, extra",
    [
        ("acdc", "chain", []),
        ("eap", "parallel", ["--top", "5"]),
        ("eap-ig", "mlp", ["--ig-steps", "3"]),
        ("paths", "direct", ["--target", "0.99"]),
    ],
)
def test_discover_recovers_a_planted_circuit(tmp_path, algorithm, task, extra) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / algorithm
    result = CliRunner().invoke(
        cli, ["discover", algorithm, "--planted", task, "--examples", "16", "--quiet", "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    assert "ROC area against the planted circuit: 1.000" in result.output
    assert json.loads((out / "roc.json").read_text())["auc"] == 1.0
    circuit = Circuit.load(out / "circuit.json")
    truth = planted(task, n=16).edges
    assert set(circuit.edges) == set(truth)
    assert circuit.found_by["algorithm"].startswith(algorithm.split("-")[0])
    assert (out / "roc.png").stat().st_size > 0
    if algorithm.startswith("eap"):
        assert (out / "faithfulness.png").stat().st_size > 0 and (out / "edge_scores.json").is_file()


def test_discover_rejects_an_unknown_task(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["discover", "acdc", "--planted", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "direct" in result.output
