"""The README's claims hold at the defaults it states: each command is run as the README writes it
and its numbers are looked for in the README's own text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from pathpatch.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def roc(output: str) -> str:
    return re.search(r"ROC area against the planted circuit: ([0-9.]+)", output).group(1)  # type: ignore[union-attr]


def test_path_search_at_the_default_target_as_the_readme_says(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cell = next(line for line in README.splitlines() if line.startswith("| planted:"))
    outs = {}
    for task, want in (("direct", "1.000"), ("parallel", "0.700"), ("induction", "0.700")):
        outs[task] = run("discover", "paths", "--planted", task, "--quiet", "--out", str(tmp_path / task))
        assert roc(outs[task]) == want, (task, outs[task])
    assert "default `--target 0.9`: 1.000 on direct, chain and mlp, 0.700 on induction* and parallel" in cell
    assert "the stronger of the two planted paths alone explains 0.921" in README
    assert "paths: 1 patterns, 2 edges, proportion explained 0.921" in outs["parallel"]


def test_an_attribution_roc_says_it_ranks_every_edge(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = run("discover", "eap", "--planted", "induction", "--quiet", "--out", str(tmp_path))
    assert "ROC area against the planted circuit: 1.000, ranking all " in out
    assert (
        "edges by |score| (1.000: every true edge outranks every false one); the circuit, the top 2, holds 2 of 5"
        in out
    )
    assert "2 of the 5 true edges (and no false one) although the ranking is perfect" in README


def test_the_example_rows_say_what_they_hold_and_exact_ratios_are_not_flagged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = run("example", "--out", str(tmp_path), "--examples", "32", "--quiet")
    rows = {line.split("|")[0].strip(): line for line in out.splitlines() if "|" in line}
    assert "layer-1 heads via v only" not in rows and "direct, MLPs and layer-1 heads via v" in rows
    assert not rows["all paths"].endswith("(!)") and not rows["no paths"].endswith("(!)")
    assert "1.000 [1.000, 1.000]" in rows["all paths"]


def test_the_numbers_demo_time_is_stated_as_measured() -> None:
    assert "numbers-4l: about 10 seconds on 2 cores" in README  # 9-12 s measured (2026-12-03, 2 cores, loaded)


@pytest.mark.slow
def test_node_scan_figures_at_the_readme_command(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert "`pathpatch scan nodes --examples 100 --delta loss`" in README
    run("scan", "nodes", "--examples", "100", "--delta", "loss", "--quiet", "--out", str(tmp_path))
    rows = {r["name"]: r["value"] for r in json.loads((tmp_path / "scan.json").read_text())["rows"]}
    for head in ("a1.7", "a1.0", "a0.2"):
        assert f"{head} ({rows[head]:.3f})" in README, head


@pytest.mark.slow
def test_the_number_studys_trace_value_is_the_readmes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run("demo", "numbers", "--out", str(tmp_path), "--quiet")
    rows = json.loads((tmp_path / "study.json").read_text())["trace"]["rows"]
    cell = next(r for r in rows if r["kind"] == "attn" and r["layer"] == 1 and r["position"] == 3)
    text = " ".join(README.split())
    assert f"attention layer 1 at the last position ({cell['value']:.3f} of the effect restored on its own;" in text
    curve = json.loads((tmp_path / "study.json").read_text())["tracing_curve"][0]
    assert curve["name"] == "attn1@3"
    assert f"its heads there, scored as a path hypothesis, explain {curve['proportion_explained']:.3f})" in text
