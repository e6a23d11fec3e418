"""Circuit diagrams and the HTML report (pathpatch.render): the edges drawn, the files written, the
boxes kept on a GPT-2-small-shaped graph, and a report page that needs nothing but itself."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
import torch
from click.testing import CliRunner

import pathpatch as pp
from conftest import tiny_model
from pathpatch.cli import cli
from pathpatch.discovery.circuit import Circuit
from pathpatch.errors import InputError
from pathpatch.lang.cut import only_at, residual_at
from pathpatch.render import draw, kept_edges, plot_report, write_html, write_report_json, write_scan
from pathpatch.render.page import esc
from pathpatch.render.spec import from_spec, snippet, to_spec
from pathpatch.render.subject import subject_of
from pathpatch.scans import ScanKind, decimals, format_rows


@pytest.fixture(scope="module")
def small():  # type: ignore[no-untyped-def]
    model = tiny_model("shortformer", None, n_heads=3, n_ctx=8, d_vocab=8, seed=3)
    tokens = torch.randint(0, 8, (16, 8), generator=torch.Generator().manual_seed(0))
    return model, pp.pair_derangement(pp.Dataset.next_token(tokens), seed=0)


def _hypotheses(model):  # type: ignore[no-untyped-def]
    mlp = tiny_model("shortformer", 8)
    return [
        (model, pp.paths("embed -> a1.*.v -> out")),
        (model, ~pp.through("a1.0")),
        (model, pp.through_edge("a0.1", "a1.0.k")),
        (model, ~pp.through_edge("a0.1", "a1.0.k")),
        (model, pp.paths("embed -> ... -> a1.1.k -> out") - pp.through("a0.2")),
        (model, pp.subgraph(["embed -> a0.0.q", "a0.0 -> out", "a0.1 -> a1.2.v"])),  # the last edge dangles
        (model, pp.through_edge("a0.1", "a1.0.k") | pp.through_edge("embed", "out")),
        (model, pp.no_paths()),
        (model, pp.all_paths()),
        (mlp, pp.paths(["pos -> a0.* -> a1.*.k", "m0 -> out"]) & ~pp.through("a0.1")),
    ]


def test_kept_edges_are_the_edges_of_the_listed_paths(small) -> None:  # type: ignore[no-untyped-def]
    """The automaton walk finds exactly the edges of the enumerated paths (positions too)."""
    model, _ = small
    for m, hyp in _hypotheses(model):
        want = {e for path in hyp.iter(m) for e in path.edges}
        got = kept_edges(hyp, m)
        assert set(got) == want and len(got) == len(want), hyp
        assert list(got) == [e for e in m.graph.edges if e in want]  # graph order
    for hyp in (
        pp.paths("embed@1 -> ... -> a1.0.k@3 -> out"),
        pp.through("a1.1@-1"),
        residual_at(0, 2),
        only_at(-1, ["a1.0"]),
    ):
        assert set(kept_edges(hyp, model, n_pos=4)) == {e for p in hyp.iter(model, n_pos=4) for e in p.edges}, hyp
    with pytest.raises(InputError, match="pass n_pos="):
        kept_edges(pp.through("a1.1@-1"), model)


def test_specs_and_texts_rebuild_the_same_hypothesis(small) -> None:  # type: ignore[no-untyped-def]
    model, _ = small
    for m, hyp in _hypotheses(model):
        again = from_spec(json.loads(json.dumps(to_spec(hyp))))
        scope: dict = {}  # type: ignore[type-arg]
        exec(snippet(hyp), scope)
        assert set(again.iter(m)) == set(hyp.iter(m)) == set(scope["hypothesis"].iter(m)), hyp
    text = snippet(only_at(-1, ["a1.0"]) - pp.through("a0.1"))
    assert text == 'import pathpatch as pp\nhypothesis = pp.only_at(-1, ["a1.0"]) - pp.paths(["a0.1"])'
    with pytest.raises(InputError, match="unknown hypothesis spec key 'pathz'"):
        from_spec({"pathz": ["embed -> out"]})


def _svg_ids(path, kind: str) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(rf'id="c:{kind}:([^"]+)"', path.read_text())


def test_draw_a_hypothesis_writes_svg_and_png(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, _ = small
    hyp = pp.paths(["embed -> out", "embed -> a0.2 -> a1.{0,1}.k -> out"])
    d = draw(model, hyp, tmp_path / "sub" / "naive.png", title="naive")
    assert d.svg == tmp_path / "sub" / "naive.svg" and d.png == tmp_path / "sub" / "naive.png"
    assert d.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and d.svg.read_text().lstrip().startswith("<?xml")
    assert sorted(_svg_ids(d.svg, "e")) == sorted(f"{e.sender}-{e.receiver}" for e in d.edges)
    assert set(d.edges) == {
        pp.Edge.parse(e)
        for e in [
            "embed -> out",
            "embed -> a0.2.q",
            "embed -> a0.2.k",
            "embed -> a0.2.v",
            "a0.2 -> a1.0.k",
            "a0.2 -> a1.1.k",
            "a1.0 -> out",
            "a1.1 -> out",
        ]
    }
    # a 2 x 3 model is drawn in full: every node has its box, the unused ones faded
    assert d.boxes == ("embed", "pos", "a0.0", "a0.1", "a0.2", "a1.0", "a1.1", "a1.2", "out")
    assert len(_svg_ids(d.svg, "n")) == 9
    assert draw(model, hyp, tmp_path / "again").svg.name == "again.svg"  # no suffix: the stem


def test_gpt2_small_shape_collapses_unused_heads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """12 layers x 12 heads with MLPs: 3 used heads give 15 boxes, not 159."""
    model = pp.native_model(
        pp.NativeConfig(n_layers=12, n_heads=12, d_model=48, d_head=4, d_vocab=50, n_ctx=16, d_mlp=16)
    )
    hyp = pp.paths(["embed -> a0.1.v -> a5.5.k -> out", "pos -> a9.6.k -> out"])
    d = draw(model, hyp, tmp_path / "gpt2.png")
    assert d.boxes == (
        "embed",
        "pos",
        "a0.1",
        "…(11)",
        "m0",
        "layers 1–4: 48 heads, 4 MLPs, unused",
        "a5.5",
        "…(11)",
        "m5",
        "layers 6–8: 36 heads, 3 MLPs, unused",
        "a9.6",
        "…(11)",
        "m9",
        "layers 10–11: 24 heads, 2 MLPs, unused",
        "out",
    )
    assert sorted(_svg_ids(d.svg, "n")) == sorted(["embed", "pos", "a0.1", "m0", "a5.5", "m5", "a9.6", "m9", "out"])
    assert len(_svg_ids(d.svg, "e")) == len(d.edges) == 5
    assert len(subject_of(hyp, model.graph).edges) == 5
    from pathpatch.render.layout import layout

    assert len(layout(model.graph, {e.sender for e in d.edges}, collapse=False).boxes) == 2 + 12 * 13 + 1


def _widths(svg: str) -> dict[str, float]:
    """The stroke width of each drawn edge, by its id."""
    out = {}
    for m in re.finditer(r'<g id="c:e:([^"]+)">\s*<path[^>]*style="[^"]*stroke-width: ([\d.]+)', svg):
        out[m.group(1)] = float(m.group(2))
    return out


def test_draw_circuits_edge_scores_and_scans(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, pairs = small
    edges = [pp.Edge.parse(e) for e in ("embed -> a0.0.q", "a0.0 -> out", "a0.1 -> a1.2.v")]  # the last dangles
    score = pp.HypothesisScore("acdc", 2, {"proportion_explained": pp.Estimate(0.5, 0.4, 0.6)})
    d = draw(model, Circuit(tuple(edges), None, score, {"algorithm": "acdc"}), tmp_path / "circuit")
    assert set(d.edges) == set(edges[:2])
    svg = d.svg.read_text()
    assert "acdc: proportion explained 0.500 [0.400, 0.600]" in svg and "1 dangling, not drawn" in svg

    scores = {"embed -> a0.0.q": 0.5, "a0.0 -> out": -2.0, "embed -> out": 0.1, "a0.1 -> a1.0.v": 0.0}
    d = draw(model, scores, tmp_path / "scores.png", max_edges=2)
    assert set(d.edges) == {pp.Edge.parse("a0.0 -> out"), pp.Edge.parse("embed -> a0.0.q")}
    w = _widths(d.svg.read_text())
    assert w["a0.0-out"] > w["embed-a0.0.q"]  # width grows with |score|
    assert "top 2 of 3 scored edges by |score|" in d.svg.read_text()

    table = pp.edge_scan(
        model, pairs, edges=["embed -> out", "a1.0 -> out", "a0.1 -> a1.0.v"], delta="kl", n_boot=50, progress=False
    )
    sub = subject_of(table, model.graph)
    for name, est in table.rows:  # ablating a ratio metric: the effect is what the edge takes away
        assert sub.weights[pp.Edge.parse(name)] == pytest.approx(1 - est.value)
    assert set(draw(model, table, tmp_path / "scan").edges) == {pp.Edge.parse(n) for n, e in table.rows if e.value != 1}

    with pytest.raises(InputError, match="holds numbers, not its hypothesis"):
        draw(model, score, tmp_path / "x")
    with pytest.raises(InputError, match="draw takes an edge scan"):
        draw(model, pp.node_scan(model, pairs, nodes=["a0.0"], n_boot=50, progress=False), tmp_path / "x")
    with pytest.raises(InputError, match="not edges of this model"):
        draw(model, {"a0.0 -> m1": 1.0}, tmp_path / "x")
    with pytest.raises(TypeError, match="draw takes a Hypothesis"):
        draw(model, 3, tmp_path / "x")


class _Page(HTMLParser):
    """Rows of each table, figures with an inline svg, every src/href, the attributes of rows."""

    def __init__(self) -> None:
        super().__init__()
        self.table: str | None = None
        self.rows: dict[str, list[dict[str, str | None]]] = {}
        self.links: list[str] = []
        self.figures = 0
        self.in_figure = False
        self.in_body = False

    def handle_starttag(self, tag, attrs) -> None:  # type: ignore[no-untyped-def]
        a = dict(attrs)
        self.links += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if tag == "table":
            self.table = a.get("id")
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body and self.table:
            self.rows.setdefault(self.table, []).append(a)
        elif tag == "figure" and a.get("class") == "circuit":
            self.in_figure = True
        elif tag == "svg" and self.in_figure:
            self.figures += 1
            self.in_figure = False

    def handle_endtag(self, tag) -> None:  # type: ignore[no-untyped-def]
        if tag == "tbody":
            self.in_body = False


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def test_html_report_is_self_contained(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, pairs = small
    hyps = {
        "direct": pp.paths("embed -> out"),
        "layer-1 values": pp.paths(["embed -> out", "embed -> a1.*.v -> out"]),
        "a subgraph": pp.subgraph(["embed -> a0.0.q", "a0.0 -> a1.1.k", "a1.1 -> out", "embed -> out"]),
    }
    report = pp.score(model, hyps, pairs, delta="kl", n_boot=50, progress=False)
    write_report_json(report, tmp_path / "report.json", model=model, hypotheses=hyps, description="A <small> run.")
    plot_report(report, tmp_path / "proportion_explained.png")
    assert pp.Report.from_json((tmp_path / "report.json").read_text()).names == report.names  # still a report
    text = write_html(tmp_path).read_text()
    page = _parse(text)
    assert all(link.startswith(("data:", "#")) for link in page.links), [x for x in page.links if "data:" not in x]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text)
    assert "<script src" not in text and 'rel="stylesheet"' not in text
    assert len(page.rows["hypothesis-table"]) == 3
    assert [r["data-edges"] for r in page.rows["hypothesis-table"]][0] == "embed-out"
    assert page.figures == 3  # every hypothesis drawn: the run named no diagrams
    assert text.count('src="data:image/png;base64,') == 1
    for hyp in hyps.values():
        assert esc(snippet(hyp)) in text
    assert "A &lt;small&gt; run." in text and "ATE = " in text
    with pytest.raises(InputError, match="name rows the report lacks"):
        write_report_json(report, tmp_path / "r.json", diagrams=["nope"])


def test_scan_files_and_their_page(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, pairs = small
    table = pp.edge_scan(model, pairs, delta="kl", n_boot=50, progress=False)
    written = write_scan(table, "edges", model, tmp_path)
    assert [p.name for p in written] == ["scan.json", "top.png", "circuit.svg", "circuit.png"]
    data = json.loads((tmp_path / "scan.json").read_text())
    assert data["ate"] == table.ate.to_dict() and data["graph"]["n_heads"] == 3
    assert len(data["rows"]) == len(model.graph.edges)
    page = _parse(write_html(tmp_path).read_text())
    rows = page.rows["scan-table"]
    assert len(rows) == len(table.rows) and rows[0]["data-edges"] == table.rows[0][0].replace(" -> ", "-")
    again = write_scan(table, ScanKind.EDGES, model, tmp_path / "again")  # the table's kind, as an enum
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]
    with pytest.raises(InputError, match="write_scan got kind 'nodes' for a scan of edges; pass 'edges'"):
        write_scan(table, "nodes", model, tmp_path / "wrong")


def test_one_precision_per_table() -> None:
    rows = [("a", pp.Estimate(0.0005, 0.0001, 0.0009)), ("bb", pp.Estimate(0.00002, -0.00001, 0.00005))]
    assert decimals(rows) == 6
    assert format_rows(rows) == ["a   0.000500 [0.000100, 0.000900]", "bb  0.000020 [-0.000010, 0.000050]"]
    assert format_rows(rows[1:], among=rows + [("c", pp.Estimate(0.5, 0.2, 0.7))]) == ["bb  0.000 [-0.000, 0.000]"]
    assert decimals([("x", pp.Estimate(250.0, 1.0, 900.0))]) == 3


def test_report_command(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, pairs = small
    report = pp.score(model, {"direct": pp.paths("embed -> out")}, pairs, delta="kl", n_boot=50, progress=False)
    report.to_json(tmp_path / "report.json")  # a plain report: no graph, no hypotheses
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(tmp_path), "--out", str(tmp_path / "page.html")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert result.output.startswith(f"wrote {tmp_path / 'page.html'}")
    page = _parse((tmp_path / "page.html").read_text())
    assert len(page.rows["hypothesis-table"]) == 1 and page.figures == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(cli, ["report", str(empty)])
    assert isinstance(result.exception, InputError) and "holds no run files" in str(result.exception)
    assert "self-contained" in runner.invoke(cli, ["report", "--help"]).output


def test_draw_stays_a_function_after_the_report_modules_load() -> None:
    """`pathpatch.render.draw` (and `pp.draw`) is the function even after the modules that use it
    (html, scanfiles) were imported: no submodule of that name shadows it."""
    import importlib

    import pathpatch as pp
    import pathpatch.render as render

    importlib.import_module("pathpatch.render.html")
    importlib.import_module("pathpatch.render.scanfiles")
    from pathpatch.render import draw as drawn

    assert callable(drawn) and callable(render.draw) and callable(pp.draw)
    assert drawn is render.draw is pp.draw
