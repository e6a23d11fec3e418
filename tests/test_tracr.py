"""tracr adapter and ground-truth circuits (optional extra ``tracr``; skipped without it).

- ``from_tracr`` matches tracr's own forward exactly (decoded outputs, residual stream, output);
- each task's true edge set explains the whole effect through the engine, and removing any true
  edge loses part of it;
- ACDC, EAP/EAP-IG and path search recover the true circuits. Bound, documented: a tracr circuit
  is exact (every other edge carries nothing its receiver reads, or the same value in both runs),
  so every method must rank the true edges first: ROC AUC >= 0.95 (ties at zero cost at most
  that), and ACDC at a small threshold keeps exactly the true edges.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import pytest
import torch

# tracr compiles a program by running ~80 tiny jax ops eagerly, each compiled by XLA; with less
# backend optimisation they compile about twice as fast and compute the same numbers.
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import pathpatch as pp
from pathpatch.discovery.roc import roc_auc
from pathpatch.model.tracr import from_tracr, tracr_decode, tracr_pairs, tracr_tokens
from tolerance import FORWARD, approx, close

pytestmark = pytest.mark.numeric

NAMES = ["frac_prevs", "detect_ab", "hist"]
TRUE = {  # the circuits the module docs derive by hand from the programs
    "frac_prevs": {"embed -> m0", "m0 -> a1.0.v", "a1.0 -> out"},
    "detect_ab": {"embed -> m0", "m0 -> a1.0.v", "m0 -> m1", "a1.0 -> m1", "m1 -> out"},
    "hist": {"embed -> a0.0.q", "embed -> a0.0.k", "a0.0 -> m0", "m0 -> out"},
}
_TASKS: dict[str, object] = {}


def _task(name: str):  # type: ignore[no-untyped-def]
    pytest.importorskip("tracr")
    from pathpatch.discovery.tracr_tasks import tracr_task

    if name not in _TASKS:
        _TASKS[name] = tracr_task(name, n_examples=48, seed=0)
    return _TASKS[name]


def test_missing_tracr_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tracr", None)  # what an environment without the extra sees
    with pytest.raises(pp.ModelLoadError, match=r"pip install 'pathpatch\[tracr\]'"):
        from_tracr(object())


@pytest.mark.parametrize("name", NAMES)
def test_from_tracr_matches_tracr_forward(name: str) -> None:
    task = _task(name)
    compiled = task.compiled
    residual = from_tracr(compiled, readout="residual")
    vocab = [v for v in compiled.input_encoder.encoding_map if v not in ("BOS", "compiler_pad")]
    gen = torch.Generator().manual_seed(1)
    for length, n in ((5, 16), (2, 6)):
        for _ in range(n):
            seq = [vocab[i] for i in torch.randint(len(vocab), (length,), generator=gen).tolist()]
            want = compiled.apply(["BOS"] + seq)
            tokens = tracr_tokens(compiled, [seq])
            with torch.no_grad():
                logits, resid = task.model(tokens), residual(tokens)
            assert tracr_decode(compiled, logits) == [want.decoded]
            d_model = len(compiled.residual_labels)
            close(resid[0, :, :d_model], torch.tensor(want.transformer_output[0].tolist()), steps=FORWARD)
            if compiled.output_encoder.__class__.__name__ == "NumericalEncoder":
                close(logits[0, :, 0], torch.tensor(want.unembedded[0].tolist()), steps=FORWARD)
    # the engine's patched runs start from the same model: all paths give the clean run
    ref, new = task.pairs.ref.tokens[:4], task.pairs.new_tokens[:4]
    close(pp.evaluate(task.model, pp.all_paths(), ref, new), task.model(ref), steps=FORWARD)


def test_adapter_refuses_what_it_cannot_express() -> None:
    compiled = _task("frac_prevs").compiled
    with pytest.raises(pp.ConfigError, match="AssembledTransformerModel"):
        from_tracr(object())
    config = dataclasses.replace(compiled.model_config, causal=False)
    with pytest.raises(pp.ConfigError, match=r"causal=True"):
        from_tracr(dataclasses.replace(compiled, model_config=config))
    with pytest.raises(pp.InputError, match="readout"):
        from_tracr(compiled, readout="logits")  # type: ignore[arg-type]


def test_tracr_tokens_adds_bos_and_names_bad_inputs() -> None:
    compiled = _task("frac_prevs").compiled
    enc = compiled.input_encoder.encoding_map
    ids = tracr_tokens(compiled, [["x", "y"], ["BOS", "w", "x"]])
    assert ids.tolist() == [[enc["BOS"], enc["x"], enc["y"]], [enc["BOS"], enc["w"], enc["x"]]]
    with pytest.raises(pp.InputError, match=r"'q' is not in the tracr model's vocabulary"):
        tracr_tokens(compiled, [["x", "q"]])
    with pytest.raises(pp.InputError, match="different lengths"):
        tracr_tokens(compiled, [["x"], ["x", "y"]])
    with pytest.raises(pp.InputError, match="max_seq_len"):
        tracr_tokens(compiled, [["x"] * 6])


def test_tracr_pairs_targets_are_the_clean_and_corrupted_outputs() -> None:
    task = _task("detect_ab")
    out = task.compiled.output_encoder.encoding_map
    pairs = tracr_pairs(task.compiled, task.model, [["c", "a", "b"]], [["c", "c", "b"]])
    assert pairs.ref.target_mask.tolist() == [[False, True, True, True]]
    assert pairs.ref.target_tokens[0, 3] == out[True] and pairs.ref.distractor_tokens[0, 3] == out[False]
    assert pairs.ref.target_tokens[0, 1] == pairs.ref.distractor_tokens[0, 1] == out[False]
    with pytest.raises(pp.InputError, match="same shape"):
        tracr_pairs(task.compiled, task.model, [["a", "b"]], [["a"]])


@pytest.mark.parametrize("name", NAMES)
def test_true_circuit_explains_everything(name: str) -> None:
    task = _task(name)
    assert {e.name for e in task.true_edges} == TRUE[name]
    hyps = {"true": pp.subgraph(task.true_edges)}
    hyps.update({e.name: pp.subgraph([x for x in task.true_edges if x != e]) for e in task.true_edges})
    report = pp.score(task.model, hyps, task.pairs, delta=task.delta, progress=False, n_boot=50)
    ate = report["true"].metrics["ate"].value
    assert ate > 0.1  # the corruption changes the output
    assert report["true"].metrics["proportion_explained"].value == approx(1.0, steps=FORWARD)
    for edge in task.true_edges:  # every true edge is needed
        assert report[edge.name].metrics["aue"].value > 0.05 * ate, edge.name


@pytest.mark.parametrize("name", NAMES)
def test_discovery_recovers_the_true_circuit(name: str) -> None:
    from pathpatch.discovery.acdc import acdc_search
    from pathpatch.discovery.eap import eap
    from pathpatch.discovery.paths import discover_paths

    task = _task(name)
    edges, truth = task.model.graph.edges, task.true_edges
    found = acdc_search(task.model, task.pairs, 0.01, delta=task.delta, progress=False, score=False)
    aucs = {"acdc": roc_auc(found.scores, truth, edges)}
    assert set(found.circuit.edges) == set(truth)
    for steps in (0, 5):
        scores = eap(task.model, task.pairs, delta=task.delta, ig_steps=steps, progress=False).as_dict()
        aucs[f"eap(ig_steps={steps})"] = roc_auc({e: abs(s) for e, s in scores.items()}, truth, edges)
    circuit = discover_paths(task.model, task.pairs, target=0.95, delta=task.delta, progress=False, score=False)
    aucs["discover_paths"] = roc_auc({e: 1.0 for e in circuit.edges}, truth, edges)
    print(f"{name}: ROC AUC " + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items()))
    assert min(aucs.values()) >= 0.95, aucs
