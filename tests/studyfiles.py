"""What the study tests share: a folder with a saved 2-layer random model, token files and a tiny
study file; ``numbers`` and ``strip_seconds`` are the library's ``cell_numbers`` and
``without_timings``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

import pathpatch as pp
from pathpatch.study.reproduction import cell_numbers as numbers
from pathpatch.study.reproduction import without_timings as strip_seconds

__all__ = ["TINY_STUDY", "make_folder", "numbers", "quiet", "strip_seconds"]

TINY_STUDY = """
[study]
name = "tiny"
description = "a tiny study"

[model]
path = "tiny"

[data]
source = "tokens.safetensors"
examples = 40
splits.search = { rows = "0:20" }
splits.eval = { rows = "20:40" }

[settings]
n_boot = 200

[hypotheses]
direct = "embed -> out"
values = ["embed -> out", "embed -> a1.*.v -> out"]
values-subgraph = { subgraph_of = "values" }

[steps.acdc]
kind = "acdc"
split = "search"
threshold = 0.01
curve = true

[steps.eval]
kind = "score"
split = "eval"
hypotheses = ["direct", "values", "values-subgraph", "acdc"]

[[claims]]
name = "values explain a little"
hypothesis = "values"
at_least = 0.01

[[claims]]
circuit = "acdc"
metric = "n_edges"
at_most = 1

[sweeps.metric]
steps = ["eval"]
grid = { "settings.ablation" = ["resample", "mean"], "data.pairing_seed" = [0, 1] }
"""


def make_folder(root: Path, study: str = TINY_STUDY) -> Path:
    """``root`` with ``tiny/`` (a saved 2-layer random model), ``tokens.safetensors`` and
    ``tokens.npy`` (48 sequences of 10 tokens) and ``tiny.toml`` (``study``)."""
    cfg = pp.NativeConfig(
        n_layers=2, n_heads=2, d_model=32, d_head=16, d_vocab=40, n_ctx=16, positions="shortformer", init_std=0.3
    )
    torch.manual_seed(0)
    pp.save_model(pp.native_model(cfg), root / "tiny")
    tokens = torch.randint(0, 40, (48, 10), generator=torch.Generator().manual_seed(1))
    save_file({"tokens": tokens}, str(root / "tokens.safetensors"))
    np.save(root / "tokens.npy", tokens.numpy())
    (root / "tiny.toml").write_text(study)
    return root


def quiet(_: str) -> None:
    """An echo that prints nothing."""
