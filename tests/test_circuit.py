"""Circuit values (JSON round trip, hypothesis) and ROC areas against known edge sets."""

import numpy as np
import pytest

import pathpatch as pp
from pathpatch.discovery import Circuit, roc_auc, roc_curve
from pathpatch.errors import InputError


@pytest.fixture(scope="module")
def model():
    return pp.native_model(pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8))


def test_edge_circuit_round_trips_through_json(model, tmp_path):
    edges = model.graph.edges[:5]
    c = Circuit(edges, found_by={"algorithm": "acdc", "threshold": 0.1})
    assert Circuit.load(c.save(tmp_path / "c.json")) == c
    assert c.level == "edges" and c.n_edges == 5
    assert c.hypothesis.count(model) == pp.subgraph(edges).count(model)


def test_path_circuit_is_the_union_of_its_patterns(model, tmp_path):
    c = Circuit((), patterns=("embed -> a1.0.v -> out", "embed -> out"))
    assert c.hypothesis.count(model) == 2
    assert Circuit.load(c.save(tmp_path / "p.json")).patterns == c.patterns
    assert Circuit((), patterns=()).hypothesis.count(model) == 0


def test_load_rejects_other_json(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match="not a saved circuit"):
        Circuit.load(tmp_path / "x.json")
    with pytest.raises(InputError, match="no circuit file"):
        Circuit.load(tmp_path / "missing.json")


def test_roc_auc_counts_ties_as_half(model):
    edges = model.graph.edges
    truth = edges[:4]
    assert roc_auc({e: 1.0 for e in truth}, truth, edges) == 1.0
    assert roc_auc({e: 1.0 for e in edges[:3]}, truth, edges) == pytest.approx(0.875)  # 3/4 + 1/4 * 1/2
    inverted = {e: -float(i in range(4)) for i, e in enumerate(edges)}
    assert roc_auc(inverted, truth, edges) == 0.0
    fpr, tpr = roc_curve({e: float(i) for i, e in enumerate(edges)}, truth, edges)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1 and np.all(np.diff(fpr) >= 0)


def test_roc_needs_both_classes(model):
    edges = model.graph.edges
    with pytest.raises(InputError, match="at least one true edge"):
        roc_auc({}, [], edges)
