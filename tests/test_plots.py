"""Plots a reader can read: gains with intervals and a key to their labels, layer 0 at the bottom
of every layer map, integer layer ticks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import pathpatch as pp
from pathpatch.render import bars, heatmaps


@pytest.fixture
def captured(monkeypatch):  # type: ignore[no-untyped-def]
    """The figures the plot functions save, kept open for inspection."""
    figs: list[Any] = []

    def keep(fig, path):  # type: ignore[no-untyped-def]
        figs.append(fig)
        return path

    monkeypatch.setattr(bars, "save_figure", keep)
    monkeypatch.setattr(heatmaps, "save_figure", keep)
    return figs


def test_gains_have_intervals_and_a_key(captured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bars.plot_gains(
        {"a0.3 -> I.q": 0.05, "a0.1 -> out": -0.01},
        tmp_path / "g.png",
        intervals={"a0.3 -> I.q": (0.03, 0.07), "a0.1 -> out": (-0.02, 0.0)},
        key="I: the induction heads a1.{0,3,7}; P: the previous-token head a0.2; .q/.k/.v: the input entered",
    )
    fig = captured[-1]
    ax = fig.axes[0]
    errorbars = [c for c in ax.containers if getattr(c, "errorbar", None) is not None]
    assert errorbars, "no error bars on the gains"
    texts = " ".join(t.get_text() for t in fig.texts + ax.texts)
    assert "I: the induction heads" in texts


def test_the_demos_refinements_plot_explains_its_labels(captured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.induction.demo import plot_gains as demo_gains
    from pathpatch.ladder import Ladder

    gains = [
        {"name": "a0.3 -> I.q", "patterns": ["x"], "proportion_explained": 0.6, "gain": 0.05, "low": 0.04, "high": 0.06}
    ]
    ladder = Ladder(pp.Report(()), gains, [], 0, [], {})  # type: ignore[arg-type]
    demo_gains(ladder, tmp_path / "r.png", prev=[2], ind=[0, 3, 7])
    fig = captured[-1]
    texts = " ".join(t.get_text() for t in fig.texts + fig.axes[0].texts)
    assert "I = a1.{0,3,7}" in texts and "P = a0.{2}" in texts
    assert any(getattr(c, "errorbar", None) is not None for c in fig.axes[0].containers)


def test_head_scores_put_layer_0_at_the_bottom(captured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    heatmaps.plot_head_scores({"s": [[0.1, 0.2], [0.3, 0.9]]}, tmp_path / "h.png", "t")
    ax = captured[-1].axes[0]
    assert ax.images[0].origin == "lower"
    labels = {round(t): lab.get_text() for t, lab in zip(ax.get_yticks(), ax.get_yticklabels())}
    assert labels[0] == "layer 0" and ax.get_ylim()[0] < ax.get_ylim()[1]  # row 0 drawn lowest


def test_trace_has_integer_layer_ticks(captured, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch

    model = pp.native_model(pp.NativeConfig(n_layers=3, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=6, d_mlp=8))
    tokens = torch.randint(0, 20, (6, 5), generator=torch.Generator().manual_seed(0))
    table = pp.causal_trace(model, pp.pair_derangement(pp.Dataset.next_token(tokens)), n_boot=40, progress=False)
    heatmaps.plot_trace(table, tmp_path / "t.png")
    for ax in captured[-1].axes[: len(table.kinds())]:
        assert list(ax.get_yticks()) == [0, 1, 2]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2"]
    head_scan = pp.node_scan(model, pp.pair_derangement(pp.Dataset.next_token(tokens)), n_boot=40, progress=False)
    heatmaps.plot_head_scan(model, head_scan, tmp_path / "s.png")
    ax = captured[-1].axes[0]
    assert ax.get_ylim()[0] < ax.get_ylim()[1] and np.allclose(ax.get_yticks(), [0, 1, 2])  # layer 0 at the bottom
