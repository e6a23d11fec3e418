"""Float tolerances for the tests, derived from the dtype and the magnitude of what is compared.

A floating-point result computed two ways (an optimised kernel and a reference, two batch sizes, another CPU
kernel such as ``ATEN_CPU_CAPABILITY=default`` versus AVX-512) may differ by the rounding of each operation:
about ``eps(dtype) * magnitude`` per rounding step, where ``eps`` is ``torch.finfo(dtype).eps`` (float32: 1.2e-7,
float64: 2.2e-16) and the magnitude is that of the values being summed or compared. A tolerance here is therefore
always

    tol = steps * eps(dtype) * scale

with ``steps`` a stated count of rounding steps (a small multiple of the operations that can round differently),
``dtype`` the coarsest precision the compared values went through, and ``scale`` the magnitude compared (by
default the largest absolute value among them, and at least 1: logits, log-probabilities, deltas and
proportions are all computed from terms of order 1, so a result near 0 still carries their rounding).
Never a bare absolute constant: a constant below the float32 resolution of the result (``1e-9`` on values
computed in float32) fails on a machine whose kernels sum in another order.

Step counts used across the suite (each a small multiple of the rounding steps, so an optimised path that is
wrong by more than rounding still fails):

- ``SAME_OPS`` (4): the same operations in float64 on the same inputs (e.g. a mean taken two ways).
- ``REDUCTION`` (32): float32 values reduced in another order (another batch size, chunking, another kernel).
- ``FORWARD`` (64): a whole float32 forward of a tiny model computed by another code path (engine against the
  brute-force oracle, a hand-written forward, a Hugging Face or TransformerLens model).

Functions:

- :func:`eps` -- machine epsilon of a dtype.
- :func:`tol` -- the absolute tolerance ``steps * eps(dtype) * scale``.
- :func:`close` -- assert two tensors/arrays/floats agree within :func:`tol`, scale from the values compared.
- :func:`approx` -- a ``pytest.approx`` with an absolute tolerance from :func:`tol`, for scalars and sequences.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

__all__ = ["FORWARD", "REDUCTION", "SAME_OPS", "approx", "close", "eps", "tol"]

SAME_OPS = 4
REDUCTION = 32
FORWARD = 64

Dtype = torch.dtype | type[np.floating[Any]] | np.dtype[Any]


def eps(dtype: Dtype = torch.float32) -> float:
    """Machine epsilon of ``dtype`` (a torch or numpy floating dtype)."""
    if isinstance(dtype, torch.dtype):
        return float(torch.finfo(dtype).eps)
    return float(np.finfo(dtype).eps)


def _magnitude(values: Iterable[Any]) -> float:
    """The largest absolute finite value among tensors, arrays, floats and sequences of them."""
    biggest = 0.0
    for v in values:
        a = v.detach().double().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64)
        a = np.abs(a[np.isfinite(a)])
        if a.size:
            biggest = max(biggest, float(a.max()))
    return biggest


def _coarsest(values: Sequence[Any]) -> Dtype:
    """The lowest-precision floating dtype among the tensors in ``values``; float32 if there is none."""
    dtypes = [v.dtype for v in values if isinstance(v, torch.Tensor) and v.dtype.is_floating_point]
    return min(dtypes, key=lambda d: torch.finfo(d).bits) if dtypes else torch.float32


def tol(scale: float, dtype: Dtype = torch.float32, steps: int = REDUCTION) -> float:
    """``steps * eps(dtype) * |scale|``: ``steps`` roundings of a value of magnitude ``scale`` in ``dtype``."""
    return steps * eps(dtype) * abs(float(scale))


def close(
    got: Any,
    want: Any,
    *,
    steps: int,
    dtype: Dtype | None = None,
    scale: float | None = None,
    msg: str | None = None,
) -> None:
    """Assert ``|got - want| <= tol(scale, dtype, steps)`` elementwise.

    ``dtype``: the coarsest precision the values went through (default: the coarsest of the tensors given, else
    float32, the models' dtype, for Python floats and float64 arrays computed from float32 logits). ``scale``:
    the magnitude the rounding is relative to (default: the largest absolute value in ``got`` and ``want``, at
    least 1, the order of the terms every result here is computed from; pass it for values computed from
    smaller or larger terms)."""
    dtype = _coarsest([got, want]) if dtype is None else dtype
    scale = max(_magnitude([got, want]), 1.0) if scale is None else scale
    bound = tol(scale, dtype, steps)
    g = got.detach().double().cpu() if isinstance(got, torch.Tensor) else torch.as_tensor(got, dtype=torch.float64)
    w = want.detach().double().cpu() if isinstance(want, torch.Tensor) else torch.as_tensor(want, dtype=torch.float64)
    torch.testing.assert_close(
        g,
        w.expand_as(g) if w.dim() < g.dim() else w,
        atol=bound,
        rtol=0,
        msg=lambda m: f"{msg + ': ' if msg else ''}{m} (tolerance {steps} x eps({dtype}) x {scale:.3g} = {bound:.3g})",
    )


def approx(want: Any, *, steps: int, dtype: Dtype = torch.float32, scale: float | None = None) -> Any:
    """``pytest.approx(want, abs=tol(scale, dtype, steps))``, ``scale`` by default the largest ``|want|``, at
    least 1 (as in :func:`close`)."""
    if scale is None:
        scale = max(_magnitude([want]), 1.0)
    return pytest.approx(want, abs=tol(scale, dtype, steps), rel=0)
