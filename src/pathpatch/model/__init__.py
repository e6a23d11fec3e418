"""Residual-graph models and the adapters that build them."""

from .config import ModelConfig, NativeConfig
from .residual import ResidualModel

__all__ = ["ModelConfig", "NativeConfig", "ResidualModel"]
