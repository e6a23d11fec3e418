"""Models with a planted circuit: hand-set weights whose behaviour flows through a known edge set.

Ground truth for circuit discovery (ACDC, EAP, path search). Every model is a native model of
2 layers x 2 heads (``mlp`` adds ReLU MLPs of width 8) with ``norm=False`` (a norm would mix
subspaces), shortformer positions (``pos`` enters only the q and k inputs, so attention patterns
can be set by position alone), ``attn_scale=1``, a vocabulary of 8 tokens and sequences of 8.
Features live in disjoint 8-dimensional subspaces of the 40-dimensional residual stream, each one-hot:

====== ======= ================================================================
name   dims    holds
====== ======= ================================================================
TOK    0-7     the token (``W_E``; token ``i`` is ``e_i``)
POS    8-15    the position (``W_pos``; added only to q/k inputs, shortformer)
PREV   16-23   written by a "previous token" head (or decoys)
X      24-31   written by an MLP (``mlp``) or by decoys
OUT    32-39   the only subspace ``W_U`` reads: logit ``i`` = 6 x OUT_i
====== ======= ================================================================

Heads move one subspace into another (``W_V`` reads ``src``, ``W_O`` writes ``dst``, identity
maps); a positional head's query at ``t`` and key at ``s`` read POS, so it attends (score 20 vs 0)
to ``s = t - offset``. Unused heads and MLPs, and every bias, are zero. Decoys are *active* heads
and MLPs whose output lands only in subspaces that nothing downstream of them reads on the way to
``out``: their edges carry a signal, but it never reaches the logits.

Why a false edge has exactly zero effect (under resample or mean ablation): either its sender
writes into subspaces the receiving channel's weights do not read (e.g. ``embed -> out``: TOK is
not read by ``W_U``), or the receiver's output never reaches ``out`` (decoys, zeroed heads), or
the sender is ``pos``, which is the same in x_ref and x_new (resample and mean ablation alike; it
would matter under zero ablation, which the ground truth does not cover).

Tasks (targets are what the clean model predicts, by construction; distractors are ``target + 1``):

- ``direct``: ``a1.0`` attends to the previous token (POS) and copies TOK to OUT: predicts
  ``tok[t-1]`` at ``t >= 1``. Decoys: ``a0.0`` copies the previous token TOK -> PREV, ``a1.1`` copies
  PREV -> X. True edges: ``embed -> a1.0.v``, ``a1.0 -> out`` (1 path).
- ``chain`` (V-composition): ``a0.0`` copies the previous token TOK -> PREV; ``a1.1`` attends to the
  previous position and copies PREV -> OUT: predicts ``tok[t-2]`` at ``t >= 2``. Decoys: ``a0.1``
  (TOK -> X, self), ``a1.0`` (TOK -> X, two back). False edges between circuit nodes: ``embed -> out``,
  ``a0.0 -> out`` (W_U reads OUT only), ``embed -> a1.1.v`` (its W_V reads PREV only), every q/k
  edge. True edges: ``embed -> a0.0.v``, ``a0.0 -> a1.1.v``, ``a1.1 -> out`` (1 path).
- ``induction`` (K-composition): sequences ``BOS a b c d a b c`` (BOS = token 0, zero embedding;
  a-d distinct). ``a0.0`` copies the previous token TOK -> PREV; ``a1.0``'s query reads TOK, its key
  PREV, its value TOK -> OUT: at ``t`` it attends where the previous token equals the current one
  and predicts the token there (``tok[t-3]`` at ``t = 5, 6, 7``). Decoys: ``a0.1`` (TOK -> X, self),
  ``a1.1`` (PREV -> X). False: ``embed -> a1.0.k``, ``a0.0 -> a1.0.q/v``, ``embed -> a0.0.q/k``, ...
  True edges: ``embed -> a0.0.v``, ``a0.0 -> a1.0.k``, ``embed -> a1.0.q``, ``embed -> a1.0.v``,
  ``a1.0 -> out`` (3 paths).
- ``parallel``: ``chain`` plus a direct path: ``a1.0`` (no longer a decoy) attends to the previous
  position and copies TOK -> OUT, while ``a1.1`` writes OUT at 2/3 strength, so the logits are
  ``6 e_{tok[t-1]} + 4 e_{tok[t-2]}``; read at ``t >= 2`` with target ``tok[t-1]``. Removing one path
  leaves the other: edges differ in effect size. Decoy: ``a0.1`` (TOK -> X). True edges:
  ``embed -> a1.0.v``, ``a1.0 -> out``, ``embed -> a0.0.v``, ``a0.0 -> a1.1.v``, ``a1.1 -> out`` (2 paths).
- ``mlp``: ReLU MLP ``m0`` maps TOK ``e_i`` to X ``e_{(3i+1) mod 8}`` (``relu(2x - 1)``, so it is
  not linear); ``a1.1`` attends to the previous position and copies X -> OUT: predicts
  ``(3 tok[t-1] + 1) mod 8`` at ``t >= 1``. Decoys: ``a0.0`` (TOK -> PREV, previous), ``a1.0``
  (PREV -> X, self), ``m1`` (reads X, including m0's write, and writes PREV, which W_U ignores).
  True edges: ``embed -> m0``, ``m0 -> a1.1.v``, ``a1.1 -> out`` (1 path).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from ..data import Dataset, Pairs, pair_derangement
from ..errors import ArgumentError
from ..graph import Edge, Path
from ..model.config import NativeConfig
from ..model.native import native_model
from ..model.residual import ResidualModel

__all__ = ["PlantedTask", "planted", "PLANTED"]

VOCAB = N_POS = WIDTH = 8  # tokens, positions, and the width of every subspace (and of a head)
TOK, POS, PREV, X, OUT = (slice(i * WIDTH, (i + 1) * WIDTH) for i in range(5))
D_MODEL = 5 * WIDTH
SHARP = 20.0  # attention score of the attended key (others 0): the rest get e^-20 each
LOGIT = 6.0  # logit of the token in OUT


@dataclass(frozen=True)
class PlantedTask:
    """A model with a planted circuit, the pairs it is read on, and the circuit itself.

    Attributes:
        name: the task's name (one of :data:`PLANTED`).
        model: the hand-set model.
        pairs: x_ref with targets where the behaviour is read, each paired with another example.
        edges: the true circuit: exactly the edges whose removal changes the output.
        patterns: the true circuit's paths, as path strings (their union is ``subgraph(edges)``).
        description: what the circuit does.
    """

    name: str
    model: ResidualModel
    pairs: Pairs
    edges: frozenset[Edge]
    patterns: tuple[str, ...]
    description: str


def _blank(n_heads: int, d_mlp: int | None = None) -> ResidualModel:
    """A zero model with the token and position embeddings and the unembedding set."""
    cfg = NativeConfig(
        n_layers=2,
        n_heads=n_heads,
        d_model=D_MODEL,
        d_head=WIDTH,
        d_vocab=VOCAB,
        n_ctx=N_POS,
        d_mlp=d_mlp,
        positions="shortformer",
        norm=False,
        act="relu",
        attn_scale=1.0,
    )
    model = native_model(cfg)
    eye = torch.eye(WIDTH)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.W_E[:, TOK] = eye
        assert model.W_pos is not None  # absolute positions: the config has a pos node
        model.W_pos[:, POS] = eye
        model.W_U[OUT] = LOGIT * eye
    return model


def _attend_back(model: ResidualModel, layer: int, head: int, offset: int) -> None:
    """Head ``layer.head`` attends from query ``t`` to key ``t - offset`` (through POS only)."""
    with torch.no_grad():
        for t in range(N_POS):
            model.W_Q[layer, head, POS.start + t, t] = SHARP
            if t + offset < WIDTH:
                model.W_K[layer, head, POS.start + t, t + offset] = 1.0


def _move(model: ResidualModel, layer: int, head: int, src: slice, dst: slice) -> None:
    """Head ``layer.head``'s value reads subspace ``src``; its output writes it into ``dst``."""
    eye = torch.eye(WIDTH)
    with torch.no_grad():
        model.W_V[layer, head, src] = eye
        model.W_O[layer, head, :, dst] = eye


