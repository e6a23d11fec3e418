"""A backend by its command-line name."""

from __future__ import annotations

from ..errors import ArgumentError
from .base import Backend

__all__ = ["BACKENDS", "backend_named"]

BACKENDS = ("local", "ray")


def backend_named(name: str, address: str | None = None, workers: int | None = None, gpus: bool = False) -> Backend:
    """The backend ``name`` (``"local"`` or ``"ray"``; ``address``, ``workers`` and ``gpus`` are Ray's)."""
    if name == "local":
        if address is not None or workers is not None or gpus:
            raise ArgumentError(
                "--address, --workers and --gpus are the Ray backend's; pass --backend ray, or drop them"
            )
        from .local import LocalBackend

        return LocalBackend()
    if name == "ray":
        from .ray import RayBackend

        return RayBackend(address=address, workers=workers, gpus=gpus)
    raise ArgumentError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
