"""Node and edge scans: the same numbers as scoring each hypothesis on its own."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_model

import pathpatch as pp
from pathpatch.scans import edge_scan, node_scan, plot_head_scan


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    model = tiny_model("shortformer", 12, seed=2)
    tokens = torch.randint(0, 11, (16, 6), generator=torch.Generator().manual_seed(0))
    return model, pp.pair_derangement(pp.Dataset.next_token(tokens), seed=0)


def test_node_scan_equals_individual_scores(setup) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup
    table = node_scan(model, pairs, n_boot=50, progress=False)
    assert [n for n, _ in table.rows] == ["a0.0", "a0.1", "m0", "a1.0", "a1.1", "m1"]
    alone = pp.score(model, {"a1.0": pp.through("a1.0")}, pairs, n_boot=50, progress=False)
    assert table["a1.0"].value == pytest.approx(alone["a1.0"].metrics["proportion_explained"].value, abs=1e-6)
    ablate = node_scan(model, pairs, nodes=["a1.0"], mode="ablate", n_boot=50, progress=False)
    by_hand = pp.score(model, {"x": ~pp.through("a1.0")}, pairs, n_boot=50, progress=False)
    assert ablate["a1.0"].value == pytest.approx(by_hand["x"].metrics["proportion_explained"].value, abs=1e-6)
    assert "restore scan" in str(table) and table.top(2)[0][1].value >= table.top(2)[1][1].value


def test_restoring_out_or_embed_is_everything(setup) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup
    table = node_scan(model, pairs, nodes=["out", "embed"], n_boot=50, progress=False)
    assert table["out"].value == pytest.approx(1.0, abs=1e-6)  # every path passes through out
    # every path starting at embed: with pos equal in both runs, that is every path that matters
    assert table["embed"].value == pytest.approx(1.0, abs=1e-6)


def test_edge_scan_into_a_receiver(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup
    table = edge_scan(model, pairs, receiver="a1.0.k", n_boot=50, progress=False)
    senders = [s.name for s in model.graph.senders(model.graph.port("a1.0.k"))]
    assert [n for n, _ in table.rows] == [f"{s} -> a1.0.k" for s in senders]
    for name, estimate in table.rows:
        assert estimate.value <= 1.0 + 1e-9
    plot = plot_head_scan(node_scan(model, pairs, n_boot=20, progress=False), model, tmp_path / "heads.png")
    assert plot.stat().st_size > 0
    with pytest.raises(pp.InputError, match="needs a receiver port"):
        edge_scan(model, pairs)
    with pytest.raises(pp.InputError, match="mode must be"):
        node_scan(model, pairs, mode="swap")  # type: ignore[arg-type]
