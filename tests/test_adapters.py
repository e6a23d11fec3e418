"""GPT-NeoX (Pythia) and Llama-family adapters: exact match with the source model's own forward."""

from __future__ import annotations

import pytest
import torch

import pathpatch as pp
from pathpatch.engine.cache import run_cache
from tolerance import FORWARD, close

pytestmark = pytest.mark.numeric

transformers = pytest.importorskip("transformers")


def _randomise(hf) -> None:  # type: ignore[no-untyped-def]
    """Random (not default) biases and norm weights, so every term is exercised."""
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if "bias" in name or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))


def _check(hf, vocab: int, length: int, batch: int = 3) -> pp.ResidualModel:  # type: ignore[no-untyped-def]
    _randomise(hf)
    before = {k: v.clone() for k, v in hf.state_dict().items()}
    model = pp.from_hf(hf)
    tokens = torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = hf(tokens).logits
    close(model(tokens), want, steps=FORWARD)
    close(run_cache(model, tokens).logits, want, steps=FORWARD)
    assert all(torch.equal(v, hf.state_dict()[k]) for k, v in before.items())
    return model


NEOX = [
    dict(hidden_size=32, num_attention_heads=4, num_hidden_layers=2, intermediate_size=64),
    dict(
        hidden_size=48,
        num_attention_heads=3,
        num_hidden_layers=3,
        intermediate_size=40,
        use_parallel_residual=False,
        hidden_act="gelu_new",
    ),
    dict(
        hidden_size=32,
        num_attention_heads=2,
        num_hidden_layers=1,
        intermediate_size=64,
        rope_parameters={"rope_theta": 500.0, "partial_rotary_factor": 0.5, "rope_type": "default"},
    ),
]


@pytest.mark.parametrize("kw", NEOX)
def test_neox_matches_hugging_face(kw) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    cfg = transformers.GPTNeoXConfig(vocab_size=50, max_position_embeddings=16, **kw)
    model = _check(transformers.GPTNeoXForCausalLM(cfg).eval(), 50, 12)
    assert model.config.positions == "rotary" and "pos" not in {n.name for n in model.graph.nodes}
    assert model.config.parallel == kw.get("use_parallel_residual", True)


LLAMA = [
    (
        "llama",
        dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=2, intermediate_size=48),
    ),
    (
        "llama",
        dict(
            hidden_size=32,
            num_attention_heads=4,
            num_key_value_heads=4,
            num_hidden_layers=1,
            intermediate_size=40,
            attention_bias=True,
            mlp_bias=True,
            tie_word_embeddings=True,
        ),
    ),
    (
        "qwen2",
        dict(hidden_size=32, num_attention_heads=4, num_key_value_heads=1, num_hidden_layers=2, intermediate_size=48),
    ),
    (
        "mistral",
        dict(
            hidden_size=48,
            num_attention_heads=6,
            num_key_value_heads=2,
            num_hidden_layers=2,
            intermediate_size=64,
            sliding_window=None,
        ),
    ),
]


@pytest.mark.parametrize("kind,kw", LLAMA)
def test_llama_family_matches_hugging_face(kind, kw) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    config_cls = {
        "llama": transformers.LlamaConfig,
        "qwen2": transformers.Qwen2Config,
        "mistral": transformers.MistralConfig,
    }[kind]
    causal = {
        "llama": transformers.LlamaForCausalLM,
        "qwen2": transformers.Qwen2ForCausalLM,
        "mistral": transformers.MistralForCausalLM,
    }[kind]
    cfg = config_cls(vocab_size=60, max_position_embeddings=16, **kw)
    model = _check(causal(cfg).eval(), 60, 10)
    assert model.config.norm_kind == "rmsnorm" and model.config.gated
    assert model.config.kv_heads == kw["num_key_value_heads"]


def test_unsupported_architecture_is_named() -> None:
    bert = transformers.BertForMaskedLM(
        transformers.BertConfig(
            vocab_size=30, hidden_size=16, num_attention_heads=2, num_hidden_layers=1, intermediate_size=32
        )
    )
    with pytest.raises(pp.ConfigError, match=r"unsupported architecture 'bert'.*gpt2, gpt_neox, llama, qwen2, mistral"):
        pp.from_hf(bert)


def test_load_hugging_face_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(
            vocab_size=50,
            max_position_embeddings=16,
            hidden_size=32,
            num_attention_heads=4,
            num_key_value_heads=2,
            num_hidden_layers=1,
            intermediate_size=48,
        )
    ).eval()
    hf.save_pretrained(tmp_path)
    tokens = torch.randint(0, 50, (2, 6))
    with torch.no_grad():
        close(pp.load(tmp_path)(tokens), hf(tokens).logits, steps=FORWARD)


def test_load_uncached_hub_name_fails_without_download() -> None:
    """Measured about 1.2 s (transformers import included); no timing assert here (DEVELOPERS)."""
    with pytest.raises(pp.ModelLoadError, match=r"not in the local Hugging Face cache .*pass the path of a local"):
        pp.load("pathpatch-test/no-such-model")
