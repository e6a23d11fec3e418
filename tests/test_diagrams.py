"""Circuit diagrams that show importance: circuits drawn by their edges' measured effects, no edge
behind a box, and counts that say which positions they count."""

from __future__ import annotations

import re

import pytest
import torch

import pathpatch as pp
from pathpatch.discovery.acdc import acdc
from pathpatch.discovery.eap import eap
from pathpatch.discovery.paths import discover_paths
from pathpatch.render.drawing import circuit_svg
from pathpatch.render.layout import _crosses, layout
from pathpatch.render.subject import subject_of


@pytest.fixture(scope="module")
def setup() -> tuple[pp.ResidualModel, pp.Pairs]:
    model = pp.native_model(
        pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8, d_mlp=12, init_std=0.3)
    )
    tokens = torch.randint(0, 20, (16, 8), generator=torch.Generator().manual_seed(0))
    return model, pp.pair_derangement(pp.Dataset.next_token(tokens))


def _widths(svg: str) -> set[str]:
    return set(re.findall(r"stroke-width: ?([0-9.]+)", svg))


def test_discovered_circuits_are_weighted_by_measured_effect(setup) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup
    circuits = {
        "acdc": acdc(model, pairs, 0.005, progress=False, score=False),
        "paths": discover_paths(model, pairs, target=0.8, progress=False, score=False),
        "eap": eap(model, pairs, progress=False).top(8),
    }
    for name, c in circuits.items():
        assert c.weights is not None and set(c.weights) == set(c.edges), name
        subject = subject_of(c, model.graph)
        assert subject.weights is not None and "width by measured effect" in (subject.note or ""), name
        svg, _ = circuit_svg(model, c, prefix=name)
        assert "width ∝ |score|" in svg and len(_widths(svg)) > 3, name  # widths differ edge by edge
    acdc_c = circuits["acdc"]
    assert all(w >= 0.005 for w in acdc_c.weights.values())  # type: ignore[union-attr]  # kept: effect >= threshold


def test_no_edge_runs_behind_a_box(setup) -> None:  # type: ignore[no-untyped-def]
    model, _ = setup
    graph = model.graph
    lay = layout(graph, set(graph.nodes))
    straight_blocked = 0
    for e in graph.edges:
        own = {lay.box(e.sender), lay.box(e.receiver.node)}
        points = lay.route(e.sender, e.receiver)
        if len(points) > 2:
            straight_blocked += 1
        for a, b in zip(points, points[1:]):
            hit = [box.label for box in lay.boxes if box not in own and _crosses(a, b, box)]
            assert not hit, (e.name, hit)
    assert straight_blocked > 0  # e.g. a0.0 -> out would cross layer 1
    a0_out = lay.route(pp.Node.parse("a0.0"), graph.port("out"))
    assert len(a0_out) == 4


def test_titles_say_which_paths_they_count(setup) -> None:  # type: ignore[no-untyped-def]
    model, _ = setup
    h = pp.paths("embed -> a1.*.v -> out")
    subject = subject_of(h, model.graph)
    assert subject.note == f"{len(subject.edges)} edges on its {h.count(model)} position-free paths"


def test_the_number_study_diagram_counts_as_its_tables(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.counting.files import draw_last_position

    model, _ = setup
    draw_last_position(model, ["a1.0", "m0"], tmp_path / "circuit.png", n_paths=26816)
    svg = (tmp_path / "circuit.svg").read_text()
    assert "26,816 position-resolved paths ending there" in svg and "as the tables count them" in svg
    assert "position-free paths" not in svg
