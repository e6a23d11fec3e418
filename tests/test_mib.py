"""MIB's faithfulness (discovery/mib.py) and circuit files (discovery/mib_format.py): f at MIB's
sizes against MIB's one-forward edge patching written out with 0/1 masks, the trapezoid areas over
the nominal fractions, the leaderboard pair, ACDC and path-search curves, and the file format's
documented fields."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pathpatch as pp
from pathpatch import tasks
from pathpatch.discovery.acdc import acdc_search
from pathpatch.discovery.eap import EdgeScores, eap
from pathpatch.discovery.mib import (
    MIB_FRACTIONS,
    MibCurve,
    acdc_scores,
    areas,
    mib_curve,
    mib_path_curve,
    mib_scores,
)
from pathpatch.discovery.mib_format import (
    mib_edge_name,
    mib_edges,
    parse_mib_edge,
    read_mib,
    to_mib,
    write_mib,
)
from pathpatch.discovery.paths import discover_paths
from pathpatch.engine.soft import EdgeMasks, masked_forward
from pathpatch.errors import InputError
from pathpatch.graph import Edge, Graph, Node, Port
from pathpatch.lang.kept import edges_on_paths, kept_edges
from pathpatch.metrics import logit_diff
from pathpatch.model.config import ModelConfig
from test_eap import _model, _pairs, _runs
from test_tasks import word_tokenizer
from tolerance import REDUCTION, approx

pytestmark = pytest.mark.numeric


def _mib_f(model: pp.ResidualModel, pairs: pp.Pairs, kept: list[Edge]) -> float:
    """(m(C) − m(∅)) / (m(M) − m(∅)) with C run as MIB runs a circuit: one forward in which each
    node's input takes the kept edges from x_ref and every other edge from x_new."""
    clean, ablated = _runs(model, pairs)
    masks = EdgeMasks(model.graph)
    run = masked_forward(model, masks.of(kept).double(), clean, ablated)
    m_c, m_model, m_empty = (float(logit_diff(x, pairs.ref).mean()) for x in (run, clean.logits, ablated.logits))
    return (m_c - m_empty) / (m_model - m_empty)


def test_faithfulness_at_mib_sizes_is_mibs_definition() -> None:
    model, pairs = _model(), _pairs(n=8)
    scores = eap(model, pairs, delta="logit_diff", ig_steps=4, progress=False)
    curve = mib_curve(model, pairs, scores, absolute=True)
    n = len(model.graph.edges)
    assert curve.fractions == MIB_FRACTIONS and curve.n_edges == n
    assert curve.ks == tuple(int(p * n) for p in MIB_FRACTIONS)  # MIB truncates: int(p * n)
    ranked = scores.ranked()
    for k, count, f in zip(curve.ks, curve.edge_counts, curve.faithfulness):
        assert f == approx(_mib_f(model, pairs, list(ranked[:k])), steps=REDUCTION, scale=1 + abs(f))
        assert count == len(edges_on_paths(model.graph, ranked[:k])) <= k
    assert curve.faithfulness[-1] == approx(1.0, steps=REDUCTION)
    assert curve.m_model == approx(float(logit_diff(_runs(model, pairs)[0].logits, pairs.ref).mean()), steps=REDUCTION)
    # the areas: trapezoids over the nominal fractions, from 0.001 to 1, as MIB sums them
    x, f = MIB_FRACTIONS, curve.faithfulness
    cpr = sum((x[i + 1] - x[i]) * (f[i] + f[i + 1]) / 2 for i in range(len(x) - 1))
    cmd = sum((x[i + 1] - x[i]) * (abs(1 - f[i]) + abs(1 - f[i + 1])) / 2 for i in range(len(x) - 1))
    assert (curve.cpr, curve.cmd) == (approx(cpr, steps=20), approx(cmd, steps=20))
    assert MibCurve.from_dict(json.loads(json.dumps(curve.to_dict()))) == curve
    assert "CPR" in str(curve)


