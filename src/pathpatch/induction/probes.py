"""Proof that a model has induction heads, computed from the model alone.

On sequences of random tokens repeated twice (``x x``, each half ``R`` tokens):

- **repeat loss**: next-token loss on the second copy vs the first; an induction mechanism makes
  the second copy predictable, so its loss falls far below the first's (which is near ln V);
- **previous-token score** of a head: mean attention from each position to the one before it;
- **induction score** of a head: mean attention from a position in the second copy to the token
  just after that position's earlier occurrence (offset ``R - 1`` back).

Previous-token heads are layer-0 heads with a previous-token score above a threshold; induction
heads are heads of later layers with an induction score above a threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..engine.cache import run_cache
from ..model.residual import ResidualModel

__all__ = ["InductionProof", "repeated_tokens", "prove_induction", "plot_head_scores"]


def repeated_tokens(vocab: int, n: int = 64, half: int = 50, seed: int = 0, low: int = 1) -> torch.Tensor:
    """``[n, 2*half]`` random token ids in ``[low, vocab)``, the second half a copy of the first."""
    gen = torch.Generator().manual_seed(seed)
    first = torch.randint(low, vocab, (n, half), generator=gen)
    return torch.cat([first, first], dim=1)


@dataclass(frozen=True)
class InductionProof:
    first_half_loss: float
    second_half_loss: float
    prev_token_scores: list[list[float]]  # [layer][head]
    induction_scores: list[list[float]]  # [layer][head]
    prev_token_heads: list[str]
    induction_heads: list[str]
    uniform_loss: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        best = lambda s: max(max(r) for r in s)
        return (
            f"repeated random tokens: first-copy loss {self.first_half_loss:.2f}, second-copy loss "
            f"{self.second_half_loss:.2f} (uniform {self.uniform_loss:.2f}); previous-token heads "
            f"{self.prev_token_heads or 'none'} (best score {best(self.prev_token_scores):.2f}); induction heads "
            f"{self.induction_heads or 'none'} (best score {best(self.induction_scores):.2f})"
        )


@torch.no_grad()
def prove_induction(
    model: ResidualModel,
    n: int = 64,
    half: int = 50,
    seed: int = 0,
    prev_threshold: float = 0.4,
    induction_threshold: float = 0.2,
) -> InductionProof:
    """Repeat losses and head scores on repeated random tokens (see module docs)."""
    half = min(half, model.config.n_ctx // 2)
    tokens = repeated_tokens(model.config.d_vocab, n, half, seed)
    cache = run_cache(model, tokens)
    logp = F.log_softmax(cache.logits.double(), -1)
    nll = -logp[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1)  # [n, 2*half - 1], predicts t+1
    first = nll[:, : half - 1].mean().item()
    second = nll[:, half:].mean().item()
    prev, ind = [], []
    q = torch.arange(1, 2 * half)
    q2 = torch.arange(half, 2 * half)
    for layer in range(model.config.n_layers):
        pat = cache.patterns[layer]  # [head, batch, qpos, kpos]
        prev.append(pat[:, :, q, q - 1].mean(dim=(1, 2)).tolist())
        ind.append(pat[:, :, q2, q2 - half + 1].mean(dim=(1, 2)).tolist())
    prev_heads = [f"a0.{h}" for h, s in enumerate(prev[0]) if s >= prev_threshold]
    ind_heads = [f"a{l}.{h}" for l in range(1, len(ind)) for h, s in enumerate(ind[l]) if s >= induction_threshold]
    return InductionProof(
        first, second, prev, ind, prev_heads, ind_heads, float(torch.log(torch.tensor(float(model.config.d_vocab))))
    )


def plot_head_scores(proof: InductionProof, path: str | Path) -> Path:
    """Heatmaps (layer x head) of previous-token and induction scores, values printed in cells,
    drawn by :func:`pathpatch.render.heatmaps.plot_head_scores`."""
    from ..render.heatmaps import plot_head_scores as draw

    maps = {"previous-token score": proof.prev_token_scores, "induction score": proof.induction_scores}
    title = (
        f"repeated random tokens: loss {proof.first_half_loss:.2f} (first copy) -> "
        f"{proof.second_half_loss:.2f} (second copy)"
    )
    return draw(maps, path, title)