def _tokens(n: int, gen: torch.Generator) -> Int[Tensor, "batch pos"]:
    return torch.randint(0, VOCAB, (n, N_POS), generator=gen)


def _pairs(
    tokens: Int[Tensor, "batch pos"], targets: Int[Tensor, "batch pos"], mask: Bool[Tensor, "batch pos"], seed: int
) -> Pairs:
    targets = torch.where(mask, targets, torch.zeros_like(targets))
    data = Dataset(tokens=tokens, target_mask=mask, target_tokens=targets, distractor_tokens=(targets + 1) % VOCAB)
    return pair_derangement(data, seed=seed)


def _from(first: int) -> Bool[Tensor, "batch pos"]:
    mask = torch.zeros(1, N_POS, dtype=torch.bool)
    mask[:, first:] = True
    return mask


def _shifted(tokens: Int[Tensor, "batch pos"], back: int) -> Int[Tensor, "batch pos"]:
    """``tokens[:, t - back]`` at ``t >= back`` (0 before)."""
    out = torch.zeros_like(tokens)
    out[:, back:] = tokens[:, :-back]
    return out


def _direct(n: int, seed: int) -> tuple[ResidualModel, Pairs]:
    model = _blank(n_heads=2)
    _attend_back(model, 1, 0, 1)
    _move(model, 1, 0, TOK, OUT)
    _attend_back(model, 0, 0, 1)
    _move(model, 0, 0, TOK, PREV)  # decoy
    _attend_back(model, 1, 1, 0)
    _move(model, 1, 1, PREV, X)  # decoy
    tokens = _tokens(n, torch.Generator().manual_seed(seed))
    return model, _pairs(tokens, _shifted(tokens, 1), _from(1).expand(n, -1), seed)


