"""Adapted models through MIXED copies: random path sets, subgraphs and positional hypotheses on
Hugging Face GPT-NeoX (partial rotary, parallel and sequential), Llama (GQA, biases), Qwen2
(one KV head) and Mistral, against the brute-force treeifier. (``all_paths``/``no_paths`` plan no
MIXED copy, so they never test an adapter inside the engine.) Skipped without transformers."""

from __future__ import annotations

import pytest

from oracle_zoo import HF
from test_oracle import oracle_check
from test_positions import positional_check

pytestmark = pytest.mark.numeric

ADAPTERS = [n for n in HF if n != "hf-gpt2-2x3"]  # GPT-2 is in test_oracle / test_positions


@pytest.mark.parametrize("name", ADAPTERS)
def test_adapter_random_hypotheses_match_brute_force(name: str) -> None:
    oracle_check(name, 5, lengths=(2, 6), each_ablation=0)  # ablations: see test_oracle


@pytest.mark.parametrize("name", ["hf-neox-partial-parallel", "hf-llama-gqa"])
def test_adapter_positional_hypotheses_match_brute_force(name: str) -> None:
    positional_check(name, 4, 3, each_ablation=0)