def test_areas_of_known_curves() -> None:
    ones, zeros = [1.0] * len(MIB_FRACTIONS), [0.0] * len(MIB_FRACTIONS)
    span = MIB_FRACTIONS[-1] - MIB_FRACTIONS[0]
    assert areas(MIB_FRACTIONS, ones) == (approx(span, steps=20), 0.0)
    assert areas(MIB_FRACTIONS, zeros) == (0.0, approx(span, steps=20))
    # f above 1 counts against CMD as much as below it
    assert areas([0.0, 1.0], [1.5, 1.5])[1] == approx(0.5, steps=4)


def test_signed_and_absolute_rankings_give_the_leaderboard_pair() -> None:
    model, pairs = _model(), _pairs(n=8)
    scores = eap(model, pairs, delta="logit_diff", progress=False)
    both = mib_scores(model, pairs, scores)
    signed = mib_curve(model, pairs, scores, absolute=False)
    absolute = mib_curve(model, pairs, scores, absolute=True)
    assert both.cpr == approx(signed.cpr, steps=REDUCTION) and both.cmd == approx(absolute.cmd, steps=REDUCTION)
    assert both.signed.info["ranking"] == "signed" and both.absolute.info["ranking"] == "absolute"
    top = int(0.1 * len(scores))
    order = np.argsort(-scores.scores, kind="stable")[:top]
    assert both.signed.faithfulness[6] == approx(
        _mib_f(model, pairs, [scores.edges[i] for i in order]), steps=REDUCTION, scale=2
    )


def test_acdc_and_path_search_curves() -> None:
    model, pairs = _model(), _pairs(n=8)
    found = acdc_search(model, pairs, 0.05, delta="logit_diff", progress=False, score=False)
    ranking = acdc_scores(found, model)
    assert ranking.found_by["algorithm"] == "acdc" and len(ranking) == len(model.graph.edges)
    curve = mib_curve(model, pairs, ranking)
    assert curve.info["source"] == "acdc" and curve.faithfulness[-1] == approx(1.0, steps=REDUCTION)
    circuit = discover_paths(model, pairs, target=0.8, delta="logit_diff", progress=False, score=False)
    path_curve = mib_path_curve(model, pairs, circuit)
    n = len(model.graph.edges)
    for p, k in zip(path_curve.fractions, path_curve.ks):
        assert k <= int(p * n)  # each path set uses at most its share of the edges
    assert list(path_curve.ks) == sorted(path_curve.ks)  # nested sets
    assert path_curve.ks[-1] == len(kept_edges(circuit.hypothesis, model))
    with pytest.raises(InputError, match="path-level"):
        mib_path_curve(model, pairs, ranking.top(3))


def test_task_pairs_bring_their_metric() -> None:
    tok = word_tokenizer(["greater-than"])
    data = tasks.generate("greater-than", tok, seed=0, count=8)
    model = _model(d_vocab=tok.get_vocab_size(), n_ctx=data.ref.n_pos)
    scores = EdgeScores(model.graph.edges, np.arange(len(model.graph.edges), dtype=np.float64))
    curve = mib_curve(model, data, scores)
    assert curve.info["metric"] == "prob_diff" and curve.faithfulness[-1] == approx(1.0, steps=REDUCTION)
    clean, _ = _runs(model, data)
    assert curve.m_model == approx(float(data.metric.value(clean.logits, data.ref).mean()), steps=REDUCTION)


def test_mib_names_and_order_match_mibs_graph() -> None:
    gpt2 = Graph(ModelConfig(n_layers=12, n_heads=12, d_model=768, d_head=64, d_vocab=50257, n_ctx=1024, d_mlp=3072))
    order = mib_edges(gpt2)
    assert len(order) == 32491  # the edges of MIB's GPT-2-small example file circuits/ioi-eap-ig.json
    names = [name for name, _ in order]
    assert all(mib_edge_name(g[0]) == name for name, g in order)
    # MIB's example file starts with these, in this order
    assert names[:4] == ["input->a0.h0<q>", "input->a0.h0<k>", "input->a0.h0<v>", "input->a0.h1<q>"]
    assert names[36:39] == ["input->m0", "a0.h0->m0", "a0.h1->m0"]
    assert names[-1] == "m11->logits" and "a0.h1->a1.h2<q>" in names and "input->logits" in names
    assert [len(g) for _, g in order[:4]] == [2, 2, 2, 2]  # input: embed and pos
    assert all(parse_mib_edge(n) == g[0] for n, g in order)
    assert parse_mib_edge("a0.h1->a1.h2<q>") == Edge(Node("head", 0, 1), Port(Node("head", 1, 2), "q"))
    for bad in ("a0.h1->a1.h2", "input->m0<q>", "logits->m0", "a0.1->m1"):
        with pytest.raises(InputError):
            parse_mib_edge(bad)


