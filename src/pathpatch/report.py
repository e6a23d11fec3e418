"""The result of testing hypotheses: one row of metric estimates per hypothesis, plus metadata.

A :class:`Report` holds a :class:`HypothesisScore` per hypothesis (its name, how many paths it
contains, and :class:`~pathpatch.estimates.Estimate` values keyed by metric name: ``aue``, ``ate``,
``proportion_explained``, ``loss_recovered``) and a ``meta`` dict describing the run (delta,
ablation kind, number of examples, model, seed, ...).

It renders as a fixed-width text table (``str(report)``) or a Markdown table
(:meth:`Report.to_markdown`), and round-trips through JSON (:meth:`Report.to_json`,
:meth:`Report.from_json`). ``meta`` must therefore hold JSON values only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError
from .estimates import Estimate

__all__ = ["HypothesisScore", "Report"]

# (metric key, column title) of the table columns after "hypothesis" and "paths".
COLUMNS: tuple[tuple[str, str], ...] = (
    ("aue", "AUE"),
    ("proportion_explained", "proportion explained"),
    ("loss_recovered", "loss recovered"),
)
_MISSING = "-"


@dataclass(frozen=True)
class HypothesisScore:
    """The metrics of one hypothesis.

    Attributes:
        name: the hypothesis' label (unique within a report).
        n_paths: the number of paths it contains, or ``None`` if not counted.
        metrics: metric name -> :class:`Estimate`.
    """

    name: str
    n_paths: int | None
    metrics: dict[str, Estimate] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "n_paths", "metrics": {metric: Estimate.to_dict()}}``."""
        return {
            "name": self.name,
            "n_paths": self.n_paths,
            "metrics": {k: e.to_dict() for k, e in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HypothesisScore:
        """The score :meth:`to_dict` wrote."""
        return cls(
            name=d["name"],
            n_paths=d.get("n_paths"),
            metrics={k: Estimate.from_dict(e) for k, e in d.get("metrics", {}).items()},
        )


@dataclass(frozen=True)
class Report:
    """Scores of several hypotheses, tested on the same data, with a description of the run.

    Attributes:
        scores: one :class:`HypothesisScore` per hypothesis, in display order (names unique).
        meta: JSON-serialisable description of the run, e.g. ``{"delta": "kl", "ablation":
            "resample", "n_examples": 200, "model": "gpt2", "seed": 0}``.
    """

    scores: tuple[HypothesisScore, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(self.scores))
        for s in self.scores:
            if not isinstance(s, HypothesisScore):
                raise InputError(f"scores must hold HypothesisScore objects, got {type(s).__name__}")
        names = [s.name for s in self.scores]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InputError(
                f"hypothesis names in a report must be unique, got duplicates {dupes}; "
                f"give each hypothesis its own name"
            )

    # ------------------------------------------------------------ access

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scores]

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[HypothesisScore]:
        return iter(self.scores)

    def __getitem__(self, name: str) -> HypothesisScore:
        """The score of the hypothesis called ``name``."""
        for s in self.scores:
            if s.name == name:
                return s
        raise KeyError(f"no hypothesis named {name!r} in this report; names are {self.names}")

    # ------------------------------------------------------------ rendering

    def _title(self) -> str:
        parts = ", ".join(f"{k}={v}" for k, v in self.meta.items())
        return f"pathpatch report ({parts})" if parts else "pathpatch report"

    def _ate_line(self) -> str | None:
        """The ATE, shown once when every hypothesis shares it (same data, same delta)."""
        ates = {str(s.metrics["ate"]) for s in self.scores if "ate" in s.metrics}
        return f"ATE = {ates.pop()}" if len(ates) == 1 else None

    def _rows(self) -> tuple[list[str], list[list[str]]]:
        header = ["hypothesis", "paths"] + [title for _, title in COLUMNS]
        rows = [
            [s.name, _MISSING if s.n_paths is None else str(s.n_paths)]
            + [str(s.metrics[k]) if k in s.metrics else _MISSING for k, _ in COLUMNS]
            for s in self.scores
        ]
        return header, rows

    def unreliable(self) -> dict[str, str]:
        """``{"hypothesis: metric": reason}`` for every ratio flagged unreliable (its denominator's
        interval includes 0, so the ratio and its interval can be anything)."""
        return {f"{s.name}: {k}": e.unreliable for s in self.scores for k, e in s.metrics.items() if e.unreliable}

    def _notes(self) -> list[str]:
        reasons: dict[str, list[str]] = {}
        for s in self.scores:
            for k, e in s.metrics.items():
                if e.unreliable:
                    reasons.setdefault(e.unreliable, [])
                    title = dict(COLUMNS).get(k, k)
                    if title not in reasons[e.unreliable]:
                        reasons[e.unreliable].append(title)
        return [
            f"(!) unreliable {' and '.join(titles)}: {why}, so the ratio and its interval can take any value; "
            f"use more examples or pairs with a larger effect"
            for why, titles in reasons.items()
        ]

    def __str__(self) -> str:
        header, rows = self._rows()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            # Names left-aligned, numbers right-aligned.
            out = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
            return " | ".join(out).rstrip()

        lines = [self._title()]
        ate = self._ate_line()
        if ate:
            lines.append(ate)
        lines += [line(header), "-+-".join("-" * w for w in widths)]
        lines += [line(r) for r in rows]
        lines += self._notes()
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A Markdown table, preceded by the title (and ATE) as a paragraph."""
        header, rows = self._rows()

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        intro = self._title() + (f"; {ate}" if (ate := self._ate_line()) else "")
        align = "|:---|---:|" + "---:|" * len(COLUMNS)
        notes = self._notes()
        return (
            "\n".join(
                [f"**{intro}**", "", line(header), align, *(line(r) for r in rows)] + (["", *notes] if notes else [])
            )
            + "\n"
        )

    # ------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """``{"meta": ..., "scores": [HypothesisScore.to_dict()]}`` (JSON values; :meth:`from_dict`
        reads it back); an estimate flagged unreliable carries its reason under ``"unreliable"``."""
        return {"meta": dict(self.meta), "scores": [s.to_dict() for s in self.scores]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Report:
        if not isinstance(d, dict) or "scores" not in d:
            raise InputError(
                f"a report dict needs keys 'scores' and 'meta', got {type(d).__name__} "
                f"{sorted(d) if isinstance(d, dict) else ''}"
            )
        return cls(scores=tuple(HypothesisScore.from_dict(s) for s in d["scores"]), meta=dict(d.get("meta", {})))

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The report as JSON text; also written to ``path`` if given. Read back with :meth:`from_json`."""
        try:
            text = json.dumps(self.to_dict(), indent=2)
        except TypeError as err:
            raise InputError(
                f"report meta must hold JSON values (str, number, bool, None, list, dict): "
                f"{err}; convert the value to a string first"
            ) from None
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        return text

    @classmethod
    def from_json(cls, text: str | os.PathLike[str]) -> Report:
        """The report that :meth:`to_json` wrote: its JSON text, or the path of the file it wrote."""
        if isinstance(text, os.PathLike) or (isinstance(text, str) and not text.lstrip().startswith("{")):
            return cls.load(text)
        try:
            d = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(
                f"not valid report JSON ({err}); pass the text to_json returned, or the contents of the file it wrote"
            ) from None
        return cls.from_dict(d)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Report:
        """The report in the file :meth:`to_json` wrote (``report.json``)."""
        file = Path(path)
        if not file.is_file():
            raise InputError(f"no report file at {file}; write one with Report.to_json(path)")
        try:
            d = json.loads(file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{file} is not report JSON ({err}); write it with Report.to_json(path)") from None
        return cls.from_dict(d)
