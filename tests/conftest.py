"""Shared fixtures: tiny native and Hugging Face models covering every architecture option."""

from __future__ import annotations

import pytest
import torch

from pathpatch.model.config import NativeConfig
from pathpatch.model.native import native_model
from tolerance import FORWARD, approx

torch.set_num_threads(2)
# OMP_NUM_THREADS=1 (as the developer docs ask on a shared machine) is honoured: on busy cores two
# torch threads wait for each other and tiny ops take milliseconds instead of microseconds.
if __import__("os").environ.get("OMP_NUM_THREADS") == "1":
    torch.set_num_threads(1)

# Tiny configs: (positions, d_mlp). init_std is large so that every path visibly matters.
TINY = [
    ("absolute", None),
    ("absolute", 12),
    ("shortformer", None),
    ("shortformer", 12),
]


def tiny_model(positions: str = "absolute", d_mlp: int | None = 12, seed: int = 0, **kw):  # type: ignore[no-untyped-def]
    cfg = dict(
        n_layers=2,
        n_heads=2,
        d_model=8,
        d_head=4,
        d_vocab=11,
        n_ctx=6,
        d_mlp=d_mlp,
        positions=positions,
        seed=seed,
        init_std=0.5,
    )
    cfg.update(kw)
    return native_model(NativeConfig(**cfg))


def check_logits_checksum(model, tokens: torch.Tensor, checksum: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    """A shipped model's logits on fixed tokens against the values recorded when it was shipped."""
    with torch.no_grad():
        logits = model(tokens).double()
    # a float32 forward on another machine: each logit rounds relative to its size, so the sums to abs_sum
    assert logits.sum().item() == approx(checksum["sum"], steps=FORWARD, scale=checksum["abs_sum"])
    assert logits.abs().sum().item() == approx(checksum["abs_sum"], steps=FORWARD)
    assert logits[0, 0, :3].tolist() == approx(checksum["first"], steps=FORWARD)


def tiny_hf_gpt2(seed: int = 0, **kw):  # type: ignore[no-untyped-def]
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    args = dict(
        n_layer=2,
        n_head=2,
        n_embd=8,
        vocab_size=11,
        n_positions=6,
        bos_token_id=0,
        eos_token_id=0,
        initializer_range=0.5,
    )
    args.update(kw)
    hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**args)).eval()
    with torch.no_grad():  # random (not zero) biases and norms, so every term is exercised
        for name, p in hf.named_parameters():
            if "bias" in name or "ln" in name:
                p.add_(0.1 * torch.randn_like(p))
    return hf


@pytest.fixture(params=TINY, ids=[f"{p}-{'mlp' if m else 'attn'}" for p, m in TINY])
def model(request):  # type: ignore[no-untyped-def]
    positions, d_mlp = request.param
    return tiny_model(positions, d_mlp)


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """How many distinct hypotheses the oracle tests compared through MIXED copies (oracle_stats)."""
    from oracle_stats import TALLIES

    if TALLIES:
        terminalreporter.write_sep("-", "oracle draws (executed through MIXED copies)")
        for tally in TALLIES.values():
            terminalreporter.write_line(tally.line())


# `pytest --hypothesis-profile=noshrink`: report the first failing draw without shrinking it
# (quick checks that a deliberately broken engine fails the property tests).
from hypothesis import Phase  # noqa: E402
from hypothesis import settings as _settings  # noqa: E402

_settings.register_profile("noshrink", phases=[Phase.explicit, Phase.reuse, Phase.generate])
