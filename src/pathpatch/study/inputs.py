"""A study's inputs: the model its ``[model]`` names and the examples its ``[data]`` draws.

:func:`load_model` loads and places the model and records its name and the sha256 of its weights
(:func:`weights_sha256`: every tensor of the state dict, by name, dtype, shape and bytes, as the
file holds it, before any change of dtype). :func:`draw` reads the source's sequences, marks the
targets, and draws ``examples`` of the sequences that hold one: a seeded permutation of those
(``select_seed``), its first ``examples``. :func:`split_pairs` takes a split's rows of the drawn
examples (or a seeded sample of them) and pairs them within the split. :func:`tensor_sha256`
digests the data a cell used. :class:`Inputs` loads each distinct model and draw once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Bool, Int
from torch import Tensor

from ..data import Dataset, Pairs, pair_derangement, pair_from_pool
from ..errors import EmptyDatasetError, InputError, StudyFileError
from ..induction.probes import repeated_tokens
from ..induction.study import induction_candidates
from ..model.residual import ResidualModel
from .check import split_rows
from .schema import DataSpec, ModelSpec, StudySpec

__all__ = [
    "LoadedModel",
    "Drawn",
    "Inputs",
    "json_key",
    "load_model",
    "weights_sha256",
    "tensor_sha256",
    "draw",
    "split_pairs",
]


def json_key(value: Any) -> str:
    """JSON values as one string, equal for equal values (a cache key)."""
    return json.dumps(value, sort_keys=True)


def tensor_sha256(*tensors: Tensor) -> str:
    """sha256 of the tensors' dtypes, shapes and bytes, in order."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def weights_sha256(model: ResidualModel) -> str:
    """sha256 of every tensor of ``model.state_dict()``, in name order (module docs)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor_sha256(t).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class LoadedModel:
    """The model, placed on the study's device and dtype, and what run.json records of it."""

    model: ResidualModel
    info: dict[str, Any]


def load_model(spec: ModelSpec, base: Path, file: str | None = None) -> LoadedModel:
    """The model ``spec`` names (paths relative to ``base``), on ``spec.device`` in ``spec.dtype``."""
    from ..zoo import load

    source = spec.name if spec.name is not None else str((base / str(spec.path)).resolve())
    model = load(source, revision=spec.revision) if spec.name is not None else load(Path(source))
    info = {
        "source": source,
        "revision": spec.revision,
        "architecture": model.graph.describe(),
        "weights_sha256": weights_sha256(model),
    }
    try:
        placed = model.placed(spec.device, getattr(torch, spec.dtype))
    except InputError as err:
        raise StudyFileError(file, "model.device", str(err), "a device this machine has, e.g. 'cpu'") from None
    return LoadedModel(placed, info)


def _source(spec: DataSpec, base: Path, model: ResidualModel, model_name: str | None) -> Int[Tensor, "n pos"]:
    if spec.source == "heldout":
        from ..zoo import bundle

        return bundle(str(model_name)).heldout
    if spec.source == "task:repeated-tokens":
        half = int(spec.length or 2) // 2
        return repeated_tokens(model.config.d_vocab, spec.examples, half, spec.select_seed)
    path = base / spec.source
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        tokens = torch.from_numpy(np.asarray(array)).long()
    else:
        from safetensors.torch import load_file

        found = load_file(str(path))
        if "tokens" not in found:
            raise InputError(
                f"{path} holds no tensor named 'tokens' (it holds {sorted(found)}); save the ids as 'tokens'"
            )
        tokens = found["tokens"].long()
    if tokens.ndim != 2:
        raise InputError(f"{path} holds tokens of shape {tuple(tokens.shape)}; expected [sequence, pos]")
    return tokens


def _targets(tokens: Int[Tensor, "n pos"], targets: str) -> Bool[Tensor, "n pos"]:
    if targets == "induction-candidates":
        return induction_candidates(tokens)
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    if targets == "last":
        mask[:, -2] = True
    else:
        mask[:, :-1] = True
    return mask


@dataclass(frozen=True)
class Drawn:
    """The drawn ``examples``, the source's other sequences (``rest``: x_new for ``pairing =
    "pool"``), and the sha256 of the examples' tokens and targets."""

    examples: Dataset
    rest: Int[Tensor, "m pos"]
    sha256: str


def draw(spec: DataSpec, base: Path, model: ResidualModel, model_name: str | None) -> Drawn:
    """The drawn examples of ``spec`` (module docs), next-token targets at the chosen positions."""
    tokens = _source(spec, base, model, model_name)
    if spec.length is not None:
        if tokens.shape[1] < spec.length:
            raise InputError(f"data.length is {spec.length}, but the source's sequences hold {tokens.shape[1]} tokens")
        tokens = tokens[:, : spec.length]
    if int(tokens.max()) >= model.config.d_vocab or int(tokens.min()) < 0:
        raise InputError(f"the data's token ids reach {int(tokens.max())}, outside the model's vocabulary")
    mask = _targets(tokens, spec.targets)
    usable = torch.nonzero(mask.any(1)).flatten()
    if usable.numel() < spec.examples:
        raise EmptyDatasetError(
            f"data.examples is {spec.examples}, but only {usable.numel()} of the source's {tokens.shape[0]} "
            f"sequences hold a target ({spec.targets}); lower data.examples"
        )
    order = usable[torch.randperm(usable.numel(), generator=torch.Generator().manual_seed(spec.select_seed))]
    taken = torch.zeros(tokens.shape[0], dtype=torch.bool)
    taken[order[: spec.examples]] = True
    data = Dataset.next_token(tokens[order[: spec.examples]], mask[order[: spec.examples]])
    return Drawn(data, tokens[~taken], tensor_sha256(data.tokens, data.target_mask, data.target_tokens))


def split_pairs(spec: StudySpec, drawn: Drawn, split: str) -> Pairs:
    """The split's rows of the drawn examples (or its seeded sample), each paired with another row
    of the split (``"derangement"``) or with one of the source's other sequences (``"pool"``)."""
    rows = list(split_rows(spec, split))
    chosen = spec.data.splits[split]
    index = torch.tensor(rows)
    if chosen.sample is not None:
        pick = torch.randperm(len(rows), generator=torch.Generator().manual_seed(chosen.seed))[: chosen.sample]
        index = index[pick]
    if spec.data.pairing == "pool":
        if drawn.rest.shape[0] == 0:
            raise EmptyDatasetError(
                "pairing = 'pool' draws x_new from the source's sequences that were not drawn, and every "
                "sequence was drawn; lower data.examples or use pairing = 'derangement'"
            )
        return pair_from_pool(drawn.examples[index], drawn.rest, spec.data.pairing_seed)
    return pair_derangement(drawn.examples[index], spec.data.pairing_seed)


class Inputs:
    """Models and drawn data, loaded once per distinct ``[model]`` and ``[data]``."""

    def __init__(self, base: Path, file: str | None) -> None:
        self.base, self.file = base, file
        self.models: dict[str, LoadedModel] = {}
        self.pools: dict[str, Drawn] = {}

    def model(self, spec: StudySpec) -> LoadedModel:
        key = json_key(spec.model.model_dump())
        if key not in self.models:
            self.models[key] = load_model(spec.model, self.base, self.file)
        return self.models[key]

    def pool(self, spec: StudySpec) -> Drawn:
        drawn = spec.data.model_dump(exclude={"pairing", "pairing_seed", "splits"})
        key = json_key([drawn, spec.model.model_dump()])
        if key not in self.pools:
            self.pools[key] = draw(spec.data, self.base, self.model(spec).model, spec.model.name)
        return self.pools[key]
