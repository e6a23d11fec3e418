"""The robustness card a study writes (``robustness.json``, format ``pathpatch.robustness/1``): its
check, the names of its figures, and how its numbers are printed.

The card summarises the cells of a study's sweeps (the base cell first): per claim, how many cells
it holds in, its worst cell and its value with an interval in every cell; per (score step,
hypothesis), its metrics in every cell; per discovery step, the edges each cell kept (sizes,
inclusion frequency, Jaccard overlap, the robust core) and faithfulness curves. ``graph`` is the
model's architecture (:func:`~.runfiles.architecture`) or None.

:func:`check_card` checks the structure the figures (:mod:`.cardplots`) and the HTML section
(:mod:`.card`) read, and raises :class:`~pathpatch.errors.InputError` naming the first key that is
missing or of the wrong kind; it does not recompute the card's numbers. ``value``, ``lower`` and
``upper`` of a cell may be None (the cell has no number); they print as ``-`` and are not drawn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import InputError

__all__ = [
    "CARD_FORMAT",
    "CLAIMS_PNG",
    "HYPOTHESES_PNG",
    "check_card",
    "step_figure",
    "number_format",
    "cell_labels",
]

CARD_FORMAT = "pathpatch.robustness/1"
CLAIMS_PNG, HYPOTHESES_PNG = "robustness-claims.png", "robustness-hypotheses.png"

_REWRITE = "write it again by running the study (its robustness.json is written by pathpatch.study)"
_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_POINT = {"cell": (str,), "label": (str,), "value": _OPT_NUM, "lower": _OPT_NUM, "upper": _OPT_NUM}
_CELL = {"id": (str,), "label": (str,), "status": (str,)}
_CLAIM = {
    "name": (str,),
    "metric": (str,),
    "direction": (str,),
    "bound": _NUM,
    "holds_in": (int,),
    "judged_in": (int,),
    "per_cell": (list,),
}
_HYPOTHESIS = {"step": (str,), "hypothesis": (str,), "metrics": (dict,)}
_DISCOVERY = {
    "step": (str,),
    "method": (str,),
    "cells": (list,),
    "labels": (list,),
    "sizes": (list,),
    "inclusion": (dict,),
    "jaccard": (list,),
    "mean_jaccard": _OPT_NUM,
    "core_threshold": _NUM,
    "core": (list,),
}
_CURVE = {"cell": (str,), "label": (str,), "fractions": (list,), "proportion": (list,), "area": _NUM, "cmd": _NUM}


def _kind(kinds: tuple[type, ...]) -> str:
    names = {"str": "a string", "int": "an integer", "float": "a number", "list": "a list", "dict": "an object"}
    return " or ".join("null" if k is type(None) else names.get(k.__name__, k.__name__) for k in kinds)


def _fields(obj: Any, spec: Mapping[str, tuple[type, ...]], where: str) -> None:
    if not isinstance(obj, Mapping):
        raise InputError(f"robustness card: {where} should be an object, got {type(obj).__name__}; {_REWRITE}")
    for key, kinds in spec.items():
        if key not in obj:
            raise InputError(f"robustness card: {where} lacks {key!r}; {_REWRITE}")
        value = obj[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise InputError(
                f"robustness card: {where}.{key} should be {_kind(kinds)}, got {type(value).__name__} "
                f"({value!r:.60}); {_REWRITE}"
            )


def _list(card: Mapping[str, Any], key: str) -> list[Any]:
    value = card.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"robustness card: {key!r} should be a list, got {type(value).__name__}; {_REWRITE}")
    return value


def check_card(card: Any) -> dict[str, Any]:
    """``card`` (a parsed robustness.json) when it has the structure of its format; else an
    :class:`~pathpatch.errors.InputError` saying what is wrong. ``claims``, ``hypotheses`` and
    ``discoveries`` may be absent or empty, ``graph`` absent or None."""
    if not isinstance(card, Mapping):
        raise InputError(f"a robustness card is a JSON object, got {type(card).__name__}; {_REWRITE}")
    got = card.get("format")
    if got != CARD_FORMAT:
        raise InputError(
            f"robustness card has format {got!r}, expected {CARD_FORMAT!r}: it was written by another "
            f"tool or another version of pathpatch; {_REWRITE} with this version"
        )
    cells = card.get("cells")
    if not isinstance(cells, list) or not cells:
        raise InputError(f"robustness card: 'cells' should be a non-empty list of cells (base first); {_REWRITE}")
    for i, cell in enumerate(cells):
        _fields(cell, _CELL, f"cells[{i}]")
    for i, claim in enumerate(_list(card, "claims")):
        _fields(claim, _CLAIM, f"claims[{i}]")
        for j, point in enumerate(claim["per_cell"]):
            _fields(point, _POINT, f"claims[{i}].per_cell[{j}]")
        if claim.get("worst") is not None:
            _fields(claim["worst"], _POINT, f"claims[{i}].worst")
    for i, hyp in enumerate(_list(card, "hypotheses")):
        _fields(hyp, _HYPOTHESIS, f"hypotheses[{i}]")
        for metric, points in hyp["metrics"].items():
            if not isinstance(points, list):
                raise InputError(f"robustness card: hypotheses[{i}].metrics.{metric} should be a list; {_REWRITE}")
            for j, point in enumerate(points):
                _fields(point, _POINT, f"hypotheses[{i}].metrics.{metric}[{j}]")
    for i, disc in enumerate(_list(card, "discoveries")):
        where = f"discoveries[{i}]"
        _fields(disc, _DISCOVERY, where)
        n = len(disc["cells"])
        for key in ("labels", "sizes", "jaccard"):
            if len(disc[key]) != n:
                raise InputError(
                    f"robustness card: {where}.{key} has {len(disc[key])} entries for {n} cells; {_REWRITE}"
                )
        missing = [e for e in disc["core"] if e not in disc["inclusion"]]
        if missing:
            raise InputError(
                f"robustness card: {where}.core names edges without an inclusion frequency, e.g. "
                f"{missing[0]!r}; {_REWRITE}"
            )
        if any(not isinstance(row, list) or len(row) != n for row in disc["jaccard"]):
            raise InputError(f"robustness card: {where}.jaccard should be {n} x {n} (cells x cells); {_REWRITE}")
        for j, curve in enumerate(_list(disc, "curves")):
            _fields(curve, _CURVE, f"{where}.curves[{j}]")
            if len(curve["fractions"]) != len(curve["proportion"]):
                raise InputError(
                    f"robustness card: {where}.curves[{j}] has {len(curve['fractions'])} fractions and "
                    f"{len(curve['proportion'])} proportions; {_REWRITE}"
                )
    names = [step_figure(d["step"], "") for d in _list(card, "discoveries")]
    if len(set(names)) < len(names):
        steps = [d["step"] for d in card["discoveries"]]
        raise InputError(
            f"robustness card: discovery steps {steps} are not unique (their figures' file names would "
            f"clash); name each step once; {_REWRITE}"
        )
    if card.get("graph") is not None and not isinstance(card["graph"], Mapping):
        raise InputError(f"robustness card: 'graph' should be a model architecture or null; {_REWRITE}")
    return dict(card)


def step_figure(step: str, kind: str) -> str:
    """The file name of a discovery step's figure: ``robustness-<step>-<kind>.png`` (the step's name
    with anything but letters, digits, ``.``, ``_`` and ``-`` replaced by ``_``)."""
    return f"robustness-{re.sub(r'[^A-Za-z0-9._-]', '_', step)}-{kind}.png"


def cell_labels(card: Mapping[str, Any]) -> dict[str, str]:
    """Cell id -> its label, a cell that did not finish marked with its status (``(failed)``), in
    the card's order."""
    return {c["id"]: c["label"] + ("" if c["status"] == "done" else f" ({c['status']})") for c in card["cells"]}


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, _NUM) and math.isfinite(v)]


def number_format(values: Iterable[Any]) -> Callable[[Any], str]:
    """One way to print every number of a table column: whole numbers when all are whole (edge
    counts), else three decimals (more when every magnitude is below 0.01); None as ``-``."""
    nums = _finite(values)
    if nums and all(v == int(v) and abs(v) < 1e12 for v in nums):
        return lambda v: "-" if v is None else (f"{int(v)}" if isinstance(v, _NUM) and math.isfinite(v) else f"{v}")
    top = max((abs(v) for v in nums), default=1.0)
    digits = 3 if top >= 0.01 or top == 0 else min(8, 2 - math.floor(math.log10(top)))
    return lambda v: "-" if v is None else f"{float(v):.{digits}f}"
