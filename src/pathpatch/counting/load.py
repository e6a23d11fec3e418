"""A model and its tokenizer from a directory or a cached hub name (never downloads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..model.residual import ResidualModel
from ..zoo import SHIPPED, load, shipped_dir

__all__ = ["load_with_tokenizer"]


def load_with_tokenizer(name_or_path: str) -> tuple[ResidualModel, Any]:
    """``(model, tokenizer)`` of a shipped model, or from a directory: its ``tokenizer.json``, else ``transformers``'
    tokenizer files (directory or local hub cache)."""
    model = load(name_or_path)
    directory = shipped_dir(name_or_path) if name_or_path in SHIPPED else Path(name_or_path)
    file = directory / "tokenizer.json"
    if file.is_file():
        from tokenizers import Tokenizer

        return model, Tokenizer.from_file(str(file))
    try:
        if directory.is_dir() and not (directory / "vocab.json").is_file():
            raise OSError("no tokenizer files in the directory")
        from transformers import AutoTokenizer

        return model, AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
    except (ImportError, OSError, ValueError) as err:
        raise ModelLoadError(
            f"no tokenizer for {name_or_path!r}: put tokenizer.json (or GPT-2's vocab.json and merges.txt) in "
            "the model directory, e.g. with tokenizer.save_pretrained(DIR) on a machine with network access"
        ) from err
