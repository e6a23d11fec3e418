"""The benchmark suite still runs and its baselines still agree with the engine (no timings checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_benchmark_suite_runs_quick(tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "bench.json").read_text())["results"]
    names = " | ".join(r["workload"] for r in results)
    for part in ("clean forward", "one subgraph", "every single path", "sender scan", "max_memory"):
        assert part in names
    # each baseline was checked against the engine before it was timed
    assert all(r["max_diff"] <= 1e-4 for r in results if "max_diff" in r)
    assert any(r.get("engine_peak_mb", 0) > 0 for r in results)


def test_scale_benchmark_runs_quick(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``scale.py --quick`` (tiny shape, seconds): every workload row is written, with the
    mixed-copy floor and forward-equivalents it prints."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((tmp_path / "scale.json").read_text())["results"]
    labels = " | ".join(r["workload"] for r in rows)
    for part in ("subgraph 5%", "subgraph 50%", "sender scan", "sender_scan"):
        assert part in labels
    assert all(r["floor_fe"] > 0 for r in rows if "floor_fe" in r and r["mixed_copies"])


def test_launch_counts_run_quick() -> None:
    """``launches.py --quick``: the operator counts it prints are read from a real forward and real engine runs."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "launches.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    forward = int(lines[0].split(": ")[1].split()[0])
    assert forward > 20  # embeddings, 2 blocks, unembedding
    rows = {line.split(" (")[0]: line.split() for line in lines if line.startswith(("greedy", "causal"))}
    assert set(rows) == {"greedy step, |S|=0", "greedy step, |S|=4", "causal trace"}
    for cols in rows.values():
        operators, ratio = int(cols[-4]), float(cols[-3])
        assert operators > forward and abs(ratio - operators / forward) < 0.06
