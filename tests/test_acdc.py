"""ACDC (discovery/acdc.py): the batched, speculative search equals the plain sequential algorithm."""

from __future__ import annotations

import importlib
import math
import random
from functools import cache

import numpy as np
import pytest
import torch

import pathpatch as pp
from pathpatch.discovery import Circuit, roc_auc
from pathpatch.discovery.acdc import AcdcResult, acdc, acdc_search
from pathpatch.discovery.planted import PLANTED, planted
from pathpatch.graph import Edge
from tolerance import REDUCTION, close

pytestmark = pytest.mark.numeric

acdc_module = importlib.import_module("pathpatch.discovery.acdc")  # the package exports the function acdc


@cache
def setup(d_mlp: int | None = None, seed: int = 0) -> tuple[pp.ResidualModel, pp.Pairs]:
    model = pp.native_model(
        pp.NativeConfig(
            n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8, d_mlp=d_mlp, init_std=0.3, seed=seed
        )
    )
    tokens = torch.randint(0, 20, (24, 8), generator=torch.Generator().manual_seed(seed))
    return model, pp.pair_derangement(pp.Dataset.next_token(tokens), seed=seed)


def metric(model, pairs, kept, **kw) -> float:  # type: ignore[no-untyped-def]
    values = pp.per_example(model, {"h": pp.subgraph(kept)}, pairs, progress=False, **kw)
    return float(np.mean(values["h"]["delta_h"]))


def sequential(model, pairs, threshold, **kw):  # type: ignore[no-untyped-def]
    """The plain algorithm, one hypothesis per engine call: edges in reverse graph order; a receiver
    with no kept edge out has its incoming edges removed untested (effect 0)."""
    graph = model.graph
    kept = set(graph.edges)
    effects: dict[Edge, float] = {}
    tested: list[Edge] = []
    current = metric(model, pairs, kept, **kw)
    for e in reversed(graph.edges):
        node = e.receiver.node
        if node.kind != "out" and not any(Edge(node, p) in kept for p in graph.receivers[node]):
            kept.discard(e)
            effects[e] = 0.0
            continue
        value = metric(model, pairs, kept - {e}, **kw)
        tested.append(e)
        effects[e] = value - current
        if value - current < threshold:
            kept.discard(e)
            current = value
    return kept, effects, tested


@pytest.mark.parametrize(
    "d_mlp, threshold, kw",
    [
        (None, 0.01, {}),
        (12, 0.01, {}),
        (12, 0.02, {"ablation": "mean", "delta": "loss"}),
    ],
)
def test_equals_the_sequential_algorithm(d_mlp, threshold, kw) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup(d_mlp)
    result = acdc_search(model, pairs, threshold, progress=False, score=False, **kw)
    kept, effects, tested = sequential(model, pairs, threshold, **kw)
    assert set(result.circuit.edges) == kept
    assert 0.2 < len(kept) / len(model.graph.edges) < 0.6  # a real mix of kept and removed edges
    assert result.scores.keys() == effects.keys()
    for e, value in effects.items():
        close(result.scores[e], value, steps=REDUCTION, msg=e.name)
    found = result.circuit.found_by
    windows = len({model.graph.stage_of(p.node) for p in model.graph.ports})  # one per stage here
    assert found["passes"] > windows  # some guesses were wrong: passes were re-batched
    assert list(result.tested) == tested and found["tested"] == len(tested)


def test_the_circuit_is_a_cut_of_its_scores() -> None:
    model, pairs = setup(12)
    result = acdc_search(model, pairs, 5e-3, progress=False, score=False)
    kept = set(result.circuit.edges)
    for e, s in result.scores.items():
        assert (s >= 5e-3) == (e in kept), e.name
    assert roc_auc(result.scores, kept, model.graph.edges) == 1.0