def test_mib_file_fields_and_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _model(d_mlp=12, positions="none")  # one input node, as in MIB
    rng = np.random.default_rng(0)
    scores = EdgeScores(model.graph.edges, rng.normal(size=len(model.graph.edges)), {"algorithm": "eap"})
    circuit = scores.top(7)
    d = to_mib(model, scores, circuit)
    assert set(d) == {"cfg", "nodes", "edges"}
    assert d["cfg"] == {"n_layers": 2, "n_heads": 2, "parallel_attn_mlp": False, "d_model": 16}
    assert list(d["nodes"]) == ["input", "a0.h0", "a0.h1", "m0", "a1.h0", "a1.h1", "m1", "logits"]
    assert all(set(v) == {"in_graph"} for v in d["nodes"].values()) and d["nodes"]["logits"]["in_graph"]
    assert all(set(v) == {"score", "in_graph"} for v in d["edges"].values())
    assert sum(v["in_graph"] for v in d["edges"].values()) == 7
    touched = {mib_edge_name(e).split("->")[0] for e in circuit.edges}
    assert all(d["nodes"][n]["in_graph"] for n in touched)
    path = write_mib(tmp_path / "ioi_tiny" / "importances.json", model, scores, circuit)
    back = read_mib(path, model)
    assert back.cfg == d["cfg"] and back.scores is not None
    assert back.scores.edges == model.graph.edges and np.array_equal(back.scores.scores, scores.scores)
    assert back.circuit.edges == circuit.edges
    # the membership-only format (one file per circuit size): no scores
    only = to_mib(model, None, circuit)
    assert all(set(v) == {"in_graph"} for v in only["edges"].values())
    assert read_mib(only).scores is None and set(read_mib(only).circuit.edges) == set(circuit.edges)
    assert read_mib(only, model).circuit.edges == circuit.edges
    with pytest.raises(InputError, match="'cfg', 'nodes' and 'edges'"):
        read_mib({"edges": {}})
    with pytest.raises(InputError, match="edges"):
        read_mib(d, _model(n_layers=3))


def test_inputs_and_attention_only_models() -> None:
    short = _model(positions="shortformer")  # pos feeds q and k only
    rng = np.random.default_rng(1)
    scores = EdgeScores(short.graph.edges, rng.normal(size=len(short.graph.edges)))
    d = to_mib(short, scores, [Edge.parse("pos -> a1.0.q")])
    by = scores.as_dict()
    q, v = d["edges"]["input->a1.h0<q>"], d["edges"]["input->a1.h0<v>"]
    assert q["score"] == approx(by[Edge.parse("embed -> a1.0.q")] + by[Edge.parse("pos -> a1.0.q")], steps=2)
    assert v["score"] == by[Edge.parse("embed -> a1.0.v")] and q["in_graph"] and not v["in_graph"]
    assert "pos" not in d["nodes"] and d["nodes"]["input"]["in_graph"]
    back = read_mib(d, short)
    assert set(back.circuit.edges) == {Edge.parse("pos -> a1.0.q"), Edge.parse("embed -> a1.0.q")}
    attn_only = _model(d_mlp=None)
    names = list(to_mib(attn_only)["nodes"])
    assert names == ["input", "a0.h0", "a0.h1", "a1.h0", "a1.h1", "logits"]


def test_zero_gap_is_refused() -> None:
    model = _model()
    same = _pairs(n=4)
    same = pp.Pairs(same.ref, same.ref.tokens)
    with pytest.raises(InputError, match="undefined"):
        mib_curve(model, same, EdgeScores(model.graph.edges, np.zeros(len(model.graph.edges))))
