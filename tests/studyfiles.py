"""What the study tests share: a folder with a saved 2-layer random model, token files and a tiny
study file, and the cell numbers of a results folder without their timings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

import pathpatch as pp

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


def strip_seconds(x: object) -> object:
    """``x`` without its timings (every key ``seconds``, at any depth)."""
    if isinstance(x, dict):
        return {k: strip_seconds(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [strip_seconds(v) for v in x]
    return x


def numbers(out: Path) -> dict[str, object]:
    """Every cell file's step results in ``out``, timings dropped."""
    return {p.name: strip_seconds(json.loads(p.read_text())["steps"]) for p in sorted((out / "cells").glob("*.json"))}
