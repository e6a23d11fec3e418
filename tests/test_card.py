"""The robustness card of a study: its check, its figures and its section of the report page, from a
small card written by hand in the format of robustness.json."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import pathpatch as pp
from pathpatch.errors import InputError
from pathpatch.graph import Graph
from pathpatch.render import (
    build_html,
    card_html,
    check_card,
    draw_core,
    plot_claims,
    plot_curves,
    plot_hypotheses,
    plot_inclusion,
    plot_jaccard,
    write_card_figures,
)
from pathpatch.render.runfiles import architecture, read_run

CONFIG = pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8, positions="shortformer")
BASE, OTHER = "3f2a9c01be77", "77eb10c9a2f3"
CORE = ["a0.0 -> a1.0.k", "a1.0 -> out"]


def _point(cell: str, label: str, value: float, low: float, high: float, **more: Any) -> dict[str, Any]:
    return {"cell": cell, "label": label, "value": value, "lower": low, "upper": high, **more}


def make_card() -> dict[str, Any]:
    """Two cells; a claim that holds in one of them and an exact one that holds in both; one
    hypothesis; one discovery step whose core keeps two edges."""
    base, other = "base", "ablation=mean, delta=kl"
    return {
        "format": "pathpatch.robustness/1",
        "study": "tiny-robustness",
        "cells": [
            {"id": BASE, "sweep": "base", "label": base, "assignment": {}, "status": "done", "error": None},
            {
                "id": OTHER,
                "sweep": "metric",
                "label": other,
                "assignment": {"settings.ablation": "mean", "settings.delta": "kl"},
                "status": "done",
                "error": None,
            },
        ],
        "claims": [
            {
                "name": "naive explains 70%",
                "text": "naive (step heldout): proportion_explained >= 0.7, judged on the lower bound",
                "metric": "proportion_explained",
                "direction": "at_least",
                "bound": 0.7,
                "holds_in": 1,
                "judged_in": 2,
                "worst": _point(OTHER, other, 0.66, 0.65, 0.67, margin=-0.05, holds=False),
                "per_cell": [
                    _point(BASE, base, 0.74, 0.73, 0.75, margin=0.03, holds=True),
                    _point(OTHER, other, 0.66, 0.65, 0.67, margin=-0.05, holds=False),
                ],
            },
            {
                "name": "circuit is small",
                "text": "acdc: n_edges <= 10",
                "metric": "n_edges",
                "direction": "at_most",
                "bound": 10,
                "holds_in": 2,
                "judged_in": 2,
                "worst": _point(OTHER, other, 4, 4, 4, margin=6, holds=True),
                "per_cell": [
                    _point(BASE, base, 3, 3, 3, margin=7, holds=True),
                    _point(OTHER, other, 4, 4, 4, margin=6, holds=True),
                ],
            },
        ],
        "hypotheses": [
            {
                "step": "heldout",
                "hypothesis": "naive",
                "metrics": {
                    "proportion_explained": [
                        _point(BASE, base, 0.74, 0.73, 0.75),
                        _point(OTHER, other, 0.66, 0.65, 0.67),
                    ],
                    "aue": [_point(BASE, base, 0.12, 0.1, 0.14), _point(OTHER, other, 0.2, 0.18, 0.22)],
                },
            }
        ],
        "discoveries": [
            {
                "step": "acdc",
                "method": "acdc",
                "level": "edges",
                "cells": [BASE, OTHER],
                "labels": ["threshold=0.01", "threshold=0.02"],
                "sizes": [3, 4],
                "n_graph_edges": 37,
                "inclusion": {"a0.0 -> a1.0.k": 1.0, "a1.0 -> out": 1.0, "embed -> out": 0.5, "pos -> a0.1.k": 0.5},
                "pattern_inclusion": None,
                "jaccard": [[1.0, 0.4], [0.4, 1.0]],
                "mean_jaccard": 0.4,
                "core_threshold": 0.9,
                "core": list(CORE),
                "curves": [
                    {
                        "cell": BASE,
                        "label": "threshold=0.01",
                        "fractions": [0.0, 0.5, 1.0],
                        "proportion": [0.0, 0.8, 1.0],
                        "area": 0.65,
                        "cmd": 0.35,
                    },
                    {
                        "cell": OTHER,
                        "label": "threshold=0.02",
                        "fractions": [0.0, 0.5, 1.0],
                        "proportion": [0.0, 0.6, 1.0],
                        "area": 0.55,
                        "cmd": 0.45,
                    },
                ],
            }
        ],
        "graph": architecture(Graph(CONFIG)),
    }


FIGURES = [
    "robustness-claims.png",
    "robustness-hypotheses.png",
    "robustness-acdc-inclusion.png",
    "robustness-acdc-jaccard.png",
    "robustness-acdc-core.png",
    "robustness-acdc-core.svg",
    "robustness-acdc-curves.png",
]


def _text(html: str) -> str:
    """The page's text, tags dropped and whitespace folded (what a reader sees)."""
    parser = HTMLParser()
    chunks: list[str] = []
    parser.handle_data = chunks.append  # type: ignore[method-assign]
    parser.feed(html)
    return re.sub(r"\s+", " ", " ".join(chunks))


