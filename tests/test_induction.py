"""The induction study's pieces: candidates, copied spans, corpus split, probes and study (small)."""

from __future__ import annotations

import json
import math

import pytest
import torch

import pathpatch as pp
from conftest import tiny_model
from pathpatch.induction.corpus import gather_files
from pathpatch.induction.probes import prove_induction, repeated_tokens
from pathpatch.induction.study import induction_candidates, induction_dataset, naive_patterns
from pathpatch.induction.train import copy_spans
from tolerance import FORWARD, REDUCTION, approx, close

pytestmark = pytest.mark.numeric


def test_induction_candidates_literal() -> None:
    tokens = torch.tensor([[5, 6, 7, 5, 6, 9, 5, 6], [1, 2, 3, 4, 1, 3, 2, 1]])
    # row 0: t=3 (5 was followed by 6 at t=0, and 6 follows now) and t=6 (same); t=4 (6 -> 9 vs 6 -> 7) no
    # row 1: 1 is followed by 2 at t=0 but by 3 at t=4: no candidate; t=6 (2 -> 1 vs 2 -> 3) no
    expected = torch.tensor([[0, 0, 0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(induction_candidates(tokens), expected)


def test_induction_dataset_keeps_sequences_with_candidates() -> None:
    tokens = torch.tensor([[5, 6, 7, 5, 6, 9], [1, 2, 3, 4, 5, 6], [2, 3, 2, 3, 2, 3]])
    data = induction_dataset(tokens, n=5, seed=0)
    assert len(data) == 2
    assert data.target_mask.any(1).all()
    with pytest.raises(pp.EmptyDatasetError, match="fewer than 2"):
        induction_dataset(tokens[1:2], n=5)


def test_copy_spans_repeats_content() -> None:
    gen = torch.Generator().manual_seed(0)
    seqs = torch.arange(200).view(2, 100).clone()
    copy_spans(seqs, n_copies=1, lo=10, hi=10, gen=gen)
    for row in seqs:
        values, counts = row.unique(return_counts=True)
        assert (counts == 2).sum() == 10  # exactly one copied span of 10 tokens


def test_corpus_split_is_deterministic_and_disjoint() -> None:
    a, b = gather_files(), gather_files()
    assert a == b
    assert not set(a.train) & set(a.heldout)
    assert len(a.heldout) >= 10 and len(a.train) > 10 * len(a.heldout)
    assert all("test" not in p.relative_to(a.root).parts for p in a.train + a.heldout)


def _forward_by_hand(model: pp.ResidualModel, tokens: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Logits and attention patterns [batch, head, q, k] of an attention-only shortformer model,
    written out from its weights (positions enter the q and k inputs only)."""
    import torch.nn.functional as F

    cfg = model.config
    n = tokens.shape[1]
    x, pos = model.W_E[tokens], model.W_pos[:n]
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    patterns = []
    for layer in range(cfg.n_layers):

        def ln(v: torch.Tensor) -> torch.Tensor:
            return F.layer_norm(v, (cfg.d_model,), model.ln1_w[layer], model.ln1_b[layer], cfg.eps)

        qk, v_in = ln(x + pos), ln(x)
        q = torch.einsum("bpd,hde->bhpe", qk, model.W_Q[layer]) + model.b_Q[layer][:, None]
        k = torch.einsum("bpd,hde->bhpe", qk, model.W_K[layer]) + model.b_K[layer][:, None]
        v = torch.einsum("bpd,hde->bhpe", v_in, model.W_V[layer]) + model.b_V[layer][:, None]
        scores = (q @ k.transpose(-1, -2)) / cfg.d_head**0.5
        pattern = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        patterns.append(pattern)
        x = x + torch.einsum("bhpe,hed->bpd", pattern @ v, model.W_O[layer]) + model.b_O[layer]
    final = F.layer_norm(x, (cfg.d_model,), model.lnf_w, model.lnf_b, cfg.eps)
    return final @ model.W_U + model.b_U, patterns


def test_repeated_tokens_and_probes_by_hand() -> None:
    tokens = repeated_tokens(vocab=11, n=3, half=4, seed=1)
    assert torch.equal(tokens[:, :4], tokens[:, 4:]) and tokens.min() >= 1
    model = tiny_model("shortformer", None, n_ctx=8, n_heads=3)
    half = 4
    tokens = repeated_tokens(model.config.d_vocab, 4, half, 0)
    with torch.no_grad():
        logits, patterns = _forward_by_hand(model, tokens)
    close(logits, model(tokens), steps=FORWARD)  # the hand forward is right
    q, q2 = torch.arange(1, 2 * half), torch.arange(half, 2 * half)
    prev = [p[:, :, q, q - 1].mean(dim=(0, 2)).tolist() for p in patterns]
    ind = [p[:, :, q2, q2 - half + 1].mean(dim=(0, 2)).tolist() for p in patterns]
    nll = -logits.double().log_softmax(-1)[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
    # thresholds between the heads' scores, so that some heads pass and some do not
    prev_cut = sum(sorted(prev[0])[:2]) / 2
    ind_cut = sum(sorted(ind[1])[:2]) / 2
    proof = prove_induction(model, n=4, half=half, prev_threshold=prev_cut, induction_threshold=ind_cut)
    close(proof.prev_token_scores, prev, steps=REDUCTION)
    close(proof.induction_scores, ind, steps=REDUCTION)
    assert proof.first_half_loss == approx(nll[:, : half - 1].mean().item(), steps=REDUCTION)
    assert proof.second_half_loss == approx(nll[:, half:].mean().item(), steps=REDUCTION)
    assert proof.prev_token_heads == [f"a0.{h}" for h in range(3) if prev[0][h] >= prev_cut]
    assert proof.induction_heads == [f"a1.{h}" for h in range(3) if ind[1][h] >= ind_cut]
    assert len(proof.prev_token_heads) == 2 and len(proof.induction_heads) == 2
    assert proof.uniform_loss == pytest.approx(math.log(11))
    assert f"second-copy loss {proof.second_half_loss:.2f}" in proof.summary()


def test_naive_patterns_are_the_olsson_story() -> None:
    assert naive_patterns([3], [5, 6]) == [
        "embed -> out",
        "embed -> a1.{5,6}.q -> out",
        "embed -> a1.{5,6}.v -> out",
        "embed -> a0.{3} -> a1.{5,6}.k -> out",
    ]


def test_study_end_to_end_small(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.induction.demo import run_demo

    model = tiny_model("shortformer", None, n_heads=4, n_ctx=16, d_vocab=8)
    heldout = torch.randint(0, 8, (20, 16), generator=torch.Generator().manual_seed(0))
    proof, result = run_demo(
        tmp_path, examples=10, model=model, heldout=heldout, progress=False, n_boot=50, echo=lambda *_: None
    )
    for name in (
        "report.md",
        "report.json",
        "study.json",
        "proof.json",
        "head_scores.png",
        "proportion_explained.png",
        "refinements.png",
        "report.html",
        "discovery.json",
        "discovery.md",
        "circuit-paths.json",
        "circuit-paths.png",
        "circuit-acdc.json",
        "circuit-acdc.png",
    ):
        assert (tmp_path / name).stat().st_size > 0, name
    # step 3: the discovered circuits, scored beside the ladder on sequences no search saw
    found = json.loads((tmp_path / "discovery.json").read_text())
    names = [s["name"] for s in found["report"]["scores"]]
    assert names[:3] == ["naive (Olsson et al.)", "ladder best compact (hand-built)", "paths search (discover_paths)"]
    assert names[3].startswith("ACDC subgraph")
    paths_circuit = pp.Circuit.load(tmp_path / "circuit-paths.json")
    assert found["report"]["scores"][2]["n_paths"] == paths_circuit.hypothesis.count(model)
    assert "proportion explained" in (tmp_path / "report.html").read_text()
    report = pp.Report.from_json((tmp_path / "report.json").read_text())
    assert report.names[0] == "1 naive (Olsson et al.)"
    assert len(result.gains) == 1 + 3 + 3 * 4 + (4 - len(proof.induction_heads or [0]))  # direct k; a0.h -> I.k
    # (h not a prev-token head); q, v and out for each layer-0 head; every other layer-1 head
    study = json.loads((tmp_path / "study.json").read_text())
    assert study["best_k"] == result.best_k
    # the ladder's numbers by hand: |Δ loss| at the candidates from pp.evaluate's logits, same pairs
    prev = [int(n.split(".")[1]) for n in proof.prev_token_heads] or [
        max(range(4), key=lambda h: proof.prev_token_scores[0][h])
    ]
    ind = [int(n.split(".")[1]) for n in proof.induction_heads] or [
        max(range(4), key=lambda h: proof.induction_scores[1][h])
    ]
    pairs = pp.pair_derangement(induction_dataset(heldout, 10, 0), 0)
    naive = pp.paths(naive_patterns(prev, ind))
    edges = {edge for path in naive.iter(model) for edge in path.edges}
    for name, hyp in (("1 naive (Olsson et al.)", naive), ("4 naive as a subgraph", pp.subgraph(edges))):
        got = report[name].metrics
        want = _loss_metrics(model, pairs, hyp)
        assert got["proportion_explained"].value == approx(want["proportion_explained"], steps=FORWARD), name
        assert got["aue"].value == approx(want["aue"], steps=FORWARD), name
        assert got["proportion_explained"].low <= got["proportion_explained"].value <= got["proportion_explained"].high
    assert report["1 naive (Olsson et al.)"].n_paths == naive.count(model)


def _loss_metrics(model: pp.ResidualModel, pairs: pp.Pairs, hyp: pp.Hypothesis) -> dict[str, float]:
    ref, new, mask, targets = pairs.ref.tokens, pairs.new_tokens, pairs.ref.target_mask, pairs.ref.target_tokens

    def ce(logits: torch.Tensor) -> torch.Tensor:
        nll = -logits.double().log_softmax(-1).gather(-1, targets[..., None])[..., 0]
        return (nll * mask).sum(1) / mask.sum(1)

    with torch.no_grad():
        clean = ce(model(ref))
        aue = (ce(pp.evaluate(model, hyp, ref, new)) - clean).abs().mean().item()
        ate = (ce(model(new)) - clean).abs().mean().item()
    return {"aue": aue, "proportion_explained": 1 - aue / ate}
