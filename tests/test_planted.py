"""Planted circuits (discovery/planted.py): each claim about the ground truth proven through the engine."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest
import torch

import pathpatch as pp
from pathpatch.discovery.planted import PLANTED, PlantedTask, planted
from pathpatch.graph import Edge, Path
from tolerance import REDUCTION, close

pytestmark = pytest.mark.numeric

EXPECTED_EDGES = {
    "direct": {"embed -> a1.0.v", "a1.0 -> out"},
    "chain": {"embed -> a0.0.v", "a0.0 -> a1.1.v", "a1.1 -> out"},
    "induction": {"embed -> a0.0.v", "a0.0 -> a1.0.k", "embed -> a1.0.q", "embed -> a1.0.v", "a1.0 -> out"},
    "parallel": {"embed -> a1.0.v", "a1.0 -> out", "embed -> a0.0.v", "a0.0 -> a1.1.v", "a1.1 -> out"},
    "mlp": {"embed -> m0", "m0 -> a1.1.v", "a1.1 -> out"},
}
EXPECTED_PATHS = {"direct": 1, "chain": 1, "induction": 3, "parallel": 2, "mlp": 1}


@cache
def task(name: str) -> PlantedTask:
    return planted(name, n=48, seed=0)


def proportion(values: dict[str, np.ndarray]) -> float:
    return float(1.0 - values["delta_h"].mean() / values["delta_empty"].mean())


def test_task_names_and_edges() -> None:
    assert PLANTED == ("direct", "chain", "induction", "parallel", "mlp")
    for name in PLANTED:
        t = task(name)
        assert {e.name for e in t.edges} == EXPECTED_EDGES[name]
        assert t.edges <= t.model.graph.edge_set
        assert t.edges == {e for p in t.patterns for e in Path.parse(p).edges}
        assert all(isinstance(e, Edge) for e in t.edges) and t.description
        with pytest.raises(dataclasses.FrozenInstanceError):
            t.name = "other"  # type: ignore[misc]


def test_unknown_task_and_bad_arguments() -> None:
    with pytest.raises(pp.ArgumentError, match=r"unknown planted task 'chian'; expected one of 'direct', 'chain'"):
        planted("chian")
    with pytest.raises(pp.ArgumentError, match="n must be an int >= 2"):
        planted("chain", n=1)
    with pytest.raises(pp.ArgumentError, match="seed must be a non-negative int"):
        planted("chain", seed=-1)


def test_seeded_and_small() -> None:
    a, b, c = planted("chain", n=16, seed=3), planted("chain", n=16, seed=3), planted("chain", n=16, seed=4)
    assert torch.equal(a.pairs.ref.tokens, b.pairs.ref.tokens) and torch.equal(a.pairs.new_tokens, b.pairs.new_tokens)
    assert not torch.equal(a.pairs.ref.tokens, c.pairs.ref.tokens)
    cfg = a.model.config
    assert cfg.n_layers <= 3 and cfg.n_heads <= 4 and cfg.d_model <= 48 and cfg.d_vocab <= 32 and cfg.n_ctx <= 8
    assert not cfg.norm and len(a.pairs) == 16


@pytest.mark.parametrize("name", PLANTED)
def test_clean_model_does_the_behaviour(name: str) -> None:
    """The targets are what the clean model predicts, and x_new changes the prediction."""
    t = task(name)
    data = t.pairs.ref
    logits = t.model(data.tokens)
    mask = data.target_mask
    assert torch.equal(logits.argmax(-1)[mask], data.target_tokens[mask])
    assert float(torch.log_softmax(logits, -1)[mask].gather(-1, data.target_tokens[mask][:, None]).mean()) > -0.5
    new = t.model(t.pairs.new_tokens).argmax(-1)[mask]
    assert float((new != data.target_tokens[mask]).float().mean()) > 0.5


@pytest.mark.parametrize("name", PLANTED)
def test_subgraph_and_patterns_explain_everything(name: str) -> None:
    """(1) subgraph(edges) and (4) paths(patterns) explain proportion 1 on KL and loss (and under
    mean ablation); (4) the patterns are exactly the subgraph's paths."""
    t = task(name)
    sub, pat = pp.subgraph(t.edges), pp.paths(list(t.patterns))
    for delta in ("kl", "loss"):
        report = pp.score(t.model, {"sub": sub, "pat": pat}, t.pairs, delta=delta, n_boot=100, progress=False)
        for h in ("sub", "pat"):
            pe = report[h].metrics["proportion_explained"]
            close(pe.value, 1.0, steps=REDUCTION, msg=f"{delta} {h} {pe}")
        assert report["sub"].metrics["ate"].value > 0.5
    mean = pp.per_example(t.model, {"sub": sub}, t.pairs, ablation="mean", progress=False)["sub"]
    assert mean["delta_empty"].mean() > 0.5
    close(proportion(mean), 1.0, steps=REDUCTION)
    assert sub.count(t.model) == pat.count(t.model) == EXPECTED_PATHS[name]
    assert set(sub.list(t.model)) == set(pat.list(t.model)) == {Path.parse(p) for p in t.patterns}


@pytest.mark.parametrize("name", PLANTED)
def test_every_true_edge_matters(name: str) -> None:
    """(2) Removing a true edge from the circuit, or from the full model, clearly loses effect."""
    t = task(name)
    hyps = {}
    for e in t.edges:
        hyps[f"circuit - {e.name}"] = pp.subgraph(t.edges - {e})
        hyps[f"model - {e.name}"] = ~pp.through_edge(e.sender, e.receiver)
    values = pp.per_example(t.model, hyps, t.pairs, progress=False)
    for e in t.edges:
        assert proportion(values[f"circuit - {e.name}"]) < 1.0 - 0.05, e
        assert values[f"model - {e.name}"]["delta_h"].mean() > 0.05, e


@pytest.mark.parametrize("name", PLANTED)
def test_every_false_edge_has_zero_effect(name: str) -> None:
    """(3) Every other edge of the graph, ablated alone, leaves every example's output unchanged;
    all of them kept without the true edges explain nothing."""
    t = task(name)
    false = [e for e in t.model.graph.edges if e not in t.edges]
    hyps = {e.name: ~pp.through_edge(e.sender, e.receiver) for e in false}
    hyps["false edges only"] = pp.subgraph(false)
    values = pp.per_example(t.model, hyps, t.pairs, progress=False)
    for e in false:
        close(values[e.name]["delta_h"], 0.0, steps=REDUCTION, msg=str(e))
    close(proportion(values["false edges only"]), 0.0, steps=REDUCTION)


@pytest.mark.parametrize("name", ["chain", "induction", "mlp"])
def test_not_every_edge_between_circuit_nodes(name: str) -> None:
    """Some edges between circuit nodes are not in the circuit (embed -> out always), and some
    active heads outside it (decoys) write to the residual stream."""
    t = task(name)
    nodes = {e.sender for e in t.edges} | {e.receiver.node for e in t.edges}
    between = {e for e in t.model.graph.edges if e.sender in nodes and e.receiver.node in nodes}
    assert Edge.parse("embed -> out") in between - t.edges
    assert len(between - t.edges) >= 4
    heads = {(n.layer, n.head) for n in nodes if n.kind == "head"}
    decoys = [
        (layer, h)
        for layer in range(2)
        for h in range(t.model.config.n_heads)
        if (layer, h) not in heads and bool(t.model.W_O[layer, h].any())
    ]
    assert decoys
