"""Studies as files: a TOML file declares a whole study (model, data, settings, hypotheses, steps,
claims, sweeps); :class:`Study` checks and runs it, writes provenance, resumes a killed run, and
``reproduce`` re-runs it from its ``run.json`` and compares every number.

- :mod:`.schema`, :mod:`.load`, :mod:`.check`: the file's format and its checks;
- :mod:`.cells`: the base cell and the sweeps' cells;
- :mod:`.inputs`, :mod:`.hypotheses`, :mod:`.steps`: what a cell reads and runs;
- :mod:`.store`, :mod:`.provenance`: atomic files and what a run records;
- :mod:`.card`: the robustness card; :mod:`.figures`: the base cell's pictures and pages;
- :mod:`.run`: :class:`Study`; :mod:`.reproduction`: :func:`reproduce`.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

_HOMES = {
    "Study": "run",
    "StudyRun": "run",
    "StudySpec": "schema",
    "reproduce": "reproduction",
    "Reproduction": "reproduction",
}

if TYPE_CHECKING:
    from .reproduction import Reproduction, reproduce
    from .run import Study, StudyRun
    from .schema import StudySpec

__getattr__ = lazy_names(__name__, _HOMES, globals())

__all__ = ["Study", "StudyRun", "StudySpec", "reproduce", "Reproduction"]
