"""Tests of pathpatch.model: the GPT-2 adapter (exact match), native models, save/load, configs.

DESIGN §5: every adapter is proven by an exact-match test against the source model's own forward
(to float32 rounding, tests/tolerance.py) on randomly initialised configs built offline; the residual-graph forward must
also equal the engine's cached run and a literal re-implementation written here.
"""

from __future__ import annotations

import math
import types

import pytest
import torch

from conftest import TINY, tiny_hf_gpt2, tiny_model
from pathpatch.engine.cache import run_cache
from pathpatch.errors import ConfigError, ModelLoadError
from pathpatch.model.config import ModelConfig, NativeConfig
from pathpatch.model.hf_gpt2 import from_hf
from pathpatch.model.native import load_model_dir, native_model, save_model
from pathpatch.model.residual import ResidualModel
from tolerance import FORWARD, REDUCTION, close

pytestmark = pytest.mark.numeric

transformers = pytest.importorskip("transformers")

# (GPT2Config kwargs, batch, sequence length): layers 1-3, heads 1-4, n_inner None and explicit,
# every supported activation, full-length and shorter sequences, batch > 1.
HF_CONFIGS = [
    (
        {
            "n_layer": 1,
            "n_head": 1,
            "n_embd": 8,
            "n_inner": None,
            "activation_function": "gelu_new",
            "vocab_size": 13,
            "n_positions": 5,
        },
        3,
        5,
    ),
    (
        {
            "n_layer": 2,
            "n_head": 4,
            "n_embd": 16,
            "n_inner": 24,
            "activation_function": "relu",
            "vocab_size": 20,
            "n_positions": 10,
        },
        2,
        7,
    ),
    (
        {
            "n_layer": 3,
            "n_head": 2,
            "n_embd": 12,
            "n_inner": None,
            "activation_function": "gelu",
            "vocab_size": 17,
            "n_positions": 8,
        },
        4,
        8,
    ),
    (
        {
            "n_layer": 3,
            "n_head": 3,
            "n_embd": 12,
            "n_inner": 5,
            "activation_function": "gelu_new",
            "vocab_size": 7,
            "n_positions": 12,
        },
        2,
        3,
    ),
    (
        {
            "n_layer": 2,
            "n_head": 2,
            "n_embd": 8,
            "n_inner": 16,
            "activation_function": "gelu_pytorch_tanh",
            "vocab_size": 9,
            "n_positions": 6,
            "scale_attn_weights": False,
            "layer_norm_epsilon": 1e-3,
            "tie_word_embeddings": False,
        },
        2,
        6,
    ),
]


def _hf(seed: int, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("initializer_range", 0.3)
    return tiny_hf_gpt2(seed=seed, **kw)


def _tokens(vocab: int, batch: int, length: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- Hugging Face GPT-2 adapter


@pytest.mark.parametrize("kw,batch,length", HF_CONFIGS, ids=[f"cfg{i}" for i in range(len(HF_CONFIGS))])
def test_from_hf_matches_hf_forward(kw, batch, length) -> None:  # type: ignore[no-untyped-def]
    hf = _hf(seed=len(kw) + batch, **kw)
    before = {k: v.clone() for k, v in hf.state_dict().items()}
    model = from_hf(hf)
    assert isinstance(model, ResidualModel)
    cfg = model.config
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_vocab, cfg.n_ctx) == (
        kw["n_layer"],
        kw["n_head"],
        kw["n_embd"],
        kw["vocab_size"],
        kw["n_positions"],
    )
    assert cfg.d_mlp == (kw["n_inner"] or 4 * kw["n_embd"])
    tokens = _tokens(kw["vocab_size"], batch, length, seed=batch)
    with torch.no_grad():
        want = hf(tokens).logits
    got = model(tokens)
    assert got.dtype == torch.float32 and got.shape == want.shape
    assert want.std() > 0.1, "the HF model is too weak for the comparison to mean anything"
    close(got, want, steps=FORWARD)
    # the engine's cached run agrees too
    close(run_cache(model, tokens).logits, want, steps=FORWARD)
    # the user's model is not mutated
    after = hf.state_dict()
    assert set(after) == set(before)
    for name, value in before.items():
        assert torch.equal(after[name], value), f"from_hf changed {name}"


def test_from_hf_does_not_alias_hf_parameters() -> None:
    hf = _hf(seed=1)
    model = from_hf(hf)
    tokens = _tokens(11, 2, 6)
    want = model(tokens).clone()
    with torch.no_grad():
        for p in hf.parameters():
            p.mul_(2.0)
    torch.testing.assert_close(model(tokens), want, atol=0, rtol=0)


def test_from_hf_float64() -> None:
    hf = _hf(seed=2)
    model = from_hf(hf, dtype=torch.float64)
    assert model.dtype == torch.float64
    tokens = _tokens(11, 2, 6)
    with torch.no_grad():
        want = hf(tokens).logits
    got = model(tokens)
    assert got.dtype == torch.float64
    close(got.float(), want, steps=FORWARD)


@pytest.mark.parametrize(
    "obj",
    [torch.nn.Linear(2, 2), types.SimpleNamespace(config=types.SimpleNamespace(model_type="llama")), "gpt2"],
    ids=["nn.Linear", "llama-like", "str"],
)
def test_from_hf_rejects_non_gpt2(obj) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"supports Hugging Face GPT-2 models \(model_type 'gpt2'\)"):
        from_hf(obj)