def test_speculation_is_exact_under_strong_interactions(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A made-up metric whose edges interact at random (guesses go wrong often), replayed exactly."""
    model, pairs = setup(12)
    edges = list(model.graph.edges)
    rng = random.Random(0)
    alone = {e: rng.uniform(-1, 2) for e in edges}
    pair = {(a, b): rng.uniform(-2, 2) for a in edges for b in edges if rng.random() < 0.2}

    def m(removed: frozenset[Edge]) -> float:
        return sum(alone[e] for e in removed) + sum(w for (a, b), w in pair.items() if a in removed and b in removed)

    def measure(self, keys):  # type: ignore[no-untyped-def]
        self.passes += 1
        self.hypotheses += len(keys)
        return {k: m(k) for k in keys}

    monkeypatch.setattr(acdc_module._Search, "measure", measure)
    result = acdc_search(model, pairs, 0.5, progress=False, score=False)
    removed: set[Edge] = set()
    for e in reversed(edges):  # the sequential rule on the same metric
        node = e.receiver.node
        if node.kind != "out" and all(Edge(node, p) in removed for p in model.graph.receivers[node]):
            removed.add(e)
        elif m(frozenset(removed | {e})) - m(frozenset(removed)) < 0.5:
            removed.add(e)
    assert set(result.circuit.edges) == set(edges) - removed
    assert 0 < len(removed) < len(edges)
    assert result.circuit.found_by["passes"] < result.circuit.found_by["tested"]


def test_threshold_zero_keeps_every_edge_whose_removal_raises_the_metric() -> None:
    """From the full graph KL is 0 and every removal raises it (or leaves it at exactly 0, like
    ``pos`` edges, equal in both runs): at threshold 0 nothing goes, each effect is the single removal's."""
    model, pairs = setup(12)
    result = acdc_search(model, pairs, 0.0, progress=False, score=False)
    assert result.circuit.edges == model.graph.edges
    singles = pp.per_example(
        model, {e.name: ~pp.through_edge(e.sender, e.receiver) for e in model.graph.edges}, pairs, progress=False
    )
    for e in model.graph.edges:
        close(result.scores[e], float(np.mean(singles[e.name]["delta_h"])), steps=REDUCTION, msg=e.name)
    assert all(result.scores[e] == 0.0 for e in model.graph.edges if e.sender.kind == "pos")
    # the first pass of each stage's window guesses "remove", wrongly, but the single removals it
    # measures too decide every edge: one pass per window (one per stage here)
    assert result.circuit.found_by["passes"] == len({model.graph.stage_of(p.node) for p in model.graph.ports})


def test_a_huge_threshold_removes_everything() -> None:
    model, pairs = setup(12)
    circuit = acdc(model, pairs, 1e9, progress=True, n_boot=50)
    assert circuit.edges == ()
    assert circuit.found_by["tested"] == len(model.graph.senders(model.graph.port("out")))  # then nothing is live
    pe = circuit.score.metrics["proportion_explained"]  # type: ignore[union-attr]
    close(pe.value, 0.0, steps=REDUCTION)


def test_passes_far_below_edges_tested_and_found_by() -> None:
    model, pairs = setup(12)
    circuit = acdc(model, pairs, 5e-3, progress=False, n_boot=50, seed=3)
    found = circuit.found_by
    assert found["passes"] * 3 < found["tested"]
    assert found["tested"] <= found["edges"] == len(model.graph.edges) and found["kept"] == circuit.n_edges
    assert {k: found[k] for k in ("algorithm", "threshold", "delta", "ablation", "examples", "seed")} == {
        "algorithm": "acdc",
        "threshold": 5e-3,
        "delta": "kl",
        "ablation": "resample",
        "examples": len(pairs),
        "seed": 3,
    }
    assert found["seconds"] > 0 and found["hypotheses"] >= found["tested"]


def test_rescores_to_the_same_numbers_and_round_trips_json(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup(12)
    circuit = acdc(model, pairs, 5e-3, progress=False, n_boot=50, seed=1)
    assert circuit.score is not None and circuit.score.name == "acdc"
    again = pp.score(model, {"c": circuit.hypothesis}, pairs, n_boot=50, seed=1, progress=False)["c"]
    for name, estimate in circuit.score.metrics.items():
        other = again.metrics[name]
        close(
            (estimate.value, estimate.low, estimate.high),
            (other.value, other.low, other.high),
            steps=REDUCTION,
            msg=name,
        )
    loaded = Circuit.load(circuit.save(tmp_path / "acdc.json"))
    assert loaded == circuit and loaded.found_by["algorithm"] == "acdc"


@pytest.mark.parametrize("name", PLANTED)
def test_recovers_each_planted_circuit(name: str) -> None:
    task = planted(name, n=32, seed=0)
    result = acdc_search(task.model, task.pairs, 0.01, progress=False, score=False)
    assert isinstance(result, AcdcResult)
    assert set(result.circuit.edges) == set(task.edges)
    assert roc_auc(result.scores, task.edges, task.model.graph.edges) == 1.0
    assert result.circuit.found_by["passes"] < result.circuit.found_by["tested"] / 2


def test_bad_arguments_are_typed_errors_before_any_work() -> None:
    model, pairs = setup(None)
    with pytest.raises(pp.ArgumentError, match="threshold is NaN; pass a number such as 0.01"):
        acdc(model, pairs, math.nan)
    with pytest.raises(TypeError, match="threshold must be a number"):
        acdc(model, pairs, "0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="score must be True or False"):
        acdc(model, pairs, 0.1, score="yes")  # type: ignore[arg-type]
    with pytest.raises(pp.InputError, match="unknown delta 'kll'"):
        acdc(model, pairs, 0.1, delta="kll")
    with pytest.raises(pp.ArgumentError, match="ablation must be"):
        acdc(model, pairs, 0.1, ablation="noise")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pairs"):
        acdc(model, pairs.ref, 0.1)  # type: ignore[arg-type]
