"""Target rows: the (example, position) pairs a metric reads, in the layout copies use there.

When a metric reads the logits only at some positions (``targets``), a MIXED copy whose value
reaches ``out`` only through positions it reads there (an ``out`` copy; an MLP read only by such
copies; a head read only through q by such copies) is computed only at those rows. Its values are
``[copy, row, d_model]`` with one row per ``True`` of ``targets`` in row-major order, the same
order as ``logits[targets]``. A head computed at rows still attends over all the key positions of
its example: queries are padded per example to ``[copy, batch, slot, ...]`` (``slot`` < the most
target rows any example has), so attention is one batched product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

__all__ = ["TargetRows"]


@dataclass(frozen=True)
class TargetRows:
    """The rows of a ``[batch, pos]`` target mask and their padded per-example layout."""

    mask: Bool[Tensor, "batch pos"]
    batch_index: Int[Tensor, " row"]  # example of each row
    position: Int[Tensor, " row"]  # position of each row
    slot: Int[Tensor, " row"]  # rank of the row among its example's rows
    slot_position: Int[Tensor, "batch slot"]  # position of each slot (padding: the last position)
    slots: int

    @staticmethod
    def of(mask: Bool[Tensor, "batch pos"]) -> TargetRows:
        batch_index, position = mask.nonzero(as_tuple=True)
        counts = mask.sum(1)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.arange(len(batch_index), device=mask.device) - starts[batch_index]
        slots = max(int(counts.max()), 1)
        slot_position = torch.full((mask.shape[0], slots), mask.shape[1] - 1, dtype=torch.long, device=mask.device)
        slot_position[batch_index, slot] = position
        return TargetRows(mask, batch_index, position, slot, slot_position, slots)

    def __len__(self) -> int:
        return len(self.batch_index)

    def take(self, x: Float[Tensor, "*lead batch pos d"]) -> Float[Tensor, "*lead row d"]:
        """The rows of a full ``[..., batch, pos, d]`` tensor."""
        return x[..., self.batch_index, self.position, :]

    def pad(self, x: Float[Tensor, "copy row e"]) -> Float[Tensor, "copy batch slot e"]:
        """Rows laid out per example (padding slots hold zeros)."""
        out = x.new_zeros(x.shape[0], self.mask.shape[0], self.slots, x.shape[-1])
        out[:, self.batch_index, self.slot] = x
        return out

    def unpad(self, x: Float[Tensor, "copy batch slot e"]) -> Float[Tensor, "copy row e"]:
        return x[:, self.batch_index, self.slot]