@pytest.mark.parametrize("option", ["scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"])
def test_from_hf_rejects_unsupported_gpt2_option(option: str) -> None:
    hf = _hf(seed=0, **{option: True})
    with pytest.raises(ConfigError, match=option):
        from_hf(hf)


def test_from_hf_rejects_unsupported_activation() -> None:
    hf = _hf(seed=0)
    hf.config.activation_function = "silu"
    with pytest.raises(ConfigError, match=r"activation 'silu' is not supported; supported: .*gelu_new"):
        from_hf(hf)


def test_hf_model_saved_and_loaded_keeps_logits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    hf = _hf(seed=4, scale_attn_weights=False, activation_function="relu")
    model = from_hf(hf)
    save_model(model, tmp_path / "m")
    loaded = load_model_dir(tmp_path / "m")
    assert loaded.config == model.config
    tokens = _tokens(11, 3, 6)
    torch.testing.assert_close(loaded(tokens), model(tokens), atol=0, rtol=0)


# ---------------------------------------------------------------- native models

NATIVE = {
    "n_layers": 2,
    "n_heads": 2,
    "d_model": 8,
    "d_head": 4,
    "d_vocab": 11,
    "n_ctx": 6,
    "d_mlp": 12,
    "init_std": 0.3,
}


def test_native_model_is_reproducible_with_its_seed() -> None:
    tokens = _tokens(11, 3, 6)
    a = native_model(NativeConfig(**NATIVE, seed=7))
    b = native_model(NativeConfig(**NATIVE, seed=7))
    c = native_model(NativeConfig(**NATIVE, seed=8))
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
    torch.testing.assert_close(a(tokens), b(tokens), atol=0, rtol=0)
    assert not torch.allclose(a(tokens), c(tokens))
    assert not torch.equal(a.W_Q, c.W_Q)


@pytest.mark.parametrize("positions,d_mlp", TINY + [("none", 12)])
def test_save_and_load_round_trip(tmp_path, positions, d_mlp) -> None:  # type: ignore[no-untyped-def]
    model = tiny_model(positions, d_mlp, seed=3)
    directory = save_model(model, tmp_path / "saved")
    assert (directory / "model.safetensors").is_file() and (directory / "config.json").is_file()
    loaded = load_model_dir(directory)
    assert loaded.config == model.config
    assert loaded.native_config == model.native_config
    assert loaded.dtype == model.dtype
    tokens = _tokens(11, 4, 6, seed=1)
    torch.testing.assert_close(loaded(tokens), model(tokens), atol=0, rtol=0)


def test_load_from_directory_without_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelLoadError, match=r"needs model\.safetensors and config\.json.*save_model"):
        load_model_dir(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=r"needs model\.safetensors and config\.json"):
        load_model_dir(tmp_path)


