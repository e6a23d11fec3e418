"""The induction study's pieces: candidates, copied spans, corpus split, probes and study (small)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import tiny_model

import pathpatch as pp
from pathpatch.induction.corpus import gather_files
from pathpatch.induction.probes import prove_induction, repeated_tokens
from pathpatch.induction.study import induction_candidates, induction_dataset, naive_patterns
from pathpatch.induction.train import copy_spans


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


def test_repeated_tokens_and_probe_shapes() -> None:
    tokens = repeated_tokens(vocab=11, n=3, half=4, seed=1)
    assert torch.equal(tokens[:, :4], tokens[:, 4:]) and tokens.min() >= 1
    proof = prove_induction(tiny_model("shortformer", None, n_ctx=8), n=4, half=4)
    assert len(proof.prev_token_scores) == 2 and len(proof.prev_token_scores[0]) == 2
    assert all(0 <= s <= 1 for row in proof.induction_scores for s in row)
    assert "second-copy loss" in proof.summary()


def test_naive_patterns_are_the_olsson_story() -> None:
    assert naive_patterns([3], [5, 6]) == [
        "embed -> out", "embed -> a1.{5,6}.q -> out", "embed -> a1.{5,6}.v -> out",
        "embed -> a0.{3} -> a1.{5,6}.k -> out",
    ]


def test_study_end_to_end_small(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.induction.demo import run_demo

    model = tiny_model("shortformer", None, n_heads=4, n_ctx=16, d_vocab=8)
    heldout = torch.randint(0, 8, (20, 16), generator=torch.Generator().manual_seed(0))
    proof, result = run_demo(tmp_path, examples=10, model=model, heldout=heldout, progress=False, n_boot=50,
                             echo=lambda *_: None)
    for name in ("report.md", "report.json", "study.json", "proof.json", "head_scores.png",
                 "proportion_explained.png", "refinements.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    report = pp.Report.from_json((tmp_path / "report.json").read_text())
    assert report.names[0] == "1 naive (Olsson et al.)"
    assert len(result.gains) == 1 + 3 + 3 * 4 + (4 - len(proof.induction_heads or [0]))  # direct k; a0.h -> I.k
    # (h not a prev-token head); q, v and out for each layer-0 head; every other layer-1 head
    study = json.loads((tmp_path / "study.json").read_text())
    assert study["best_k"] == result.best_k
    for score in report:
        assert all(v == v for e in score.metrics.values() for v in (e.value, e.low, e.high))  # no NaN
