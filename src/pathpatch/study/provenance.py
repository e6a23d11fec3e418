"""What a run records about where its numbers came from: :func:`environment` (versions, device,
dtype, threads, CPU kernels, the git commit of the pathpatch source when it has one) and
:func:`same_environment`, which says whether two records may be compared exactly.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["environment", "git_commit", "same_environment", "EXACT_KEYS"]

# the entries of an environment that must agree for numbers to be compared bit for bit
EXACT_KEYS = ("torch", "device", "dtype", "threads", "cpu_capability", "machine")


@functools.cache
def git_commit() -> dict[str, Any] | None:
    """The commit of the git checkout pathpatch's source lies in, and whether it had changes;
    None outside a checkout (an installed wheel) or without git."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no", "--", "."],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


def environment(device: str, dtype: str) -> dict[str, Any]:
    """The software and hardware a run uses (module docs)."""
    try:
        version = metadata.version("pathpatch")
    except metadata.PackageNotFoundError:  # run from a source tree that is not installed
        version = None
    return {
        "pathpatch": version,
        "git": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": device,
        "dtype": dtype,
        "threads": torch.get_num_threads(),
        "argv": list(sys.argv),
    }


def same_environment(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether numbers computed in ``a`` and ``b`` are expected to agree bit for bit."""
    return all(a.get(k) == b.get(k) for k in EXACT_KEYS)
