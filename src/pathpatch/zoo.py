"""Loading models by name or path.

- ``load("induction-2l")``, ``load("numbers-4l")``, ``load("tasks-4l")``: models shipped inside
  the package (see their ``card.json``);
- ``load("path/to/dir")``: a directory written by :func:`save_model`, or a Hugging Face model
  directory (``config.json`` with a ``model_type``, plus weights) of a supported architecture;
- ``load("gpt2")``: a Hugging Face hub name, only if its weights are already in the local cache.
  Nothing is ever downloaded: uncached, it fails at once with a message saying what to do.

:func:`bundle` also returns a shipped model's tokenizer, held-out token sequences and card.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file

from .errors import ModelLoadError, close_matches
from .model.native import load_model_dir, read_config
from .model.residual import ResidualModel

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["SHIPPED", "load", "bundle", "Bundle", "shipped_dir"]

SHIPPED = ("induction-2l", "numbers-4l", "tasks-4l")


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


def _from_hugging_face(source: str, dtype: torch.dtype | None, revision: str | None = None) -> ResidualModel:
    try:
        from transformers import AutoModelForCausalLM
    except ImportError as err:
        raise ModelLoadError(f"loading {source!r} needs the transformers package: pip install 'pathpatch[hf]'") from err
    from .model.hf import from_hf

    try:
        hf_model = AutoModelForCausalLM.from_pretrained(source, revision=revision, local_files_only=True)
    except (OSError, ValueError) as err:
        where = "" if Path(source).exists() else "there is no local directory of that name, and "
        pinned = f" at revision {revision!r}" if revision else ""
        raise ModelLoadError(
            f"{where}weights for {source!r}{pinned} are not in the local Hugging Face cache and pathpatch never "
            "downloads; "
            f"pass the path of a local model directory instead (for example one written by "
            f"model.save_pretrained(DIR) on a machine with network access), or a shipped model: {list(SHIPPED)}"
        ) from err
    model = from_hf(hf_model.eval(), dtype)
    model.name = source
    return model


def _looks_like_path(text: str) -> bool:
    """A name that can only mean a place on disk, never a hub name like ``gpt2`` or ``org/model``."""
    return (
        text.startswith(("/", "./", "../", "~", ".\\"))
        or text.endswith(("/", "\\"))
        or "\\" in text
        or text in (".", "..")
        or Path(text).is_absolute()
    )


def load(name_or_path: str | Path, dtype: torch.dtype | None = None, revision: str | None = None) -> ResidualModel:
    """A shipped model by name, a saved or Hugging Face model directory, or a cached hub model
    (``revision``: a hub model's pinned revision; read from the local cache only)."""
    from .validate import check_dtype

    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(
            f"load() takes a shipped model name {list(SHIPPED)}, a directory path or a cached hub name, "
            f"got {type(name_or_path).__name__}"
        )
    check_dtype(dtype)
    if not str(name_or_path).strip():
        raise ModelLoadError(f"load() got an empty name; pass a shipped model name {list(SHIPPED)} or a directory")
    path = Path(name_or_path).expanduser()
    if path.is_file():
        raise ModelLoadError(f"{path} is a file; pass the directory that holds model.safetensors and config.json")
    if path.is_dir():
        config = path / "config.json"
        if config.is_file() and "model_type" in read_config(config):
            return _from_hugging_face(str(path), dtype)
        return load_model_dir(path, dtype)
    if isinstance(name_or_path, Path) or _looks_like_path(str(name_or_path)):
        raise ModelLoadError(
            f"no directory {str(name_or_path)!r}: the path does not exist; check it, or pass a "
            f"shipped model name: {list(SHIPPED)}"
        )
    if str(name_or_path) in SHIPPED:
        return load_model_dir(shipped_dir(str(name_or_path)), dtype)
    if "/" not in str(name_or_path) and close_matches(str(name_or_path), SHIPPED):
        shipped_dir(str(name_or_path))  # raises with the did-you-mean hint
    return _from_hugging_face(str(name_or_path), dtype, revision)


@dataclass(frozen=True)
class Bundle:
    """A shipped model with what came with it."""

    model: ResidualModel
    tokenizer: Tokenizer
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
