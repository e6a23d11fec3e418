"""Loading models by name or path: the models shipped inside the package, or a saved directory.

``load("induction-2l")`` returns the 2-layer attention-only model the project trained (see its
``card.json``). ``load("path/to/dir")`` loads any directory written by :func:`save_model`.
:func:`bundle` also returns a shipped model's tokenizer, held-out token sequences and card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .errors import ModelLoadError, close_matches
from .model.native import load_model_dir
from .model.residual import ResidualModel

__all__ = ["SHIPPED", "load", "bundle", "Bundle", "shipped_dir"]

SHIPPED = ("induction-2l",)


def shipped_dir(name: str) -> Path:
    """The package-data directory of a shipped model."""
    if name not in SHIPPED:
        hint = close_matches(name, SHIPPED)
        raise ModelLoadError(
            f"no shipped model {name!r}; shipped models are {list(SHIPPED)}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + "; or pass the path of a directory written by pathpatch.save_model"
        )
    return Path(str(resources.files("pathpatch") / "assets" / name))


def load(name_or_path: str | Path, dtype: torch.dtype | None = None) -> ResidualModel:
    """A shipped model by name, or a model directory by path."""
    path = Path(name_or_path)
    if path.is_dir():
        return load_model_dir(path, dtype)
    return load_model_dir(shipped_dir(str(name_or_path)), dtype)


@dataclass(frozen=True)
class Bundle:
    """A shipped model with what came with it."""

    model: ResidualModel
    tokenizer: Any  # tokenizers.Tokenizer
    heldout: torch.Tensor  # [sequence, pos] token ids of held-out text
    card: dict[str, Any]


def bundle(name: str = "induction-2l") -> Bundle:
    """Model, tokenizer, held-out sequences and model card of a shipped model."""
    from tokenizers import Tokenizer

    directory = shipped_dir(name)
    try:
        heldout = load_file(str(directory / "heldout.safetensors"))["tokens"].long()
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        card = json.loads((directory / "card.json").read_text())
    except (OSError, KeyError, ValueError) as err:
        raise ModelLoadError(f"the shipped model {name!r} is incomplete in {directory}: {err}") from err
    return Bundle(load_model_dir(directory), tokenizer, heldout, card)
