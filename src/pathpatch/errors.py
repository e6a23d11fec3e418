"""Typed errors. Each says what was expected, what came, and how to fix it.

Every error raised on bad user input derives from :class:`PathPatchError`, so callers can
catch the whole family; the subclasses let tests and tools react to one kind of mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "PathPatchError",
    "PatternError",
    "UnknownNodeError",
    "InputError",
    "ShapeMismatchError",
    "TokenOutOfRangeError",
    "SequenceTooLongError",
    "EmptyDatasetError",
    "ConfigError",
    "ModelLoadError",
    "ArgumentError",
    "DeviceError",
    "EmptyPathSetError",
    "StudyFileError",
    "ReproductionError",
    "WorkerLostError",
    "CircuitFileError",
    "ModelMismatchError",
    "UnreliableIntervalWarning",
    "close_matches",
]


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The few candidates that look most like ``word`` (for "did you mean" hints)."""
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=0.5)


class PathPatchError(Exception):
    """Base class of every error pathpatch raises on bad input."""


class PatternError(PathPatchError, ValueError):
    """A path pattern that does not parse, or names something the model does not have.

    Attributes: ``pattern`` (the whole text), ``token`` (the offending piece), ``column``
    (0-based offset of the token in ``pattern``) and ``suggestions`` (close valid spellings).
    """

    def __init__(
        self,
        message: str,
        pattern: str,
        token: str,
        column: int,
        suggestions: Iterable[str] = (),
    ) -> None:
        self.pattern = pattern
        self.token = token
        self.column = column
        self.suggestions = list(suggestions)
        hint = f"; did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        caret = " " * column + "^" * max(1, len(token))
        super().__init__(f"{message} (token {token!r} at column {column}){hint}\n  {pattern}\n  {caret}")


class UnknownNodeError(PatternError, KeyError):
    """A pattern or name refers to a node or channel this model's graph does not contain."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.args[0]


class InputError(PathPatchError, ValueError):
    """Tokens or datasets that the model cannot run on."""


class ShapeMismatchError(InputError):
    """Two token tensors that must have the same shape do not."""


class TokenOutOfRangeError(InputError):
    """A token id is negative or not below the model's vocabulary size."""


class SequenceTooLongError(InputError):
    """A sequence is longer than the model's context window."""


class EmptyDatasetError(InputError):
    """A dataset with no examples, or no target positions to measure."""


class ConfigError(PathPatchError, ValueError):
    """A model configuration that is inconsistent or not supported."""


class ModelLoadError(PathPatchError, OSError):
    """Weights that cannot be found or read (missing files, offline hub, bad format)."""


class ArgumentError(InputError):
    """An argument with a value the function cannot use (a negative budget, an unknown metric, ...).

    The message names the argument, what was wrong with it and what to pass instead.
    """


class DeviceError(ArgumentError):
    """A device or dtype that torch does not know, or that this machine does not have."""


class EmptyPathSetError(PatternError):
    """A *named* edge, path or position that holds no path of this model (an edge that is not in
    the graph, a path running backwards, a sender position after its receiver's). Scoring it would
    silently report the empty hypothesis."""


class StudyFileError(InputError):
    """A study file that cannot run as written: a key it does not know, a value of the wrong type,
    a pattern that does not parse, a missing model or data file, a sweep over a key that does not
    exist. Raised before any work. Attributes: ``file`` (the study file, or None for a study
    given as a dict), ``key`` (the dotted key, e.g. ``"steps.acdc.threshold"``; ``""`` for the
    whole file) and ``allowed`` (what the key accepts, in words)."""

    def __init__(self, file: str | None, key: str, message: str, allowed: str = "") -> None:
        self.file, self.key, self.allowed = file, key, allowed
        where = f"{file}: " if file else ""
        at = f"[{key}] " if key else ""
        super().__init__(f"{where}{at}{message}" + (f" (allowed: {allowed})" if allowed else ""))


class ReproductionError(PathPatchError):
    """A results folder that cannot be reproduced: no run.json, a run.json of another format, or
    weights or data whose checksums differ from those recorded."""


class WorkerLostError(PathPatchError, RuntimeError):
    """A unit of distributed work whose worker died more often than the backend retries it (a
    machine lost for good, or a worker killed by the memory limit every time): nothing partial
    is returned; run again with more workers, more retries or a smaller batch."""


class CircuitFileError(InputError):
    """A circuit file (``circuit.json``) that cannot be read as written: not JSON, a missing key, a
    value of the wrong type, an edge name that does not parse. Attributes: ``file`` (the file, or
    None for a dict), ``key`` (the key, e.g. ``"edges[3]"``; ``""`` for the whole file)."""

    def __init__(self, file: str | None, key: str, message: str) -> None:
        self.file, self.key = file, key
        where = f"{file}: " if file else ""
        at = f"[{key}] " if key else ""
        super().__init__(f"{where}{at}{message}")


class ModelMismatchError(InputError):
    """A circuit (or another result) used with a model other than the one it was found on: other
    weights than those recorded, or edges this model's graph does not have."""


class UnreliableIntervalWarning(UserWarning):
    """A confidence interval computed from too few bootstrap resamples to mean much."""
