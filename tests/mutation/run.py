"""Mutation testing of the engine and the path language. Not a pytest module.

    python tests/mutation/run.py                      # hand-made mutations + 100 engine / 50 lang mutants
    python tests/mutation/run.py --sample 120 --sample-lang 60 --seed 1 --jobs 2
    python tests/mutation/run.py --ids hand:swap-ref-new-v 'src/pathpatch/engine/plan.py:17'
    python tests/mutation/run.py --list --sample 10   # show what would run

Each mutant is written into a temporary copy of ``src/`` (never into the worktree) and the test
selection ``TESTS`` runs against it with ``-x`` and a timeout. A mutant is *killed* when the tests
fail (or time out), *survived* when they pass. Mutants listed in ``equivalent.py`` are counted
apart. Prints the kill rate per file and the survivors; writes a JSON summary (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from engine_mutations import MUTATIONS  # noqa: E402
from equivalent import EQUIVALENT  # noqa: E402

# Fast, strong tests first: with -x most mutants die in the first seconds.
TESTS = [
    "tests/test_micro.py",
    "tests/test_engine_mutants.py",
    "tests/test_lang.py",
    "tests/test_soft.py",
    "tests/test_budget.py",
    "tests/test_edges.py",
    "tests/test_cuts.py",
    "tests/test_edge_cuts.py",
]
# The oracle tests (the property tests against the brute-force treeifiers) kill more but take
# minutes per surviving mutant on 2 cores: ``--tests`` with these added, for a full run.
FULL = TESTS + ["tests/test_oracle.py", "tests/test_positions.py", "tests/test_scans.py"]
SCOPES = {"engine": "src/pathpatch/engine", "lang": "src/pathpatch/lang"}


@dataclass
class Job:
    id: str
    path: str  # relative to ROOT
    description: str
    render: Callable[[], str]  # the mutated file
    equivalent: str | None = None  # why, if known to be equivalent


@dataclass
class Result:
    id: str
    path: str
    description: str
    status: str  # killed | survived | timeout | equivalent | error
    seconds: float
    detail: str = ""


def hand_jobs() -> list[Job]:
    jobs = []
    for m in MUTATIONS:
        original = (ROOT / m.path).read_text()
        n = original.count(m.old)
        if n != 1:
            raise SystemExit(
                f"hand mutation {m.name}: its snippet occurs {n} times in {m.path}, not once; update "
                f"tests/mutation/engine_mutations.py to the current source"
            )
        mutated = original.replace(m.old, m.new)
        jobs.append(Job(f"hand:{m.name}", m.path, m.description, lambda s=mutated: s, m.equivalent))
    return jobs


def mechanical_jobs(scope: str, sample: int | None, seed: int) -> list[Job]:
    from mechanical import mutants_of  # needs mutmut (pip install mutmut)

    jobs = []
    for file in sorted((ROOT / SCOPES[scope]).glob("*.py")):
        rel = str(file.relative_to(ROOT))
        for m in mutants_of(rel, file.read_text()):
            key = f"{m.path} [{m.operator}] {m.before}  =>  {m.after}"
            jobs.append(Job(m.id, m.path, m.description, m.render, EQUIVALENT.get(key)))
    if sample is not None and sample < len(jobs):
        jobs = random.Random(f"{seed}:{scope}").sample(jobs, sample)
        jobs.sort(key=lambda j: (j.path, int(j.id.rsplit(":", 1)[1])))
    return jobs


class Sandbox:
    """A private copy of src/ in which one file at a time is mutated and restored."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pp-mutation-"))
        shutil.copytree(ROOT / "src", self.dir / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))

    def run(self, job: Job | None, tests: list[str], timeout: float) -> tuple[str, float, str]:
        target = self.dir / job.path if job else None
        original = target.read_text() if target else None
        if target:
            target.write_text(job.render())  # type: ignore[union-attr]
        env = dict(
            os.environ,
            PYTHONPATH=f"{self.dir / 'src'}{os.pathsep}{HERE}",
            PYTHONDONTWRITEBYTECODE="1",
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            HYPOTHESIS_STORAGE_DIRECTORY=str(self.dir / ".hypothesis"),
        )
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "fastfail",
            "--no-header",
            "-W",
            "ignore::DeprecationWarning",
            *tests,
        ]
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
            status = "survived" if proc.returncode == 0 else "killed"
            if proc.returncode in (4, 5):  # usage error / nothing collected: the harness is wrong
                status = "error"
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
            detail = (
                lines[0][:200] if lines else proc.stdout.strip().splitlines()[-1][:200] if proc.stdout.strip() else ""
            )
        except subprocess.TimeoutExpired:
            status, detail = "timeout", f"over {timeout:.0f} s"
        finally:
            if target:
                target.write_text(original)  # type: ignore[arg-type]
        return status, time.monotonic() - start, detail

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def summarize(results: list[Result]) -> dict:  # type: ignore[type-arg]
    per_file: dict[str, dict[str, int]] = {}
    for r in results:
        key = "hand-made" if r.id.startswith("hand:") else r.path
        counts = per_file.setdefault(
            key, {"mutants": 0, "killed": 0, "timeout": 0, "survived": 0, "equivalent": 0, "error": 0}
        )
        counts["mutants"] += 1
        counts[r.status] += 1
    for counts in per_file.values():
        scored = counts["killed"] + counts["timeout"] + counts["survived"]
        counts["kill_rate"] = round((counts["killed"] + counts["timeout"]) / scored, 3) if scored else None  # type: ignore[assignment]
    return per_file


