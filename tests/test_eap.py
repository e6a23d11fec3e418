"""Edge attribution patching (discovery/eap.py), faithfulness curves (discovery/curves.py) and their
plots: EAP against finite differences and a hand-derived gradient, EAP-IG's completeness, the
curve's ends and areas against the exact engine, and ground truth on the planted models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pathpatch as pp
from pathpatch.discovery import curves as curves_module
from pathpatch.discovery.circuit import Circuit
from pathpatch.discovery.curves import FaithfulnessCurve, default_ks, faithfulness
from pathpatch.discovery.eap import EdgeScores, _example_bytes, eap
from pathpatch.discovery.planted import PLANTED, planted
from pathpatch.engine.api import ablated_cache
from pathpatch.engine.cache import mean_outputs, run_cache
from pathpatch.engine.soft import masked_forward
from pathpatch.errors import ArgumentError, InputError
from pathpatch.graph import Edge, Node, Path, Port
from pathpatch.metrics import kl, logit_diff, loss
from pathpatch.render import plot_faithfulness, plot_roc
from tolerance import FORWARD, REDUCTION, approx, close

pytestmark = pytest.mark.numeric


def _model(dtype: torch.dtype = torch.float64, **kw) -> pp.ResidualModel:  # type: ignore[no-untyped-def]
    cfg = dict(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8, init_std=0.3, seed=1)
    cfg.update(kw)
    return pp.native_model(pp.NativeConfig(**cfg)).placed(dtype=dtype)


def _pairs(n: int = 6, n_pos: int = 6, seed: int = 0) -> pp.Pairs:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 20, (n, n_pos), generator=g)
    base = pp.Dataset.next_token(tokens)
    data = pp.Dataset(tokens, base.target_mask, base.target_tokens, torch.randint(0, 20, (n, n_pos), generator=g))
    return pp.pair_derangement(data, seed=seed)


def _runs(model: pp.ResidualModel, pairs: pp.Pairs, ablation: str = "resample"):  # type: ignore[no-untyped-def]
    ref = pairs.ref.tokens
    means = mean_outputs(model, pairs.new_tokens) if ablation == "mean" else None
    return run_cache(model, ref), ablated_cache(model, ref, pairs.new_tokens, ablation, means)  # type: ignore[arg-type]


OBJECTIVES = {  # the objective M written out from the metrics, independently of eap.objective
    "loss": lambda clean, x, data: loss(x, data) - loss(clean, data),
    "logit_diff": lambda clean, x, data: logit_diff(clean, data) - logit_diff(x, data),
    "kl": kl,
}


@pytest.mark.parametrize("delta", ["loss", "logit_diff", "kl"])
def test_eap_is_the_finite_difference_of_the_masked_forward(delta: str) -> None:
    """Clean point (loss, logit diff): score = -dM/dm_e at m = 1. Corrupted point (kl): the runs'
    roles swapped, score = +dM/dm'_e at m' = 1, the x_new run. Batches of 4 over 6 examples."""
    model, pairs = _model(), _pairs()
    scores = eap(model, pairs, delta=delta, batch_size=4, progress=False)
    assert scores.found_by["at"] == ("corrupted" if delta == "kl" else "clean")
    assert scores.found_by["backward_passes"] == 2 and scores.found_by["examples"] == 6
    clean, ablated = _runs(model, pairs)
    swap = delta == "kl"
    one, zero = (ablated, clean) if swap else (clean, ablated)
    if swap:  # the swapped forward at m' = 1 is the x_new run
        ones = torch.ones(len(model.graph.edges), dtype=torch.float64)
        close(masked_forward(model, ones, one, zero), ablated.logits, steps=FORWARD)  # float64: the model's dtype

    def M(mask: torch.Tensor) -> float:
        logits = masked_forward(model, mask, one, zero)
        return float(OBJECTIVES[delta](clean.logits, logits, pairs.ref).mean())

    h, n = 1e-5, len(model.graph.edges)
    edges = list(model.graph.edges)
    picked = [
        edges.index(Edge.parse(e))
        for e in ("embed -> a0.0.v", "a0.1 -> a1.0.k", "a0.0 -> a1.1.q", "a1.1 -> out", "embed -> out")
    ]
    for i in picked:
        step = torch.zeros(n, dtype=torch.float64)
        step[i] = h
        slope = (M(torch.ones(n, dtype=torch.float64) + step) - M(torch.ones(n, dtype=torch.float64) - step)) / (2 * h)
        expected = slope if swap else -slope
        assert abs(scores.scores[i] - expected) <= 1e-7 + 1e-5 * abs(expected), (edges[i], scores.scores[i], expected)
    assert np.abs(scores.scores[picked]).max() > 1e-4  # the edges do matter


def test_eap_on_edges_into_out_is_syed_formula() -> None:
    """For an edge u -> out at the clean run: -(clean_u - ablated_u) . dM/d(final residual), the
    gradient taken through the unembedding alone, not through masked_forward."""
    model, pairs = _model(), _pairs()
    scores = eap(model, pairs, delta="loss", progress=False).as_dict()
    clean, ablated = _runs(model, pairs)
    resid = clean.stage_inputs[max(clean.stage_inputs)].clone().requires_grad_()
    (grad,) = torch.autograd.grad(loss(model.unembed(resid), pairs.ref).mean(), resid)
    for u in [n for n in model.graph.nodes if n.kind != "out"]:
        expected = -float((grad * (clean.outputs[u] - ablated.outputs[u])).sum())
        assert scores[Edge(u, Port(Node("out")))] == approx(expected, steps=FORWARD, dtype=torch.float64)


def test_kl_gradient_vanishes_at_the_clean_run() -> None:
    """Why kl is evaluated at the corrupted run: at the clean one every score is 0."""
    model, pairs = _model(), _pairs()
    close(eap(model, pairs, delta="kl", at="clean", progress=False).scores, 0.0, steps=FORWARD, dtype=torch.float64)
    assert np.abs(eap(model, pairs, delta="kl", progress=False).scores).max() > 1e-3


@pytest.mark.parametrize("delta,ablation", [("kl", "resample"), ("loss", "resample"), ("kl", "mean")])
def test_eap_ig_scores_sum_to_the_total_effect(delta: str, ablation: str) -> None:
    """Completeness: sum_e score_e -> M(no edges) - M(all edges), computed by the exact engine;
    the right Riemann sum's error shrinks like 1/n."""
    model, pairs = _model(torch.float32), _pairs(8, seed=1)
    values = pp.per_example(model, {"none": pp.no_paths()}, pairs, delta=delta, ablation=ablation, progress=False)[
        "none"
    ]
    total = float(np.mean(values["delta_empty"] if delta == "kl" else values["loss_new"] - values["loss_clean"]))
    errors = {}
    for n in (4, 32):
        s = eap(model, pairs, delta=delta, ablation=ablation, ig_steps=n, progress=False)
        assert s.found_by["algorithm"] == "eap-ig" and s.found_by["backward_passes"] == n
        errors[n] = abs(float(s.scores.sum()) - total)
    assert abs(total) > 0.1
    assert errors[32] < 0.05 * abs(total), (errors, total)
    assert errors[32] < errors[4] / 3, errors


