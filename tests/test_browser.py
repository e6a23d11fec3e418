"""The HTML report in a real browser: headless Chromium opens the page ``pathpatch demo`` writes
(the demo run on a tiny model), takes a screenshot and dumps the DOM after the page's script ran.

Skipped when no ``chromium`` is installed (CI installs Debian's: see .ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from conftest import tiny_model

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]


def _chromium(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on ``url`` with its own throwaway profile."""
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _console(stderr: str) -> list[str]:
    """The page's console messages (errors, uncaught exceptions, logs) that Chromium logged."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def demo_page(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """``run_demo`` (what `pathpatch demo` runs) on a tiny model: its report.html."""
    from pathpatch.induction.demo import run_demo

    out = tmp_path_factory.mktemp("demo")
    model = tiny_model("shortformer", None, n_heads=4, n_ctx=16, d_vocab=8)
    heldout = torch.randint(0, 8, (20, 16), generator=torch.Generator().manual_seed(0))
    # without step 3: its circuit figures would light up the hovered row's edges too (tests/test_induction.py
    # covers step 3's files)
    run_demo(
        out, examples=10, model=model, heldout=heldout, progress=False, n_boot=50, echo=lambda *_: None, discover=False
    )
    return out / "report.html"


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.rows: list[list[str]] = []
        self.figures = 0
        self._where: list[str] = []
        self._figure = False

    def handle_starttag(self, tag, attrs) -> None:  # type: ignore[no-untyped-def]
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "table":
            self._where.append(a.get("id") or "")
        if tag == "tr" and self._where[-1:] == ["hypothesis-table"] and "data-edges" in a:
            self.rows.append([])
        if tag == "figure" and a.get("class") == "circuit":
            self._figure = True
        if tag == "svg" and self._figure:
            self.figures += 1
            self._figure = False

    def handle_endtag(self, tag) -> None:  # type: ignore[no-untyped-def]
        if tag == "table" and self._where:
            self._where.pop()

    def handle_data(self, data) -> None:  # type: ignore[no-untyped-def]
        if self.rows and self._where[-1:] == ["hypothesis-table"] and data.strip():
            self.rows[-1].append(data.strip())


def test_report_page_renders_in_chromium(demo_page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from matplotlib.image import imread

    report = json.loads((demo_page.parent / "report.json").read_text())
    shot = tmp_path / "page.png"
    done = _chromium(demo_page.as_uri(), tmp_path / "profile-1", "--window-size=1280,1800", f"--screenshot={shot}")
    assert _console(done.stderr) == []
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1800, 1280)
    assert pixels.std() > 0.05, "the screenshot is blank"
    assert (pixels.reshape(-1, 3) < 0.3).all(-1).mean() > 0.002, "no dark ink (text, boxes) on the page"

    # the DOM after the script ran; #selftest hovers the first row and sorts by 'paths' (descending)
    done = _chromium(demo_page.as_uri() + "#selftest", tmp_path / "profile-2", "--dump-dom")
    assert _console(done.stderr) == []
    dom = _Dom()
    dom.feed(done.stdout)
    assert dom.body.get("data-ready") == "1", "the page's script did not run to its end"
    assert len(dom.rows) == len(report["scores"]) == 7
    assert dom.figures == len(report["diagrams"]) == 2
    naive = next(r for r in report["scores"] if r["name"] == report["diagrams"][0])
    from pathpatch.render.kept import kept_edges
    from pathpatch.render.runfiles import graph_from
    from pathpatch.render.spec import from_spec

    naive_edges = kept_edges(from_spec(naive["hypothesis"]), graph_from(report["graph"]))
    # hovering the naive row lit each of its edges in both diagrams (the best set holds them all)
    assert int(dom.body["data-highlighted"] or 0) == 2 * len(naive_edges)
    most = max(r["n_paths"] for r in report["scores"])
    assert dom.rows[0][1] == str(most) and [int(r[1]) for r in dom.rows] == sorted(
        (int(r[1]) for r in dom.rows), reverse=True
    )


def test_console_errors_would_be_seen(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The console check above can fail: a page with an uncaught error is reported."""
    page = tmp_path / "bad.html"
    page.write_text("<!doctype html><html><body><p>x</p><script>notDefined();</script></body></html>")
    done = _chromium(page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert any("Uncaught ReferenceError: notDefined is not defined" in line for line in _console(done.stderr))


@pytest.fixture(scope="module")
def discovery_page(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """``run_demo`` with step 3 (the discovered circuits) on a tiny model: its report.html."""
    from pathpatch.induction.demo import run_demo

    out = tmp_path_factory.mktemp("demo-discovery")
    model = tiny_model("shortformer", None, n_heads=4, n_ctx=16, d_vocab=8)
    heldout = torch.randint(0, 8, (40, 16), generator=torch.Generator().manual_seed(0))
    run_demo(out, examples=16, model=model, heldout=heldout, progress=False, n_boot=50, echo=lambda *_: None)
    return out / "report.html"


def _tbody_rows(dom: str, table_id: str) -> list[str]:
    import re

    match = re.search(rf'<table[^>]*id="{table_id}"[^>]*>.*?<tbody>(.*?)</tbody>', dom, flags=re.S)
    assert match, f"no table {table_id} on the page"
    return re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), flags=re.S)


def test_demo_page_holds_the_discovery_table_and_a_score_weighted_circuit(discovery_page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import re

    done = _chromium(discovery_page.as_uri(), tmp_path / "profile", "--dump-dom")
    assert _console(done.stderr) == []
    dom = done.stdout
    assert 'data-ready="1"' in dom
    discovery = json.loads((discovery_page.parent / "discovery.json").read_text())
    rows = _tbody_rows(dom, "discovery-table")
    assert len(rows) == len(discovery["report"]["scores"]) >= 3  # the ladder's best set, path search, ACDC
    for score, row in zip(discovery["report"]["scores"], rows):
        assert score["name"] in row
    study = json.loads((discovery_page.parent / "study.json").read_text())
    refinements = _tbody_rows(dom, "refinement-table")
    assert len(refinements) == len(study["gains"]) and all("[" in r for r in refinements)  # with intervals
    figures = re.findall(r"<figure>(.*?)</figure>", dom, flags=re.S)
    weighted = [f for f in figures if "circuit-paths.svg" in f]
    assert weighted and "width ∝ |score|" in weighted[0] and "<svg" in weighted[0]
    assert "stroke-width" in weighted[0] or "stroke-width:" in weighted[0]
    assert "<details" in dom  # long listings are folded
