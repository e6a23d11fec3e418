"""How many CPU threads torch should use for a command-line run.

PyTorch's default (one thread per core) collapses on a busy machine: each matrix product waits
for its slowest thread, and a thread that shares its core with another process is slow. Measured
on a loaded 2-core machine, ``pathpatch scan paths`` took 7 minutes with the default and 29 s
with one thread. So the command line takes the cores that are idle now:

    threads = clamp(round(cores - load average over the last minute), 1, cores)

``PATHPATCH_THREADS`` (or the CLI's ``--threads``) overrides it; the library itself never
changes torch's setting (a program that imports pathpatch keeps its own).
"""

from __future__ import annotations

import os
import sys

from .errors import InputError

__all__ = ["choose_threads", "idle_cores", "apply_threads"]


def idle_cores() -> int:
    """Cores not busy now (at least 1): usable cores minus the 1-minute load average."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return max(1, min(cores, round(cores - load)))


def choose_threads(requested: int | str | None = None) -> int:
    """``requested`` (a positive int), else ``$PATHPATCH_THREADS``, else :func:`idle_cores`."""
    value = requested if requested is not None else os.environ.get("PATHPATCH_THREADS")
    if value is None or value == "":
        return idle_cores()
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise InputError(f"threads must be a positive whole number (or unset for the idle cores), got {value!r}")
    return n


def apply_threads(requested: int | str | None = None) -> int:
    """Set torch's CPU threads to :func:`choose_threads` (through ``OMP_NUM_THREADS`` when torch is
    not imported yet, so a command that never needs torch does not pay for importing it)."""
    n = choose_threads(requested)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)
    return n
