"""Summing rows of a delta table: ``W @ table`` for a sparse matrix ``W`` of +1 / -1 entries.

A copy's channel input is its base input plus a signed sum of rows of delta tables (one row per
node or computed copy). :class:`SparseSum` holds one such ``W`` and decides once how to apply
it: as a dense matrix product over the columns used when ``W`` is dense enough there (fastest),
otherwise by gathering and adding the few terms of each row, in chunks of bounded memory. The
index tensors and weight matrices are built on first use and kept, so a plan reused for many
batches pays for them once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["SparseSum", "rows_sum"]

_GATHER_BYTES = 1 << 27  # gathered terms per chunk of the sparse path (128 MiB)


@dataclass(frozen=True)
class _Dense:
    """``W`` as a dense matrix over the columns ``pick`` of the table (a prefix slice, or indices)."""

    weights: Tensor  # [n_rows, columns picked]
    pick: slice | Tensor


@dataclass(frozen=True)
class _Signed:
    """The terms of one sign: ``out[rows[i]] += sign * table[cols[i]]``."""

    sign: float
    rows: Tensor
    cols: Tensor


@dataclass(frozen=True)
class _Sparse:
    """``W`` as its terms, grouped by sign."""

    parts: tuple[_Signed, ...]


@dataclass
class SparseSum:
    """``W`` with ``W[rows[i], cols[i]] += signs[i]``, of ``n_rows`` rows."""

    n_rows: int
    rows: list[int]
    cols: list[int]
    signs: list[float]
    _prepared: dict[tuple[torch.dtype, torch.device], _Dense | _Sparse] = field(default_factory=dict, repr=False)

    @staticmethod
    def of(rows: Sequence[int], cols: Sequence[int], n_rows: int, signs: Sequence[float] | None = None) -> SparseSum:
        """From the terms ``(rows[i], cols[i])``, with weights ``signs`` (default 1)."""
        return SparseSum(n_rows, list(rows), list(cols), list(signs) if signs is not None else [1.0] * len(rows))

    @property
    def dense(self) -> bool:
        return 8 * len(self.rows) >= self.n_rows * max(len(set(self.cols)), 1)

    def _prepare(self, dtype: torch.dtype, device: torch.device) -> _Dense | _Sparse:
        key = (dtype, device)
        if key in self._prepared:
            return self._prepared[key]
        if self.dense:
            used = sorted(set(self.cols))
            span = used[-1] + 1
            prefix = 2 * len(used) >= span  # a prefix view of the table costs no copy
            cols = self.cols if prefix else [{u: i for i, u in enumerate(used)}[c] for c in self.cols]
            weights = torch.zeros(self.n_rows, span if prefix else len(used), dtype=dtype, device=device)
            weights.index_put_(
                (torch.tensor(self.rows, device=device), torch.tensor(cols, device=device)),
                torch.tensor(self.signs, dtype=dtype, device=device),
                accumulate=True,
            )
            pick = slice(0, span) if prefix else torch.tensor(used, device=device)
            prepared: _Dense | _Sparse = _Dense(weights, pick)
        else:
            parts = []
            for sign in (1.0, -1.0):
                chosen = [i for i, s in enumerate(self.signs) if s == sign]
                if chosen:
                    parts.append(
                        _Signed(
                            sign,
                            torch.tensor([self.rows[i] for i in chosen], device=device),
                            torch.tensor([self.cols[i] for i in chosen], device=device),
                        )
                    )
            prepared = _Sparse(tuple(parts))
        self._prepared[key] = prepared
        return prepared

    def apply(self, table: Tensor, out: Tensor | None = None, base: Tensor | None = None) -> Tensor:
        """``W @ table.flatten(1)``, added into ``out`` (``[n_rows, features]``) if given, else to
        ``base`` (``[1, features]``, broadcast over the rows) if given."""
        flat = table.flatten(1)
        if out is None:
            if not self.rows or not self.dense:
                out = (
                    base.expand(self.n_rows, -1).clone()
                    if base is not None
                    else flat.new_zeros(self.n_rows, flat.shape[1])
                )
        if not self.rows:
            assert out is not None  # made above when there are no terms
            return out
        prepared = self._prepare(flat.dtype, flat.device)
        if isinstance(prepared, _Dense):
            sub = flat[prepared.pick]
            if out is not None:
                return out.addmm_(prepared.weights, sub)
            return torch.addmm(base, prepared.weights, sub) if base is not None else prepared.weights @ sub
        assert out is not None
        step = max(1, _GATHER_BYTES // max(1, flat.shape[1] * flat.element_size()))
        for part in prepared.parts:
            r, c = part.rows, part.cols
            for start in range(0, len(r), step):
                out.index_add_(0, r[start : start + step], flat[c[start : start + step]], alpha=part.sign)
        return out


def rows_sum(
    rows: Sequence[int],
    cols: Sequence[int],
    n_rows: int,
    table: Tensor,
    out: Tensor | None = None,
    signs: Sequence[float] | None = None,
) -> Tensor:
    """``W @ table.flatten(1)`` for ``W`` given by its terms (see :meth:`SparseSum.of`), once."""
    return SparseSum.of(rows, cols, n_rows, signs).apply(table, out)
