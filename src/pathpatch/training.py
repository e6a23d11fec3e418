"""The training loop the shipped models share: AdamW, a constant learning rate then a linear
decay to 10% over the last 20% of the steps, a running train loss, and a probe every few steps.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from .model.config import NativeConfig
from .model.residual import ResidualModel

__all__ = ["lr_at", "heldout_loss", "fit", "Batch", "gpt2_style", "gpt2_style_text", "windows"]


def gpt2_style(
    n_layers: int, n_heads: int, d_model: int, d_mlp: int, d_vocab: int, n_ctx: int, seed: int
) -> NativeConfig:
    """The shipped GPT-2-style models' shape: learned absolute positions, LayerNorm, GELU MLPs,
    d_head = d_model / n_heads, weights drawn with std 0.02."""
    return NativeConfig(
        n_layers=n_layers,
        n_heads=n_heads,
        d_model=d_model,
        d_head=d_model // n_heads,
        d_vocab=d_vocab,
        n_ctx=n_ctx,
        d_mlp=d_mlp,
        positions="absolute",
        act="gelu",
        seed=seed,
        init_std=0.02,
    )


def gpt2_style_text(cfg: NativeConfig) -> str:
    """The card's one-line architecture of a :func:`gpt2_style` model."""
    return (
        f"GPT-2-style: {cfg.n_layers} layers x {cfg.n_heads} heads, d_model {cfg.d_model}, "
        f"GELU MLPs of {cfg.d_mlp}, learned absolute positions, LayerNorm"
    )


def windows(stream: Tensor, starts: Tensor, length: int) -> Tensor:
    """Rows ``stream[s : s + length]`` for each start ``s``, stacked ``[len(starts), length]``."""
    return torch.stack([stream[s : s + length] for s in starts.tolist()])


def lr_at(step: int, steps: int, lr: float) -> float:
    """Constant, then a linear decay to 10% over the last 20% of the steps."""
    tail = int(0.8 * steps)
    return lr if step < tail else lr * (1 - 0.9 * (step - tail) / max(1, steps - tail))


@torch.no_grad()
def heldout_loss(model: ResidualModel, seqs: Int[Tensor, "seq pos"], batch: int = 64) -> float:
    """Mean next-token loss over every position of ``seqs`` (each row is ``n_ctx + 1`` tokens or fewer)."""
    total, count = 0.0, 0
    for i in range(0, seqs.shape[0], batch):
        x = seqs[i : i + batch]
        logits = model(x[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum").item()
        count += x[:, 1:].numel()
    return total / count


Batch = Int[Tensor, "batch pos"] | tuple[Int[Tensor, "batch pos"], Float[Tensor, "batch pos"]]


def fit(
    model: ResidualModel,
    next_batch: Callable[[], Batch],
    steps: int,
    lr: float,
    probe: Callable[[int, float], None],
    probe_every: int,
    progress: bool = True,
) -> float:
    """Train ``model`` in place on ``steps`` batches of ``next_batch()`` (rows of ``n_ctx + 1``
    tokens; every position predicts the next). A batch may come with a weight per token,
    ``(tokens, weights)``: the loss is then the weighted mean over the predicted tokens.
    ``probe(step, running_loss)`` runs every ``probe_every`` steps and after the last, with
    gradients off. Returns the final running loss
    (mean of the last 200 steps)."""
    model.requires_grad_(True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    recent: list[float] = []
    bar = tqdm(range(steps), desc="training", unit="step", disable=not progress)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        batch = next_batch()
        x, w = batch if isinstance(batch, tuple) else (batch, None)
        logits = model(x[:, :-1])
        if w is None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        else:
            each = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="none")
            loss = (each * w[:, 1:].reshape(-1)).sum() / w[:, 1:].sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        recent = (recent + [loss.item()])[-200:]
        bar.set_postfix(loss=f"{sum(recent) / len(recent):.3f}")
        if (step + 1) % probe_every == 0 or step + 1 == steps:
            model.requires_grad_(False)
            probe(step + 1, sum(recent) / len(recent))
            model.requires_grad_(True)
    model.requires_grad_(False)
    return sum(recent) / len(recent)
