"""Tests of pathpatch.report: table rendering, lookup and JSON round-trip."""

from __future__ import annotations

import json

import pytest

from pathpatch.errors import InputError
from pathpatch.estimates import Estimate
from pathpatch.report import HypothesisScore, Report

ATE = Estimate(2.0, 1.5, 2.5)


def make_report() -> Report:
    return Report(
        scores=(
            HypothesisScore(
                "all", 12, {"aue": Estimate(0.0, 0.0, 0.0), "ate": ATE, "proportion_explained": Estimate(1.0, 1.0, 1.0)}
            ),
            HypothesisScore(
                "induction",
                3,
                {
                    "aue": Estimate(0.1234, 0.101, 0.1449),
                    "ate": ATE,
                    "proportion_explained": Estimate(0.9383, 0.92, 0.95),
                    "loss_recovered": Estimate(0.5, 0.4, 0.6),
                },
            ),
            HypothesisScore("custom", None, {"aue": Estimate(1.5e-5, 0.0, 2e-5), "ate": ATE}),
        ),
        meta={"delta": "kl", "ablation": "resample", "n_examples": 200, "seed": 0},
    )


def test_str_is_a_fixed_width_table():
    text = str(make_report())
    lines = text.splitlines()
    assert lines[0] == "pathpatch report (delta=kl, ablation=resample, n_examples=200, seed=0)"
    assert lines[1] == "ATE = 2.000 [1.500, 2.500]"
    assert lines[2:] == [
        "hypothesis | paths |                    AUE | proportion explained |       loss recovered",
        "-----------+-------+------------------------+----------------------+---------------------",
        "all        |    12 |   0.000 [0.000, 0.000] | 1.000 [1.000, 1.000] |                    -",
        "induction  |     3 |   0.123 [0.101, 0.145] | 0.938 [0.920, 0.950] | 0.500 [0.400, 0.600]",
        "custom     |     - | 1.5e-05 [0.000, 2e-05] |                    - |                    -",
    ]
    # Columns line up: every " | " separator sits at the same offsets in header and rows.
    seps = {tuple(i for i in range(len(l)) if l.startswith(" | ", i)) for l in lines[2:3] + lines[4:]}
    assert len(seps) == 1


def test_getitem_by_name():
    r = make_report()
    assert r["induction"].n_paths == 3
    assert r["induction"].metrics["loss_recovered"].value == 0.5
    assert r.names == ["all", "induction", "custom"]
    assert len(r) == 3 and [s.name for s in r] == r.names
    with pytest.raises(KeyError, match=r"no hypothesis named 'nope'.*\['all', 'induction', 'custom'\]"):
        r["nope"]


def test_duplicate_names_rejected():
    s = HypothesisScore("a", 1, {})
    with pytest.raises(InputError, match=r"unique, got duplicates \['a'\]"):
        Report(scores=(s, s), meta={})


def test_scores_list_becomes_tuple():
    r = Report(scores=[HypothesisScore("a", 1, {})])  # type: ignore[arg-type]
    assert isinstance(r.scores, tuple)
    assert str(r).splitlines()[0] == "pathpatch report"


def test_json_round_trip(tmp_path):
    r = make_report()
    path = tmp_path / "report.json"
    text = r.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text)
    back = Report.from_json(text)
    assert back == r
    assert back.to_dict() == r.to_dict()
    assert back.to_dict()["scores"][1]["metrics"]["aue"] == {
        "value": 0.1234,
        "low": 0.101,
        "high": 0.1449,
        "level": 0.95,
    }


def test_json_errors():
    r = Report(scores=(HypothesisScore("a", 1, {}),), meta={"model": object()})
    with pytest.raises(InputError, match="report meta must hold JSON values"):
        r.to_json()
    with pytest.raises(InputError, match="not valid report JSON"):
        Report.from_json("{not json")
    with pytest.raises(InputError, match="needs keys 'scores' and 'meta'"):
        Report.from_json("{}")


def test_markdown_table():
    md = make_report().to_markdown()
    lines = md.strip().splitlines()
    assert lines[0] == (
        "**pathpatch report (delta=kl, ablation=resample, n_examples=200, seed=0); ATE = 2.000 [1.500, 2.500]**"
    )
    assert lines[2] == "| hypothesis | paths | AUE | proportion explained | loss recovered |"
    assert lines[3] == "|:---|---:|---:|---:|---:|"
    assert lines[5] == "| induction | 3 | 0.123 [0.101, 0.145] | 0.938 [0.920, 0.950] | 0.500 [0.400, 0.600] |"
    assert lines[6] == "| custom | - | 1.5e-05 [0.000, 2e-05] | - | - |"
