"""``pathpatch report DIR``: the self-contained HTML report of a results folder."""

from __future__ import annotations

import click

__all__ = ["report"]


@click.command(name="report")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    "out_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="Where to write the page. [default: FOLDER/report.html]",
)
def report(folder: str, out_file: str | None) -> None:
    """Write FOLDER/report.html: one self-contained page (no network; figures inline) from the
    files a run wrote in FOLDER.

    \b
    From report.json: the hypothesis table with intervals (hover a row to light
      up its edges), circuit diagrams and each hypothesis as Python to copy;
    from scan.json: a sortable table of the scan, its ATE and its plots;
    from robustness.json: a study's robustness card (claims, hypotheses and
      discoveries across cells) with its figures;
    every PNG plot of the folder; the run's description and settings.
    \b
      pathpatch example && pathpatch report results/example
      pathpatch scan edges --out results/edges && pathpatch report results/edges
    Open the page in any browser; it needs nothing else.
    """
    from .html import write_html

    path = write_html(folder, out_file)
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
