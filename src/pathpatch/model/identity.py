"""Which model a result came from: its name and a digest of its weights.

:func:`model_identity` is what a discovered circuit records in ``found_by["model"]``;
:func:`check_identity` refuses a model whose weights differ from a recorded identity, naming
both. The digest is the SHA-256 of every parameter, in name order, as float32 on the CPU, so a
copy of the model in another dtype or on another device has the same identity (a model rounded
to a lower precision does not).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ModelMismatchError
from .residual import ResidualModel

__all__ = ["model_identity", "weights_digest", "check_identity"]


def weights_digest(model: ResidualModel) -> str:
    """``"sha256:<hex>"`` of the model's parameters (names, shapes and float32 values)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to(device="cpu", dtype=torch.float32).contiguous()
        h.update(f"{name}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return "sha256:" + h.hexdigest()[:32]


def model_identity(model: ResidualModel) -> dict[str, str]:
    """``{"name", "weights", "graph"}``: the model's name (a shipped name, a directory's name,
    ``"native"`` for a model built in memory), its :func:`weights_digest` and its graph in words."""
    return {
        "name": str(getattr(model, "name", None) or "unnamed"),
        "weights": weights_digest(model),
        "graph": model.graph.describe(),
    }


def check_identity(recorded: Mapping[str, Any], model: ResidualModel, what: str) -> None:
    """Raise :class:`ModelMismatchError` if ``model``'s weights are not the ``recorded`` ones."""
    want = recorded.get("weights")
    if not isinstance(want, str):
        return
    got = weights_digest(model)
    if got != want:
        name = getattr(model, "name", None) or "unnamed"
        raise ModelMismatchError(
            f"{what} was found on the model {recorded.get('name', 'unnamed')!r} with weights {want}, "
            f"but this model is {name!r} with weights {got}; load the model it was found on, "
            "or run the discovery again on this one"
        )