def total(results: list[Result], prefix: str) -> tuple[int, int]:
    chosen = [r for r in results if r.path.startswith(prefix) and r.status in ("killed", "timeout", "survived")]
    return sum(r.status != "survived" for r in chosen), len(chosen)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample", type=int, default=100, help="mechanical mutants of engine/ to run (default 100)")
    ap.add_argument("--sample-lang", type=int, default=None, help="of lang/ (default: half of --sample)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-hand", action="store_true", help="skip the hand-made mutations")
    ap.add_argument("--hand-only", action="store_true", help="only the hand-made mutations")
    ap.add_argument("--ids", nargs="*", help="run only these mutant ids (e.g. to re-run survivors)")
    ap.add_argument("--tests", nargs="*", default=TESTS, help="test files to run against each mutant")
    ap.add_argument("--full", action="store_true", help="run the oracle tests too (FULL)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per mutant (default: 3x the clean run)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--json", default="mutation-results.json", help="where to write the summary")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args()

    if args.full:
        args.tests = FULL
    jobs: list[Job] = [] if args.no_hand else hand_jobs()
    if not args.hand_only:
        lang = args.sample // 2 if args.sample_lang is None else args.sample_lang
        everything = args.ids is not None
        jobs += mechanical_jobs("engine", None if everything else args.sample, args.seed)
        jobs += mechanical_jobs("lang", None if everything else lang, args.seed)
    if args.ids is not None:
        wanted = set(args.ids)
        jobs = [j for j in jobs if j.id in wanted]
        missing = wanted - {j.id for j in jobs}
        if missing:
            raise SystemExit(f"unknown mutant ids: {sorted(missing)}")
    if args.list:
        for j in jobs:
            print(f"{j.id:45} {j.description}")
        return 0

    boxes = [Sandbox() for _ in range(max(1, args.jobs))]
    try:
        status, clean_s, detail = boxes[0].run(None, args.tests, timeout=3600)
        if status != "survived":
            raise SystemExit(f"the tests fail without any mutation ({detail}); fix them first")
        timeout = args.timeout or max(60.0, 3 * clean_s)
        print(
            f"clean run: {clean_s:.1f} s; {len(jobs)} mutants, timeout {timeout:.0f} s each, {len(boxes)} job(s)",
            flush=True,
        )
        free = list(boxes)
        results: list[Result] = []
        start = time.monotonic()

        def one(job: Job) -> Result:
            if job.equivalent:
                return Result(job.id, job.path, job.description, "equivalent", 0.0, job.equivalent)
            box = free.pop()
            try:
                st, secs, det = box.run(job, args.tests, timeout)
            finally:
                free.append(box)
            r = Result(job.id, job.path, job.description, st, secs, det)
            print(f"[{len(results) + 1}/{len(jobs)}] {st:9} {secs:6.1f}s  {job.id}  {job.description}", flush=True)
            results.append(r)
            # an interrupted run still leaves what it measured
            Path(args.json).write_text(
                json.dumps(
                    {"partial": True, "per_file": summarize(results), "results": [asdict(x) for x in results]}, indent=1
                )
            )
            return r

        with ThreadPoolExecutor(len(boxes)) as pool:
            ordered = list(pool.map(one, jobs))
    finally:
        for b in boxes:
            b.close()

    per_file = summarize(ordered)
    print("\nper file:  mutants killed timeout survived equivalent error  kill rate")
    for key, c in sorted(per_file.items()):
        print(
            f"  {key:40} {c['mutants']:4} {c['killed']:6} {c['timeout']:7} {c['survived']:8} {c['equivalent']:10} "
            f"{c['error']:5}  {c['kill_rate']}"
        )
    rates = {}
    for label, prefix in (("hand-made", None), ("engine", SCOPES["engine"]), ("lang", SCOPES["lang"])):
        if prefix is None:
            chosen = [r for r in ordered if r.id.startswith("hand:") and r.status in ("killed", "timeout", "survived")]
            k, n = sum(r.status != "survived" for r in chosen), len(chosen)
        else:
            k, n = total([r for r in ordered if not r.id.startswith("hand:")], prefix)
        rates[label] = {"killed": k, "scored": n, "kill_rate": round(k / n, 3) if n else None}
        print(f"{label}: {k}/{n} killed" + (f" ({100 * k / n:.1f}%)" if n else ""))
    survivors = [r for r in ordered if r.status == "survived"]
    print(f"\nsurvivors ({len(survivors)}):")
    for r in survivors:
        print(f"  {r.id}  {r.description}")
    wall = time.monotonic() - start
    print(f"\n{len(ordered)} mutants in {wall / 60:.1f} min")
    summary = {
        "partial": False,
        "command": sys.argv,
        "seed": args.seed,
        "tests": args.tests,
        "timeout_s": timeout,
        "clean_run_s": clean_s,
        "wall_s": round(wall, 1),
        "rates": rates,
        "per_file": per_file,
        "results": [asdict(r) for r in ordered],
    }
    Path(args.json).write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