def _chain(n: int, seed: int) -> tuple[ResidualModel, Pairs]:
    model = _blank(n_heads=2)
    _attend_back(model, 0, 0, 1)
    _move(model, 0, 0, TOK, PREV)
    _attend_back(model, 1, 1, 1)
    _move(model, 1, 1, PREV, OUT)
    _attend_back(model, 0, 1, 0)
    _move(model, 0, 1, TOK, X)  # decoy
    _attend_back(model, 1, 0, 2)
    _move(model, 1, 0, TOK, X)  # decoy
    tokens = _tokens(n, torch.Generator().manual_seed(seed))
    return model, _pairs(tokens, _shifted(tokens, 2), _from(2).expand(n, -1), seed)


def _induction(n: int, seed: int) -> tuple[ResidualModel, Pairs]:
    model = _blank(n_heads=2)
    eye = torch.eye(WIDTH)
    with torch.no_grad():
        model.W_E[0] = 0.0  # BOS
        model.W_Q[1, 0, TOK] = SHARP * eye
        model.W_K[1, 0, PREV] = eye
    _move(model, 1, 0, TOK, OUT)
    _attend_back(model, 0, 0, 1)
    _move(model, 0, 0, TOK, PREV)
    _attend_back(model, 0, 1, 0)
    _move(model, 0, 1, TOK, X)  # decoy
    _attend_back(model, 1, 1, 1)
    _move(model, 1, 1, PREV, X)  # decoy
    gen = torch.Generator().manual_seed(seed)
    half = torch.stack([torch.randperm(VOCAB - 1, generator=gen)[:4] + 1 for _ in range(n)])
    tokens = torch.cat([torch.zeros(n, 1, dtype=torch.long), half, half[:, :3]], dim=1)
    return model, _pairs(tokens, _shifted(tokens, 3), _from(5).expand(n, -1), seed)


