"""Messages that point the right way: each names the real reason and what to do."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import pathpatch as pp
from pathpatch.cli import cli
from pathpatch.discovery import Circuit


@pytest.fixture(scope="module")
def model() -> pp.ResidualModel:
    return pp.native_model(
        pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8, positions="shortformer")
    )


def test_a_pos_edge_into_v_says_shortformer_pos_feeds_only_q_and_k(model) -> None:  # type: ignore[no-untyped-def]
    for h in (pp.subgraph(["pos -> a1.0.v"]), pp.through_edge("pos", "a1.0.v")):
        with pytest.raises(pp.PatternError, match="pos feeds only the q and k inputs of heads") as err:
            h.count(model)
        assert "must come before" not in str(err.value)


def test_the_command_line_offers_n_pos_where_it_asks_for_it() -> None:
    result = CliRunner().invoke(cli, ["paths", "embed -> a1.0@3 -> out", "--list", "0"])
    assert result.exit_code == 2 and "pass --n-pos" in result.output and "n_pos=" not in result.output
    result = CliRunner().invoke(cli, ["paths", "embed -> a1.0@3 -> out", "--list", "0", "--n-pos", "5"])
    assert result.exit_code == 0 and result.output.endswith(", 5 positions)\n"), result.output


def test_wildcard_receivers_are_refused_as_wildcards(model) -> None:  # type: ignore[no-untyped-def]
    tokens = torch.randint(0, 20, (4, 8), generator=torch.Generator().manual_seed(0))
    pairs = pp.pair_derangement(pp.Dataset.next_token(tokens))
    with pytest.raises(pp.ArgumentError, match="wildcards are not supported here") as err:
        pp.sender_scan(model, pairs, "a1.*")
    assert "did you mean" not in str(err.value)


def test_scoring_a_circuit_suggests_its_hypothesis(model) -> None:  # type: ignore[no-untyped-def]
    tokens = torch.randint(0, 20, (4, 8), generator=torch.Generator().manual_seed(0))
    pairs = pp.pair_derangement(pp.Dataset.next_token(tokens))
    with pytest.raises(TypeError, match=r"pass circuit\.hypothesis"):
        pp.score(model, {"c": Circuit(model.graph.edges[:2])}, pairs)


def test_a_report_loads_from_a_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    report = pp.Report(
        (pp.HypothesisScore("h", n_paths=3, metrics={"aue": pp.Estimate(0.5, 0.4, 0.6)}),), meta={"delta": "kl"}
    )
    report.to_json(tmp_path / "r.json")
    assert pp.Report.load(tmp_path / "r.json") == report
    assert pp.Report.from_json(tmp_path / "r.json") == report
    assert pp.Report.from_json(str(tmp_path / "r.json")) == report
    with pytest.raises(pp.InputError, match="no report file at"):
        pp.Report.load(tmp_path / "missing.json")


def test_every_plot_takes_the_model_first_then_what_then_where(model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """draw(model, thing, path), plot_head_scan(model, table, path): the model first when the
    figure needs one, then what is drawn, then the file; the old order is a clear TypeError."""
    import inspect

    from pathpatch import render

    for name in render.__all__:
        if name.startswith("plot_") or name == "draw":
            params = inspect.signature(getattr(render, name)).parameters
            names = list(params)
            before = names[: names.index("path")]  # [model,] what is drawn, then the file, then options
            assert all(params[p].default is inspect.Parameter.empty for p in before), (name, names)
            assert "model" not in names or names[0] == "model", (name, names)
    rows = (("a0.0", pp.Estimate(0.1, 0.0, 0.2)),)
    table = pp.ScanTable("restore", "proportion_explained", rows, pp.Report(()), subjects=(pp.Node.parse("a0.0"),))
    render.plot_head_scan(model, table, tmp_path / "h.png")
    with pytest.raises(TypeError, match="plot_head_scan takes .model, table, path."):
        render.plot_head_scan(table, model, tmp_path / "h.png")  # type: ignore[arg-type]
    render.plot_gains({"a": 0.1, "b": -0.2}, tmp_path / "g.png", xlabel="gain", title="gains")