def test_load_corrupt_directory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    directory = save_model(tiny_model(), tmp_path / "m")
    (directory / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="cannot read the model"):
        load_model_dir(directory)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"n_layers": 0}, r"n_layers must be a positive int, got 0"),
        ({"n_heads": -1}, r"n_heads must be a positive int, got -1"),
        ({"d_mlp": 0}, r"d_mlp must be a positive int or None"),
        ({"positions": "alibi"}, r"positions must be 'absolute', 'shortformer', 'rotary' or 'none', got 'alibi'"),
        ({"act": "swish"}, r"act must be .*got 'swish'"),
    ],
)
def test_bad_config_raises(change, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        NativeConfig(**{**NATIVE, **change})


def test_native_model_needs_a_native_config() -> None:
    cfg = ModelConfig(n_layers=1, n_heads=1, d_model=4, d_head=4, d_vocab=5, n_ctx=3)
    with pytest.raises(ConfigError, match="needs a NativeConfig"):
        native_model(cfg)  # type: ignore[arg-type]


def test_config_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown config keys \[.alibi_slopes.\]"):
        NativeConfig.from_dict({**NATIVE, "alibi_slopes": 4})


# ---------------------------------------------------------------- forward vs cache vs literal maths

FORWARD_CONFIGS = TINY + [("none", 12)]
FORWARD_IDS = [f"{p}-{'mlp' if m else 'attn'}" for p, m in FORWARD_CONFIGS]


def _literal_forward(model: ResidualModel, tokens: torch.Tensor) -> torch.Tensor:
    """The transformer written out head by head, in float64, independently of ResidualModel's maths.

    Shortformer: the position embedding is added to each head's q and k inputs only (before that
    head's layer norm), never to the residual stream or to v.
    """
    cfg = model.config
    P = {k: v.double() for k, v in model.state_dict().items()}
    T = tokens.shape[1]

    def ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + cfg.eps) * w + b

    def act(x: torch.Tensor) -> torch.Tensor:
        assert cfg.act == "gelu"
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))

    x = P["W_E"][tokens]
    pos = P["W_pos"][:T] if cfg.positions != "none" else torch.zeros_like(x)
    if cfg.positions == "absolute":
        x = x + pos
    qk_extra = pos if cfg.positions == "shortformer" else torch.zeros_like(x)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for layer in range(cfg.n_layers):
        w1, b1 = P["ln1_w"][layer], P["ln1_b"][layer]
        total = torch.zeros_like(x)
        for h in range(cfg.n_heads):
            q = ln(x + qk_extra, w1, b1) @ P["W_Q"][layer, h] + P["b_Q"][layer, h]
            k = ln(x + qk_extra, w1, b1) @ P["W_K"][layer, h] + P["b_K"][layer, h]
            v = ln(x, w1, b1) @ P["W_V"][layer, h] + P["b_V"][layer, h]
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(cfg.d_head)
            pattern = scores.masked_fill(~causal, float("-inf")).softmax(-1)
            total = total + (pattern @ v) @ P["W_O"][layer, h]
        x = x + total + P["b_O"][layer]
        if cfg.d_mlp is not None:
            hidden = act(ln(x, P["ln2_w"][layer], P["ln2_b"][layer]) @ P["W_in"][layer] + P["b_in"][layer])
            x = x + hidden @ P["W_out"][layer] + P["b_out"][layer]
    return ln(x, P["lnf_w"], P["lnf_b"]) @ P["W_U"] + P["b_U"]


@pytest.mark.parametrize("positions,d_mlp", FORWARD_CONFIGS, ids=FORWARD_IDS)
def test_forward_equals_run_cache_and_literal(positions, d_mlp) -> None:  # type: ignore[no-untyped-def]
    model = tiny_model(positions, d_mlp, seed=5)
    for batch, length in ((3, 6), (2, 4)):
        tokens = _tokens(11, batch, length, seed=length)
        logits = model(tokens)
        assert logits.shape == (batch, length, 11)
        close(run_cache(model, tokens).logits, logits, steps=REDUCTION)
        close(logits.double(), _literal_forward(model, tokens), steps=FORWARD, dtype=torch.float32)


def test_shortformer_positions_reach_only_q_and_k() -> None:
    """Sanity of the literal model: shortformer differs from absolute with the same weights."""
    short = tiny_model("shortformer", 12, seed=6)
    absolute = ResidualModel(ModelConfig(**{**short.config.to_dict(), "positions": "absolute"}))
    absolute.load_state_dict(short.state_dict())
    tokens = _tokens(11, 2, 6)
    assert not torch.allclose(short(tokens), absolute(tokens), atol=1e-3)
    close(absolute(tokens).double(), _literal_forward(absolute, tokens), steps=FORWARD, dtype=torch.float32)
