"""Named positions of a batch (``{"END": [batch] tensor}``) and the example groups they induce.

A hypothesis such as ``a9.1@END`` means a different absolute position in each example whose END
differs, so its plan depends on the example. The engine splits a batch into groups of examples
whose named positions agree and plans each group once (plans are cached per meaning).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from jaxtyping import Int
from torch import Tensor

from .errors import InputError, ShapeMismatchError

__all__ = ["Positions", "check_positions", "position_groups"]

Positions = Mapping[str, Int[Tensor, " batch"] | Sequence[int]]


def check_positions(positions: Positions | None, batch: int, n_pos: int) -> dict[str, Tensor]:
    """Validated named positions: names are identifiers, values one position per example in
    ``[-n_pos, n_pos)`` (negatives count from the end), returned as ``[batch]`` long tensors in
    ``[0, n_pos)``."""
    out: dict[str, Tensor] = {}
    for name, values in (positions or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InputError(f"a position name is an identifier like END, got {name!r}")
        t = torch.as_tensor(values)
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise InputError(f"positions[{name!r}] must hold integers, got {t.dtype}")
        if t.dim() == 0:
            t = t.expand(batch)
        if tuple(t.shape) != (batch,):
            raise ShapeMismatchError(
                f"positions[{name!r}] must have one position per example, shape ({batch},), got {tuple(t.shape)}"
            )
        if batch and (int(t.min()) < -n_pos or int(t.max()) >= n_pos):
            raise InputError(
                f"positions[{name!r}] holds {int(t.min())}..{int(t.max())}, outside sequences of "
                f"{n_pos} tokens (valid: 0..{n_pos - 1}, or -{n_pos}..-1 from the end)"
            )
        out[name] = t.long().cpu() % n_pos
    return out


def position_groups(
    positions: Positions | None, batch: int, n_pos: int
) -> list[tuple[Int[Tensor, " rows"] | None, dict[str, int]]]:
    """Groups ``(rows, names)`` of examples with the same named positions; ``rows`` is None when
    the whole batch is one group."""
    checked = check_positions(positions, batch, n_pos)
    if not checked:
        return [(None, {})]
    names = sorted(checked)
    table = torch.stack([checked[n] for n in names], dim=1)  # [batch, name]
    keys, inverse = torch.unique(table, dim=0, return_inverse=True)
    if len(keys) == 1:
        return [(None, dict(zip(names, keys[0].tolist())))]
    return [((inverse == g).nonzero().flatten(), dict(zip(names, keys[g].tolist()))) for g in range(len(keys))]