def test_max_memory_shrinks_batches_not_scores() -> None:
    model, pairs = _model(), _pairs(6)
    need = _example_bytes(model, pairs.ref.n_pos)
    small = eap(model, pairs, delta="loss", max_memory=2 * need + 1, progress=False)
    assert small.found_by["batch_size"] == 2 and small.found_by["backward_passes"] == 3
    close(small.scores, eap(model, pairs, delta="loss", progress=False).scores, steps=REDUCTION, dtype=torch.float64)
    with pytest.raises(InputError, match="below the .* bytes one example needs"):
        eap(model, pairs, max_memory=need // 2, progress=False)


def test_bad_arguments_are_typed_errors() -> None:
    model, pairs = _model(), _pairs()
    with pytest.raises(ArgumentError, match="pass at=None with ig_steps > 0"):
        eap(model, pairs, at="clean", ig_steps=3, progress=False)
    with pytest.raises(ArgumentError, match="use ig_steps > 0"):
        eap(model, pairs, delta="kl", ablation="mean", progress=False)
    with pytest.raises(ArgumentError, match="at must be None, 'clean' or 'corrupted'"):
        eap(model, pairs, at="middle", progress=False)  # type: ignore[arg-type]
    no_distractors = pp.pair_derangement(pp.Dataset.next_token(pairs.ref.tokens))
    with pytest.raises(InputError, match="distractor_tokens"):
        eap(model, no_distractors, delta="logit_diff", progress=False)
    with pytest.raises(InputError, match="differentiabl"):
        eap(model, pairs, delta=lambda ref, x, data: kl(ref, x, data).detach(), progress=False)


def test_edge_scores_rank_save_and_print(tmp_path) -> None:  # type: ignore[no-untyped-def]
    edges = tuple(_model().graph.edges)
    values = np.zeros(len(edges))
    values[[3, 7, 11]] = [0.5, -2.0, 1.0]
    s = EdgeScores(edges, values, {"algorithm": "eap", "delta": "kl"})
    assert s.ranked()[:3] == (edges[7], edges[11], edges[3])  # by |score|
    top = s.top(2)
    assert isinstance(top, Circuit) and top.n_edges == 2 and top.edges == (edges[7], edges[11])
    assert top.found_by["k"] == 2 and top.found_by["algorithm"] == "eap"
    assert s.top(0).n_edges == 0 and s.top(len(edges)).n_edges == len(edges) and s.top(2).score is None
    with pytest.raises(ArgumentError, match="more than the"):
        s.top(len(edges) + 1)
    assert s.as_dict()[edges[7]] == -2.0
    assert s.roc_auc([edges[7], edges[11]]) == 1.0  # |score| ranks the negative edge first
    assert s.roc_auc([edges[0], edges[1]]) < 0.5
    again = EdgeScores.load(s.save(tmp_path / "s.json"))
    assert again.edges == s.edges and np.array_equal(again.scores, s.scores) and again.found_by == s.found_by
    text = str(s)
    assert text.splitlines()[1].strip() == f"-2  {edges[7].name}" and "eap (delta=kl)" in text
    with pytest.raises(InputError, match="one finite score per edge"):
        EdgeScores(edges, values[:-1])
    with pytest.raises(InputError, match="format"):
        EdgeScores.from_dict({"edges": []})
    with pytest.raises(ValueError):
        s.scores[0] = 1.0  # read-only


def test_faithfulness_curve_against_the_engine(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    model, pairs = _model(torch.float32), _pairs(8)
    scores = eap(model, pairs, delta="kl", ig_steps=4, progress=False)
    calls = []
    real = curves_module.example_values
    monkeypatch.setattr(curves_module, "example_values", lambda *a, **k: calls.append(len(a[1])) or real(*a, **k))
    curve = faithfulness(model, pairs, scores, ks=[3, 10], progress=False)
    assert calls == [4]  # one batched pass with every k
    assert curve.ks == (0, 3, 10, len(model.graph.edges))
    assert curve.proportion[0] == approx(0.0, steps=REDUCTION) and curve.proportion[-1] == approx(1.0, steps=REDUCTION)
    scored = scores.top(10, model, pairs, n_boot=50)  # scored with the scores' delta (kl) and ablation
    assert scored.n_edges == 10 and scored.edges == scores.top(10).edges
    assert curve.proportion[2] == approx(scored.metric("proportion_explained"), steps=REDUCTION)
    x, p = np.array(curve.ks) / curve.ks[-1], np.array(curve.proportion)
    assert curve.area == pytest.approx(np.sum(np.diff(x) * (p[1:] + p[:-1]) / 2))
    ends = faithfulness(model, pairs, scores, ks=[], progress=False)  # only k = 0 and all edges
    assert ends.area == approx(0.5, steps=REDUCTION) and ends.cmd == approx(0.5, steps=REDUCTION)
    assert curve.info["delta"] == "kl" and curve.info["ranking"] == "eap-ig"
    by_loss = eap(model, pairs, delta="loss", progress=False)  # the curve's delta follows the scores'
    assert faithfulness(model, pairs, by_loss, ks=[], progress=False).info["delta"] == "loss"
    assert FaithfulnessCurve.from_dict(curve.to_dict()) == curve
    assert curve.smallest_reaching(0.0) == 0 and curve.smallest_reaching(1.0) in (curve.ks[-2], curve.ks[-1])
    assert curve.smallest_reaching(curve.proportion[2]) == min(
        k for k, p in zip(curve.ks, curve.proportion) if p >= curve.proportion[2]
    )
    with pytest.raises(ArgumentError, match="edge counts between 0 and"):
        faithfulness(model, pairs, scores, ks=[-1], progress=False)
    other = EdgeScores(tuple(_model(n_layers=1).graph.edges), np.zeros(len(_model(n_layers=1).graph.edges)))
    with pytest.raises(InputError, match="score this model's edges"):
        faithfulness(model, pairs, other, progress=False)


def test_default_ks() -> None:
    assert default_ks(5) == (0, 1, 2, 3, 4, 5)
    ks = default_ks(1000)
    assert ks[0] == 0 and ks[-1] == 1000 and 1 in ks and 500 in ks and list(ks) == sorted(set(ks)) and len(ks) < 60


def test_plots_write_pngs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fpr, tpr = np.array([0.0, 0.2, 1.0]), np.array([0.0, 0.8, 1.0])
    roc = plot_roc({"eap": (fpr, tpr), "random": (fpr, fpr)}, tmp_path / "roc.png")
    curve = FaithfulnessCurve((0, 5, 10), (0.0, 0.7, 1.0), 10, 0.6, 0.4, 1.0)
    faith = plot_faithfulness({"eap": curve}, tmp_path / "sub" / "faith.png")
    for path in (roc, faith):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000
    with pytest.raises(InputError, match="same length"):
        plot_roc({"bad": (fpr, tpr[:2])}, tmp_path / "bad.png")


# ---------------------------------------------------------------- planted ground truth

AUC_BOUND = 0.9  # EAP and EAP-IG must rank the planted edges above (nearly) all others


@pytest.mark.parametrize("ig_steps", [0, 8])
def test_eap_recovers_planted_circuits(ig_steps: int) -> None:
    """ROC AUC of |score| against each planted circuit; the true edges alone explain everything."""
    for name in PLANTED:
        task = planted(name)
        s = eap(task.model, task.pairs, delta="kl", ig_steps=ig_steps, progress=False)
        auc = s.roc_auc(task.edges)
        print(f"{name}: {s.found_by['algorithm']} AUC {auc:.3f} ({s.found_by['seconds']} s)")
        assert auc >= AUC_BOUND, (name, ig_steps, auc)
        if ig_steps == 0:
            curve = faithfulness(task.model, task.pairs, s, ks=[len(task.edges)], progress=False)
            assert curve.proportion[1] == approx(1.0, steps=FORWARD), (name, curve)


def _signed_logit_diff(ref: torch.Tensor, x: torch.Tensor, data: pp.Dataset) -> torch.Tensor:
    return logit_diff(ref, data) - logit_diff(x, data)


@pytest.mark.parametrize("name", ["chain", "parallel"])
def test_eap_is_exact_where_the_metric_is_multilinear_in_the_masks(name: str) -> None:
    """In ``chain`` and ``parallel`` attention is fixed by position and nothing is normalised, so the
    logit difference is a multilinear polynomial in the edge masks (a sum over paths of products).
    Then plain EAP equals the exact effect of removing each edge (scored by the engine), and EAP-IG
    splits a path's effect equally between its L edges (the integral of a^(L-1) is 1/L)."""
    task = planted(name)
    model, pairs, edges = task.model, task.pairs, list(task.model.graph.edges)
    s = eap(model, pairs, delta="logit_diff", progress=False)
    without = {e.name: pp.subgraph([f for f in edges if f != e]) for e in edges}
    values = pp.per_example(model, without, pairs, delta=_signed_logit_diff, progress=False)
    exact = np.array([np.mean(values[e.name]["delta_h"]) for e in edges])
    close(s.scores, exact, steps=FORWARD, msg=str(np.c_[s.scores, exact]))  # float32 model, float64 scores
    assert (exact[[edges.index(e) for e in task.edges]] > 0.1).all()
    # EAP-IG: an edge on one path of L edges, whose removal costs c, gets c times the Riemann sum of
    # the path's product along the line, (1/n) sum_k (k/n)^(L-1) (1/L as n grows)
    n = 16
    ig = eap(model, pairs, delta="logit_diff", ig_steps=n, progress=False).as_dict()
    for pattern in task.patterns:
        path = Path.parse(pattern).edges
        riemann = np.mean((np.arange(1, n + 1) / n) ** (len(path) - 1))
        for e in path:
            assert ig[e] == approx(exact[edges.index(e)] * riemann, steps=FORWARD), (e, pattern)
    false = [e for e in edges if e not in task.edges]
    close([ig[e] for e in false], 0.0, steps=REDUCTION)
