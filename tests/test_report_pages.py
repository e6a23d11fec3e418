"""Every output can be looked at: discover and scan runs write report.html, `pathpatch report`
takes any pathpatch output folder, and study numbers are tables, not raw JSON."""

from __future__ import annotations

import json
import re

import torch
from click.testing import CliRunner
from safetensors.torch import save_file

import pathpatch as pp
from pathpatch.cli import cli
from pathpatch.render import build_html


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_discover_writes_a_circuit_figure_and_a_report_page(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "d"
    printed = run("discover", "acdc", "--planted", "chain", "--examples", "16", "--quiet", "--out", str(out))
    for name in ("circuit.json", "circuit.png", "circuit.svg", "report.html"):
        assert (out / name).stat().st_size > 0, name
        assert name in printed
    page = (out / "report.html").read_text()
    assert "Discovered circuit: acdc" in page and 'id="circuit-table"' in page and "the search examples" in page
    assert "width ∝ |score|" in page  # the diagram is weighted by each edge's measured effect
    (out / "report.html").unlink()
    run("report", str(out))  # `pathpatch report` accepts the folder
    assert (out / "report.html").is_file()


def test_scan_writes_a_report_page(tmp_path) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "m"
    pp.save_model(pp.native_model(pp.NativeConfig(n_layers=1, n_heads=2, d_model=8, d_head=4, d_vocab=5, n_ctx=8)), d)
    save_file(
        {"tokens": torch.randint(0, 5, (12, 8), generator=torch.Generator().manual_seed(0))},
        str(d / "heldout.safetensors"),
    )
    out = tmp_path / "s"
    run("scan", "nodes", "--model", str(d), "--examples", "4", "--quiet", "--out", str(out))
    assert 'id="scan-table"' in (out / "report.html").read_text()


def test_study_numbers_are_tables_not_raw_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rows = [
        {
            "kind": k,
            "layer": layer,
            "position": p,
            "value": 0.123456789012345 * (layer + p),
            "low": 0.0,
            "high": 1.0,
            "level": 0.95,
        }
        for k in ("resid", "attn")
        for layer in range(2)
        for p in range(3)
    ]
    study = {
        "trace": {"mode": "restore", "metric": "proportion_explained", "positions": [0, 1, 2], "rows": rows},
        "search": [
            {"node": None, "proportion_explained": 0.4905288682693041},
            {"node": "a1.0", "proportion_explained": 0.61},
        ],
        "counting": {"accuracy": 1.0, "logit_diff": 13.667771331440452},
        "info": {"model": "numbers-4l", "logit_diff": 13.667771331440452, "paths": {"a": 2, "b": 26816}},
    }
    (tmp_path / "study.json").write_text(json.dumps(study))
    page = build_html(tmp_path)
    assert 'id="trace-resid"' in page and 'id="trace-attn"' in page and 'id="search-table"' in page
    assert "13.668" in page and "0.491" in page
    text = re.sub(r'data-v="[^"]*"', "", page)  # sort keys keep full precision; what is shown does not
    assert not re.search(r"\d\.\d{7,}", text), re.search(r".{40}\d\.\d{7,}.{20}", text)
    assert "{&quot;" not in page and '{"' not in text.split("<script>")[0]