def test_every_figure_is_written(tmp_path: Path) -> None:
    written = write_card_figures(make_card(), tmp_path)
    assert sorted(p.name for p in written) == sorted(FIGURES)
    for path in written:
        assert path.is_file() and path.stat().st_size > 0, path
    svg = (tmp_path / "robustness-acdc-core.svg").read_text()
    for edge in ("a0.0-a1.0.k", "a1.0-out"):  # the core's edges carry their ids
        assert f":e:{edge}" in svg


def test_each_figure_function_on_its_own(tmp_path: Path) -> None:
    card = make_card()
    assert plot_claims(card, tmp_path / "c.png").stat().st_size > 0
    assert plot_hypotheses(card, tmp_path / "h.png", metric="aue").stat().st_size > 0
    assert plot_inclusion(card, "acdc", tmp_path / "i.png", top=2).stat().st_size > 0
    assert plot_jaccard(card, "acdc", tmp_path / "j.png").stat().st_size > 0
    assert plot_curves(card, "acdc", tmp_path / "f.png").stat().st_size > 0
    drawing = draw_core(card, "acdc", tmp_path / "core.png")
    assert sorted(e.name for e in drawing.edges) == sorted(CORE)
    with pytest.raises(InputError, match=r"no hypothesis .* metric 'loss_recovered'; it has \['aue', 'proportion"):
        plot_hypotheses(card, tmp_path / "x.png", metric="loss_recovered")
    with pytest.raises(InputError, match=r"no discovery step 'eap'; its discovery steps are \['acdc'\]"):
        plot_jaccard(card, "eap", tmp_path / "x.png")


def test_the_section_names_claims_counts_worst_cells_and_the_core(tmp_path: Path) -> None:
    card = make_card()
    write_card_figures(card, tmp_path)
    shown: set[str] = set()
    html = card_html(card, tmp_path, shown)
    text = _text(html)
    assert html.startswith('<section id="robustness">') and html.endswith("</section>")
    for claim in card["claims"]:
        assert claim["name"] in text
    assert "holds in 1 of 2 cells" in text and "holds in 2 of 2 cells" in text
    assert "worst cell: ablation=mean, delta=kl (77eb10c9a2f3): 0.660 [0.650, 0.670], margin -0.050" in text
    assert "worst cell: ablation=mean, delta=kl (77eb10c9a2f3): 4, margin 6" in text  # an exact number
    for edge in CORE:
        assert edge in text
    assert 'data-edges="a0.0-a1.0.k"' in html  # hovering a core edge lights it up in the diagram
    assert "mean Jaccard overlap between cells 0.400" in text
    assert "0.650" in text and "0.350" in text  # CPR and CMD of the base cell
    assert "naive" in text and "0.740 [0.730, 0.750]" in text  # the hypotheses' table
    assert shown == set(FIGURES)
    assert html.count("<figure>") == 6  # the core inline as SVG, the other five as PNG


