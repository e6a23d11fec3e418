"""Datasets of token sequences with the positions a metric is measured at, and their pairing.

A path-patching hypothesis is tested on a distribution D of pairs (x_ref, x_new) (docs/design.md §1).
This module holds the two halves of that:

- :class:`Dataset`: the reference inputs x_ref. Each example is a row of ``tokens``; ``target_mask``
  marks the positions where the output is compared, ``target_tokens`` the correct next token at
  each of them (used by the loss), and ``distractor_tokens`` an incorrect one (used by the logit
  difference). :meth:`Dataset.next_token` builds the ordinary language-modelling dataset.
- :class:`Pairs`: a dataset with one x_new row per example. Resampling pairs each x_ref with one
  x_new for the whole tree, never a fresh sample per path; the pairing functions here do that:
  :func:`pair_derangement` (x_new is another example of the same dataset, never the example
  itself) and :func:`pair_from_pool` (x_new drawn from a separate pool).

All tensors are ``[batch, pos]``; tokens are ``torch.long``, masks ``torch.bool``.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from .errors import EmptyDatasetError, InputError, ShapeMismatchError
from .positions import check_positions

__all__ = ["Dataset", "Pairs", "pair_derangement", "pair_from_pool", "check_pairs"]

Index = int | slice | Tensor | list[int]


def _check_tokens(name: str, t: object) -> None:
    """``t`` must be a 2-D ``torch.long`` tensor."""
    if not isinstance(t, Tensor):
        raise InputError(
            f"{name} must be a torch.Tensor of shape [batch, pos], got {type(t).__name__}; "
            f"wrap it with torch.tensor(..., dtype=torch.long)"
        )
    if t.ndim != 2:
        raise InputError(
            f"{name} must be 2-D [batch, pos], got shape {tuple(t.shape)}; "
            f"add a batch dimension with {name}.unsqueeze(0) for a single sequence"
        )
    if t.dtype != torch.long:
        raise InputError(f"{name} must have dtype torch.long, got {t.dtype}; convert it with {name}.long()")


def _rows(idx: Index, n: int) -> Tensor:
    """The example indices ``idx`` selects, as a 1-D long tensor."""
    if (
        not isinstance(idx, (slice, list))
        and hasattr(idx, "__index__")
        and not (isinstance(idx, Tensor) and (idx.ndim != 0 or idx.dtype == torch.bool))
    ):
        idx = operator.index(idx)  # numpy integers and 0-d integer tensors act like an int
    if isinstance(idx, int):
        if not -n <= idx < n:
            raise IndexError(f"example index {idx} is out of range for a dataset of {n} examples")
        return torch.tensor([idx % n])
    if isinstance(idx, slice):
        return torch.arange(n)[idx]
    rows = torch.as_tensor(idx)
    if rows.dtype == torch.bool:
        if rows.shape != (n,):
            raise ShapeMismatchError(f"a boolean index must have shape ({n},), got {tuple(rows.shape)}")
        return rows.nonzero().flatten()
    if rows.ndim != 1 or rows.dtype not in (torch.long, torch.int32, torch.int64):
        raise InputError(
            f"index a dataset with an int, a slice or a 1-D integer tensor, "
            f"got {rows.dtype} of shape {tuple(rows.shape)}"
        )
    if rows.numel() and (rows.min() < -n or rows.max() >= n):
        raise IndexError(f"example indices must lie in [{-n}, {n}), got {rows.tolist()}")
    return rows.long() % n


def _batches(n: int, batch_size: int) -> Iterator[Tensor]:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive int, got {batch_size!r}")
    for start in range(0, n, batch_size):
        yield torch.arange(start, min(start + batch_size, n))


@dataclass(frozen=True)
class Dataset:
    """Reference inputs and where (and against which tokens) to measure the output.

    Attributes:
        tokens: ``Int[Tensor, "batch pos"]`` the input sequences.
        target_mask: ``Bool[Tensor, "batch pos"]`` positions where the metric is measured; every
            example needs at least one.
        target_tokens: ``Int[Tensor, "batch pos"]`` the correct next token at each masked position
            (values elsewhere are ignored).
        distractor_tokens: ``Int[Tensor, "batch pos"] | None`` an incorrect token at each masked
            position, for the logit difference; ``None`` if unused.
        positions: ``{name: Int[Tensor, "batch"]}`` named positions of each example (e.g.
            ``{"END": ...}``), which hypotheses can name (``a9.1@END``); ``None`` if unused.
    """

    tokens: Int[Tensor, "batch pos"]
    target_mask: Bool[Tensor, "batch pos"]
    target_tokens: Int[Tensor, "batch pos"]
    distractor_tokens: Int[Tensor, "batch pos"] | None = None
    positions: dict[str, Int[Tensor, " batch"]] | None = None

    def __post_init__(self) -> None:
        _check_tokens("tokens", self.tokens)
        shape = tuple(self.tokens.shape)
        if self.positions is not None:
            if not isinstance(self.positions, Mapping):
                raise InputError(
                    "positions must be a dict {name: tensor of one position per example}, got "
                    f"{type(self.positions).__name__}"
                )
            object.__setattr__(self, "positions", check_positions(self.positions, shape[0], shape[1]))
        others = {"target_mask": self.target_mask, "target_tokens": self.target_tokens}
        if self.distractor_tokens is not None:
            others["distractor_tokens"] = self.distractor_tokens
        for name, t in others.items():
            if not isinstance(t, Tensor):
                raise InputError(f"{name} must be a torch.Tensor of shape {shape}, got {type(t).__name__}")
            if tuple(t.shape) != shape:
                raise ShapeMismatchError(
                    f"{name} must have the shape of tokens {shape}, got {tuple(t.shape)}; give one entry per token"
                )
        if self.target_mask.dtype != torch.bool:
            raise InputError(
                f"target_mask must have dtype torch.bool, got {self.target_mask.dtype}; "
                f"convert it with target_mask.bool()"
            )
        _check_tokens("target_tokens", self.target_tokens)
        if self.distractor_tokens is not None:
            _check_tokens("distractor_tokens", self.distractor_tokens)
        if shape[0] == 0:
            raise EmptyDatasetError(
                f"the dataset has no examples (tokens has shape {shape}); pass at least one sequence"
            )
        empty = (~self.target_mask.any(dim=1)).nonzero().flatten().tolist()
        if empty:
            shown = ", ".join(map(str, empty[:5])) + (", ..." if len(empty) > 5 else "")
            raise EmptyDatasetError(
                f"example {empty[0]} has no target position ({len(empty)} such "
                f"examples: {shown}); every example needs at least one True in "
                f"target_mask, or drop those examples"
            )

    @classmethod
    def next_token(
        cls, tokens: Int[Tensor, "batch pos"], target_mask: Bool[Tensor, "batch pos"] | None = None
    ) -> Dataset:
        """The language-modelling dataset: the target at position ``t`` is ``tokens[:, t + 1]``.

        ``target_mask`` defaults to every position but the last; a mask that selects the last
        position is an :class:`InputError`, since nothing follows it.
        """
        _check_tokens("tokens", tokens)
        if target_mask is None:
            target_mask = torch.ones_like(tokens, dtype=torch.bool)
            target_mask[:, -1:] = False
        elif (
            isinstance(target_mask, Tensor)
            and tuple(target_mask.shape) == tuple(tokens.shape)
            and tokens.shape[1] > 0
            and bool(target_mask[:, -1].any())
        ):
            rows = target_mask[:, -1].nonzero().flatten().tolist()
            raise InputError(
                f"target_mask selects the last position of example(s) {rows[:5]}, which "
                f"has no next token; set target_mask[:, -1] = False"
            )
        targets = torch.zeros_like(tokens)
        targets[:, :-1] = tokens[:, 1:]
        return cls(tokens=tokens, target_mask=target_mask, target_tokens=targets)

    @property
    def n_pos(self) -> int:
        """Sequence length ``pos``."""
        return int(self.tokens.shape[1])

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def __getitem__(self, idx: Index) -> Dataset:
        """The subset of examples ``idx`` selects (int, slice, index list or tensor), as a Dataset."""
        rows = _rows(idx, len(self))
        return Dataset(
            tokens=self.tokens[rows],
            target_mask=self.target_mask[rows],
            target_tokens=self.target_tokens[rows],
            distractor_tokens=None if self.distractor_tokens is None else self.distractor_tokens[rows],
            positions=None if self.positions is None else {k: v[rows] for k, v in self.positions.items()},
        )

    def __repr__(self) -> str:
        extras = [f"{int(self.target_mask.sum())} target positions"]
        extras.append("with distractors" if self.distractor_tokens is not None else "no distractors")
        if self.positions:
            extras.append(f"named positions {sorted(self.positions)}")
        return f"Dataset({len(self)} examples x {self.n_pos} positions, {', '.join(extras)})"

    def names_at(self, i: int) -> dict[str, int]:
        """The named positions of example ``i``."""
        return {k: int(v[i]) for k, v in (self.positions or {}).items()}

    def batches(self, batch_size: int) -> Iterator[tuple[Int[Tensor, " batch"], Dataset]]:
        """Consecutive batches ``(indices, subset)``; the last may be smaller."""
        for rows in _batches(len(self), batch_size):
            yield rows, self[rows]


@dataclass(frozen=True)
class Pairs:
    """A dataset of x_ref with one x_new per example: the distribution D of (x_ref, x_new).

    Attributes:
        ref: the reference :class:`Dataset` (targets are measured on it).
        new_tokens: ``Int[Tensor, "batch pos"]`` x_new of each example, same shape as ``ref.tokens``.
        new_index: ``Int[Tensor, "batch"] | None`` where each x_new came from (an index into the
            dataset or pool it was drawn from), for provenance; ``None`` if not drawn by index.
        seed: the seed of the pairing (:func:`pair_derangement`, :func:`pair_from_pool`), for
            provenance; ``None`` if the pairs were built by hand.
    """

    ref: Dataset
    new_tokens: Int[Tensor, "batch pos"]
    new_index: Int[Tensor, " batch"] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.ref, Dataset):
            raise InputError(
                f"ref must be a Dataset, got {type(self.ref).__name__}; build one with "
                f"Dataset(...) or Dataset.next_token(tokens)"
            )
        _check_tokens("new_tokens", self.new_tokens)
        if self.new_tokens.shape != self.ref.tokens.shape:
            raise ShapeMismatchError(
                f"new_tokens must have the shape of ref.tokens "
                f"{tuple(self.ref.tokens.shape)}, got {tuple(self.new_tokens.shape)}; "
                f"x_new needs one row per example, of the same length"
            )
        if self.new_index is not None and tuple(self.new_index.shape) != (len(self.ref),):
            raise ShapeMismatchError(f"new_index must have shape ({len(self.ref)},), got {tuple(self.new_index.shape)}")

    def __len__(self) -> int:
        return len(self.ref)

    def __repr__(self) -> str:
        ref = repr(self.ref)[len("Dataset(") : -1]
        how = "pairs built by hand" if self.seed is None else f"pairing seed {self.seed}"
        return f"Pairs({ref}; one x_new each, {how})"

    def __getitem__(self, idx: Index) -> Pairs:
        """The pairs of the examples ``idx`` selects."""
        rows = _rows(idx, len(self))
        return Pairs(
            ref=self.ref[rows],
            new_tokens=self.new_tokens[rows],
            new_index=None if self.new_index is None else self.new_index[rows],
            seed=self.seed,
        )

    def digest(self) -> str:
        """``"sha256:<hex>"`` of x_ref, x_new, the target mask and the target tokens: which data a
        result was measured on (recorded in a discovered circuit's ``found_by["data"]``)."""
        h = hashlib.sha256()
        for t in (self.ref.tokens, self.new_tokens, self.ref.target_mask, self.ref.target_tokens):
            h.update(f"{tuple(t.shape)};".encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return "sha256:" + h.hexdigest()[:32]

    def batches(self, batch_size: int) -> Iterator[tuple[Int[Tensor, " batch"], Pairs]]:
        """Consecutive batches ``(indices, subset)``; x_new stays paired with its x_ref."""
        for rows in _batches(len(self), batch_size):
            yield rows, self[rows]


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} {seed!r}")
    return torch.Generator().manual_seed(int(seed))


def _check_dataset(dataset: object, where: str) -> None:
    if not isinstance(dataset, Dataset):
        raise TypeError(
            f"{where} takes a pathpatch.Dataset (e.g. Dataset.next_token(tokens)), got {type(dataset).__name__}"
        )


def check_pairs(pairs: object, where: str) -> None:
    """``pairs`` must be :class:`Pairs` (x_ref with one x_new each), not a bare :class:`Dataset`."""
    if isinstance(pairs, Dataset):
        raise TypeError(
            f"{where}: pairs must be Pairs (each x_ref with its x_new), got a Dataset; "
            f"pair it first: pathpatch.pair_derangement(dataset, seed=0)"
        )
    if not isinstance(pairs, Pairs):
        raise TypeError(
            f"{where}: pairs must be pathpatch.Pairs (e.g. pair_derangement(dataset)), got {type(pairs).__name__}"
        )


def pair_derangement(dataset: Dataset, seed: int = 0) -> Pairs:
    """Pair example ``i`` with example ``π(i)``, ``π`` a uniformly random derangement (no i = π(i)).

    ``π`` is drawn by rejection sampling of uniform permutations (about e ≈ 2.7 draws on average),
    from a ``torch.Generator`` seeded with ``seed``, so the pairing is reproducible. Duplicate
    rows in the dataset may still pair an example with an identical sequence.
    """
    _check_dataset(dataset, "pair_derangement")
    n = len(dataset)
    if n < 2:
        raise InputError(
            f"a derangement needs at least 2 examples, the dataset has {n}; add examples "
            f"or draw x_new from a separate pool with pair_from_pool"
        )
    gen = _generator(seed)
    arange = torch.arange(n)
    while True:
        perm = torch.randperm(n, generator=gen)
        if not bool((perm == arange).any()):
            break
    return Pairs(ref=dataset, new_tokens=dataset.tokens[perm], new_index=perm, seed=int(seed))


def pair_from_pool(dataset: Dataset, pool_tokens: Int[Tensor, "n pos"], seed: int = 0) -> Pairs:
    """Pair each example with a row of ``pool_tokens`` drawn uniformly with replacement.

    ``pool_tokens`` is ``[n, pos]`` with the dataset's ``pos``; the draw uses a
    ``torch.Generator`` seeded with ``seed``.
    """
    _check_dataset(dataset, "pair_from_pool")
    _check_tokens("pool_tokens", pool_tokens)
    if pool_tokens.shape[1] != dataset.n_pos:
        raise ShapeMismatchError(
            f"pool_tokens must have {dataset.n_pos} positions like the dataset, "
            f"got shape {tuple(pool_tokens.shape)}; pad or truncate the pool"
        )
    if pool_tokens.shape[0] == 0:
        raise EmptyDatasetError("pool_tokens has no rows; pass at least one x_new sequence")
    idx = torch.randint(int(pool_tokens.shape[0]), (len(dataset),), generator=_generator(seed))
    return Pairs(ref=dataset, new_tokens=pool_tokens[idx], new_index=idx, seed=int(seed))
