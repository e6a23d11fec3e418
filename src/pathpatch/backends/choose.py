"""A backend by its command-line name."""

from __future__ import annotations

from ..errors import ArgumentError
from .base import Backend

__all__ = ["BACKENDS", "backend_named"]

BACKENDS = ("local", "ray")


def backend_named(name: str, address: str | None = None, workers: int | None = None) -> Backend:
    """The backend ``name`` (``"local"`` or ``"ray"``; ``address`` and ``workers`` are Ray's)."""
    if name == "local":
        if address is not None or workers is not None:
            raise ArgumentError("--address and --workers are the Ray backend's; pass --backend ray, or drop them")
        from .local import LocalBackend

        return LocalBackend()
    if name == "ray":
        from .ray import RayBackend

        return RayBackend(address=address, workers=workers)
    raise ArgumentError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