def test_an_empty_core_and_a_card_without_claims_or_discoveries_render(tmp_path: Path) -> None:
    card = make_card()
    card["discoveries"][0]["core"] = []
    card["discoveries"][0]["curves"] = []
    names = sorted(p.name for p in write_card_figures(card, tmp_path / "empty"))
    assert "robustness-acdc-curves.png" not in names and "robustness-acdc-core.svg" in names
    assert "the robust core is empty" in (tmp_path / "empty" / "robustness-acdc-core.svg").read_text()
    assert "the robust core is empty" in _text(card_html(card, tmp_path / "empty"))

    bare = make_card()
    for key in ("claims", "hypotheses", "discoveries"):
        bare[key] = []
    bare["graph"] = None
    assert write_card_figures(bare, tmp_path / "bare") == []
    text = _text(card_html(bare, tmp_path / "bare"))
    assert "the study declares no claims" in text and "2 cells" in text


def test_a_failed_cell_is_listed_and_not_judged(tmp_path: Path) -> None:
    card = make_card()
    card["cells"].append(
        {"id": "deadbeef0000", "sweep": "metric", "label": "seed=9", "status": "failed", "error": "out of memory"}
    )
    card["cells"].append({"id": "0123456789ab", "sweep": "metric", "label": "seed=8", "status": "missing"})
    card["cells"][0]["also"] = ["ablation=resample, delta=loss"]
    write_card_figures(card, tmp_path)
    text = _text(card_html(card, tmp_path))
    assert "4 cells, 1 failed, 1 missing" in text and "out of memory" in text
    assert "not judged in 2 cells: seed=9 (failed), seed=8 (missing)" in text
    assert "ablation=resample, delta=loss" in text  # another sweep point of the base cell


def test_the_report_page_of_a_folder_with_only_a_card(tmp_path: Path) -> None:
    card = make_card()
    (tmp_path / "robustness.json").write_text(json.dumps(card))
    assert read_run(tmp_path).robustness == card
    html = build_html(tmp_path)  # no figures yet: the section still renders
    assert '<section id="robustness">' in html and '<section id="figures">' not in html
    assert "write them with pathpatch.render.write_card_figures(card, folder)" in html
    write_card_figures(card, tmp_path)
    (tmp_path / "other.png").write_bytes((tmp_path / "robustness-claims.png").read_bytes())
    html = build_html(tmp_path)
    assert '<section id="robustness">' in html and "write_card_figures(card, folder)" not in html
    for name in FIGURES:
        assert html.count(f"<figcaption>{name}</figcaption>") == (0 if name == "robustness-acdc-core.png" else 1), name
    generic = html.split('<section id="figures">', 1)[1]
    assert "other.png" in generic and "robustness-" not in generic


def test_a_card_of_another_format_is_refused(tmp_path: Path) -> None:
    card = make_card()
    card["format"] = "pathpatch.robustness/0"
    with pytest.raises(
        InputError, match=r"format 'pathpatch.robustness/0', expected 'pathpatch.robustness/1'.*running"
    ):
        check_card(card)
    with pytest.raises(InputError, match=r"expected 'pathpatch.robustness/1'"):
        write_card_figures(card, tmp_path)
    (tmp_path / "robustness.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match=r"robustness.json: robustness card has format"):
        read_run(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("cells"), r"'cells' should be a non-empty list"),
        (lambda c: c["claims"][0].pop("per_cell"), r"claims\[0\] lacks 'per_cell'"),
        (lambda c: c["claims"][0].update(holds_in="1"), r"claims\[0\].holds_in should be an integer, got str"),
        (lambda c: c["discoveries"][0]["sizes"].pop(), r"discoveries\[0\].sizes has 1 entries for 2 cells"),
        (lambda c: c["discoveries"][0]["core"].append("embed -> a1.1.v"), r"core names edges without an inclusion"),
        (lambda c: c["discoveries"][0]["jaccard"][0].pop(), r"jaccard should be 2 x 2"),
        (lambda c: c["discoveries"].append(dict(c["discoveries"][0])), r"steps \['acdc', 'acdc'\] are not unique"),
    ],
)
def test_a_malformed_card_says_what_is_wrong(change: Any, message: str) -> None:
    card = copy.deepcopy(make_card())
    change(card)
    with pytest.raises(InputError, match=message):
        check_card(card)
