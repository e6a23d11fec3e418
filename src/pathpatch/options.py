"""The settings of an evaluation, as values checked once: :class:`Options` and :class:`Intervals`.

Public functions (:func:`pathpatch.score`, :func:`pathpatch.acdc`, :func:`pathpatch.eap`, ...)
keep their keyword arguments and build these values on their first line; the code below them
passes the values on, so every setting is validated in one place (the constructors, with the
checks and messages of :mod:`pathpatch.validate`) and never again.

:class:`Options` says how hypotheses are evaluated (the engine's side: delta, ablation, batches,
memory, device, dtype, progress bar); :class:`Intervals` how per-example values are summarised
(the estimates' side: bootstrap resamples, confidence level, seed). Both are frozen, with plain
fields (``to_dict``/``from_dict`` give JSON values; a callable ``delta`` has none), so that one
value can stand for a study's settings. :meth:`Options.replace` returns a checked copy with some
fields changed.

The defaults are those of :func:`pathpatch.score`. A function with other defaults passes its own
(the induction study's ``delta="loss"``, for one), so each public function keeps the defaults it
documents.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from . import validate
from .errors import InputError
from .metrics import Delta, check_delta

if TYPE_CHECKING:
    from .data import Pairs

__all__ = ["Ablation", "Options", "Intervals", "will_score"]

Ablation = Literal["resample", "mean", "zero"]


@dataclass(frozen=True)
class Options:
    """How hypotheses are evaluated; every field checked when the value is made. The public
    functions pass their arguments in the fields' order; elsewhere name them.

    Attributes:
        delta: the per-example effect δ(clean logits, patched logits): ``"kl"`` (default),
            ``"loss"``, ``"logit_diff"`` or a callable ``(ref_logits, patched_logits, data) -> [batch]``
            (a callable cannot be written to a file: :meth:`to_dict` refuses it).
        ablation: what ablated nodes carry: ``"resample"`` (default, x_new's run), ``"mean"`` (mean
            activations over x_new) or ``"zero"``.
        batch_size: examples per engine pass at most (default 32); the memory budget may lower it.
        progress: show a progress bar (default True).
        max_memory: the memory budget of the engine's tensors, bytes or a size like ``"4GB"``
            (default None, or ``"auto"``: three quarters of the memory free on the device).
        device: where to evaluate, e.g. ``"cuda"`` or ``"cpu"`` (default None: the model's device).
        dtype: the floating-point dtype to evaluate in, e.g. ``torch.bfloat16`` (default None: the
            model's dtype).
    """

    delta: str | Delta = "kl"
    ablation: Ablation = "resample"
    batch_size: int = 32
    progress: bool = True
    max_memory: int | str | None = None
    device: str | torch.device | None = None
    dtype: torch.dtype | None = None

    def __post_init__(self) -> None:
        check_delta(self.delta)
        validate.check_ablation(self.ablation)
        validate.check_int(self.batch_size, "batch_size", 1)
        validate.check_progress(self.progress)
        validate.check_max_memory(self.max_memory)
        validate.check_device(self.device)
        validate.check_dtype(self.dtype)

    def replace(self, **changes: Any) -> Options:
        """A copy with ``changes`` (field names and values), checked like a new value."""
        return dataclasses.replace(self, **changes)

    @property
    def delta_name(self) -> str:
        """The delta's name, for reports: the built-in's, else the callable's ``__name__``."""
        if isinstance(self.delta, str):
            return self.delta
        return str(getattr(self.delta, "__name__", "callable"))

    def check_pairs(self, pairs: Pairs) -> None:
        """The data these options need: ``delta="logit_diff"`` reads an incorrect token per target."""
        if self.delta == "logit_diff" and pairs.ref.distractor_tokens is None:
            raise InputError(
                "delta='logit_diff' needs an incorrect token per target position, but the dataset has "
                "distractor_tokens=None; pass distractor_tokens to Dataset(...), or use delta='kl' or 'loss'"
            )

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values (dtype and device as strings); refused for a callable delta."""
        if not isinstance(self.delta, str):
            raise InputError(
                f"delta {self.delta_name!r} is a callable, which cannot be written as a setting; "
                "use a built-in delta ('kl', 'loss', 'logit_diff') in settings that are saved"
            )
        return {
            "delta": self.delta,
            "ablation": self.ablation,
            "batch_size": int(self.batch_size),
            "progress": self.progress,
            "max_memory": self.max_memory,
            "device": None if self.device is None else str(self.device),
            "dtype": None if self.dtype is None else str(self.dtype).removeprefix("torch."),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Options:
        """The options :meth:`to_dict` wrote (``dtype`` by its name, e.g. ``"bfloat16"``)."""
        values = _fields_of(cls, d, "options")
        name = values.get("dtype")
        if isinstance(name, str):
            dtype = getattr(torch, name, None)
            if not isinstance(dtype, torch.dtype):
                raise InputError(f"dtype {name!r} is not a torch dtype; use e.g. 'float32' or 'bfloat16'")
            values["dtype"] = dtype
        return cls(**values)


@dataclass(frozen=True)
class Intervals:
    """How per-example values become estimates with bootstrap intervals; checked when made.

    Attributes:
        n_boot: bootstrap resamples (default 1000); refused when too few for ``level`` (each tail
            would hold less than half a resample), warned about below one resample a tail.
        level: the confidence level, strictly between 0 and 1 (default 0.95).
        seed: the resampling seed, an int >= 0 (default 0).
    """

    n_boot: int = 1000
    level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        # the warning points at the caller of the function that makes this value: past
        # check_n_boot, this method and __init__, that function's caller is the fifth frame
        validate.check_n_boot(self.n_boot, self.level, stacklevel=5)
        validate.check_seed(self.seed)

    def replace(self, **changes: Any) -> Intervals:
        """A copy with ``changes`` (field names and values), checked like a new value."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values."""
        return {"n_boot": int(self.n_boot), "level": float(self.level), "seed": int(self.seed)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Intervals:
        """The intervals :meth:`to_dict` wrote."""
        return cls(**_fields_of(cls, d, "intervals"))


def _fields_of(cls: type[Options] | type[Intervals], d: object, what: str) -> dict[str, Any]:
    """``d`` as keyword arguments of ``cls``: a dict of some of its fields."""
    names = [f.name for f in dataclasses.fields(cls)]
    if not isinstance(d, dict) or not set(d) <= set(names):
        raise InputError(f"saved {what} must be a JSON object with some of the keys {names}, got {d!r}")
    return dict(d)


def will_score(score: bool, seed: int) -> bool:
    """Whether a search scores its result (``score`` must be True or False). Without scoring, the
    seed is checked here (the search records it) and ``n_boot`` is not used; with it, the caller
    makes its :class:`Intervals` itself, so that a rough-interval warning names the caller's caller."""
    if not isinstance(score, bool):
        raise TypeError(f"score must be True or False, got {type(score).__name__}")
    if not score:
        validate.check_seed(seed)
    return score