def _parallel(n: int, seed: int) -> tuple[ResidualModel, Pairs]:
    model, pairs = _chain(n, seed)
    with torch.no_grad():
        for w in (model.W_Q, model.W_K, model.W_V, model.W_O):
            w[1, 0] = 0.0  # a1.0 is no decoy here
        model.W_O[1, 1] *= 2 / 3  # the chain writes OUT at two thirds of the strength
    _attend_back(model, 1, 0, 1)
    _move(model, 1, 0, TOK, OUT)
    tokens = pairs.ref.tokens
    return model, _pairs(tokens, _shifted(tokens, 1), _from(2).expand(n, -1), seed)


def _mlp(n: int, seed: int) -> tuple[ResidualModel, Pairs]:
    model = _blank(n_heads=2, d_mlp=WIDTH)
    perm = (3 * torch.arange(VOCAB) + 1) % VOCAB
    eye = torch.eye(WIDTH)
    with torch.no_grad():
        model.W_in[0, TOK] = 2.0 * eye
        model.b_in[0] = -1.0
        model.W_out[0, :, X] = eye[perm]  # hidden unit i writes X_{perm[i]}
        model.W_in[1, X] = eye  # decoy m1: X -> PREV
        model.W_out[1, :, PREV] = eye
    _attend_back(model, 1, 1, 1)
    _move(model, 1, 1, X, OUT)
    _attend_back(model, 0, 0, 1)
    _move(model, 0, 0, TOK, PREV)  # decoy
    _attend_back(model, 1, 0, 0)
    _move(model, 1, 0, PREV, X)  # decoy
    tokens = _tokens(n, torch.Generator().manual_seed(seed))
    return model, _pairs(tokens, perm[_shifted(tokens, 1)], _from(1).expand(n, -1), seed)


_TASKS: dict[str, tuple[Callable[[int, int], tuple[ResidualModel, Pairs]], tuple[str, ...], str]] = {
    "direct": (
        _direct,
        ("embed -> a1.0.v -> out",),
        "a1.0 attends to the previous position and copies its token to the output",
    ),
    "chain": (
        _chain,
        ("embed -> a0.0.v -> a1.1.v -> out",),
        "a0.0 copies the previous token into PREV; a1.1 copies PREV of the previous position to the "
        "output (V-composition): predicts the token two back",
    ),
    "induction": (
        _induction,
        ("embed -> a1.0.q -> out", "embed -> a1.0.v -> out", "embed -> a0.0.v -> a1.0.k -> out"),
        "induction: a0.0 copies the previous token into PREV; a1.0's query (token) matches its key "
        "(PREV, K-composition) and its value copies the token after the earlier occurrence",
    ),
    "parallel": (
        _parallel,
        ("embed -> a1.0.v -> out", "embed -> a0.0.v -> a1.1.v -> out"),
        "two paths add up in OUT: a1.0 copies the previous token (strength 1) and the chain "
        "a0.0 -> a1.1 the token two back (strength 2/3)",
    ),
    "mlp": (
        _mlp,
        ("embed -> m0 -> a1.1.v -> out",),
        "m0 maps token i to feature (3i+1) mod 8; a1.1 copies the previous position's feature to the output",
    ),
}

PLANTED: tuple[str, ...] = tuple(_TASKS)


def planted(name: str = "chain", n: int = 64, seed: int = 0) -> PlantedTask:
    """The planted task ``name`` (one of :data:`PLANTED`) with ``n`` examples drawn with ``seed``."""
    if name not in _TASKS:
        raise ArgumentError(f"unknown planted task {name!r}; expected one of {', '.join(map(repr, PLANTED))}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ArgumentError(f"n must be an int >= 2 (examples, paired with each other), got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ArgumentError(f"seed must be a non-negative int, got {seed!r}")
    build, patterns, description = _TASKS[name]
    model, pairs = build(n, seed)
    edges = frozenset(e for p in patterns for e in Path.parse(p).edges)
    return PlantedTask(name, model, pairs, edges, patterns, description)
