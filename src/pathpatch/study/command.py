"""``pathpatch run STUDY.toml`` and ``pathpatch reproduce DIR``."""

from __future__ import annotations

import sys

import click

__all__ = ["run", "reproduce"]


@click.command()
@click.argument("study_file", metavar="STUDY.toml", type=click.Path(dir_okay=False))
@click.option(
    "--out", "out_dir", default=None, help="Results folder [default: the study's [study] out, else results/NAME]."
)
@click.option("--fresh", is_flag=True, help="Run every cell again, even those an earlier run finished.")
@click.option("--check", "check_only", is_flag=True, help="Check the file (and the model's patterns) and stop.")
@click.option("--strict", is_flag=True, help="Exit with status 3 when a claim does not hold in every cell.")
@click.option("--no-figures", is_flag=True, help="Write no figures or report page (the numbers only).")
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Where the cells run: in this process, or on a Ray cluster (extra pathpatch[ray]).",
)
@click.option("--address", default=None, help="Ray: join the cluster at HOST:PORT [default: start a local one].")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Ray: worker actors [default: the CPU slots]."
)
@click.option(
    "--gpus",
    is_flag=True,
    help='Ray: one worker per GPU (each reserves one; set the study\'s [model] device = "cuda") '
    "[default: one per CPU slot].",
)
def run(
    study_file: str,
    out_dir: str | None,
    fresh: bool,
    check_only: bool,
    strict: bool,
    no_figures: bool,
    backend: str,
    address: str | None,
    workers: int | None,
    gpus: bool,
) -> None:
    """Run the study that STUDY.toml declares: its steps in the base cell and every sweep's cells.

    The file is checked completely before any work (unknown keys, wrong types, patterns that do not
    parse, a missing model, a sweep over a key that does not exist). Each cell's results are written
    to OUT/cells/ID.json as it finishes; a re-run keeps the finished cells, so a killed run resumes.
    OUT also gets run.json (provenance: versions, device, threads, sha256 of weights and data, every
    setting), robustness.json (how each claim, hypothesis and circuit moves across the cells) and
    report.html. `pathpatch reproduce OUT` re-runs it and compares every number.

    With --backend ray the cells run on the workers of a Ray cluster: a local one on 127.0.0.1 (the
    dashboard off), or the one at --address, always with Ray's token authentication (give this
    machine the cluster's token, e.g. RAY_AUTH_TOKEN_PATH=FILE). A worker that dies has its cell
    retried on another; the numbers are those of a local run with one thread per process.

    Exit status: 0, or 1 when a cell failed (each failure is printed; a re-run retries it), 2 on a
    bad study file, 3 with --strict when a claim does not hold everywhere.

    \b
    Example (the shipped studies):
      pathpatch run studies/induction.toml
      pathpatch reproduce results/induction-study
    """
    from .run import Study

    study = Study.load(study_file)
    click.echo(f"{study_file}: study {study.spec.study.name!r}, {len(study.cells)} cells")
    if check_only:
        from .hypotheses import check_on_model
        from .inputs import load_model

        for cell in study.cells:
            check_on_model(cell.spec, load_model(cell.spec.model, study.base, study.file).model, study.file)
        click.echo("the study is valid")
        return
    from ..backends.choose import backend_named

    runner = backend_named(backend, address, workers, gpus)
    try:
        result = study.run(out_dir, fresh=fresh, echo=click.echo, figures=not no_figures, backend=runner)
    finally:
        runner.close()
    click.echo(
        f"wrote {result.out}/ (run.json, cells/, robustness.json" + ("" if no_figures else ", report.html") + ")"
    )
    if result.failed:
        click.echo(f"{len(result.failed)} cells failed; run the same command again to retry them", err=True)
        sys.exit(1)
    if strict and not result.claims_hold:
        sys.exit(3)


@click.command()
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option(
    "--rtol",
    type=float,
    default=None,
    help="Relative tolerance when the environment differs [default: from the dtype].",
)
def reproduce(folder: str, rtol: float | None) -> None:
    """Re-run the study recorded in DIR/run.json and compare every number with DIR's cells.

    The study comes from run.json alone (every setting recorded with its defaults), not from the
    study file. Weights and data are checked by sha256 first. Numbers must be equal exactly on the
    same torch, device, dtype, threads and CPU kernels, else within --rtol (default
    min(1e-2, 1024 x eps(dtype)): 1.2e-4 in float32). Prints `reproduced`, or each value that
    differs with both values and exits with status 1.
    """
    from .reproduction import reproduce as run_reproduce

    outcome = run_reproduce(folder, rtol=rtol, echo=click.echo)
    click.echo(str(outcome))
    if not outcome.reproduced:
        sys.exit(1)
