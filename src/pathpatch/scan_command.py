"""``pathpatch scan KIND``: one hypothesis per node, edge, sender or path of the shipped induction
model, scored together, printed with intervals and written as files a report can show.

Importing this module imports no torch (``pathpatch --help`` stays fast); the command imports what
it runs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal, TypedDict, cast

import click

from .defaults import DEFAULT_DELTA, DELTA_NAMES

if TYPE_CHECKING:
    import torch

__all__ = ["scan", "split_receivers"]


class _ScanSettings(TypedDict):
    """The keywords every scan passes on to :func:`pathpatch.score`."""

    delta: str
    batch_size: int
    max_memory: str | None
    device: str | None
    seed: int
    dtype: torch.dtype | None
    progress: bool


def _mode(given: str | None, default: Literal["restore", "ablate"]) -> Literal["restore", "ablate"]:
    """``--mode`` (one of click's choices), or the scan kind's default."""
    return default if given is None else cast(Literal["restore", "ablate"], given)


@click.command()
@click.argument("kind", type=click.Choice(["nodes", "edges", "senders", "paths"]))
@click.option(
    "--model",
    "model_name",
    default="induction-2l",
    show_default=True,
    help="A shipped model (induction-2l, numbers-4l) or a model directory with heldout.safetensors "
    "(see pathpatch.shipped.model_and_pairs for the data each runs on).",
)
@click.option(
    "--receivers",
    default=None,
    help="senders: the receiving ports or nodes, comma-separated (e.g. 'a1.6' = its q, k and v; 'a1.6.k,a1.7.k').",
)
@click.option(
    "--mode",
    type=click.Choice(["restore", "ablate"]),
    default=None,
    help="restore: x_ref only on the scanned part; ablate: x_new only there. "
    "[default: restore for nodes and paths, ablate for edges and senders]",
)
@click.option(
    "--delta",
    type=click.Choice(DELTA_NAMES),
    default=DEFAULT_DELTA,
    show_default=True,
    help="Dissimilarity of outputs the metrics use (logit_diff: against x_new's correct token).",
)
@click.option(
    "--examples",
    default=64,
    show_default=True,
    type=click.IntRange(min=2),
    help="Held-out sequences (number prompts for numbers-4l) to score on.",
)
@click.option(
    "--batch-size",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Examples per batch (an upper bound with --max-memory).",
)
@click.option(
    "--max-memory",
    default=None,
    help="Keep the engine's tensors under this size, e.g. '2GB' (chunks "
    "examples and, if needed, hypotheses; same numbers).",
)
@click.option("--device", default=None, help="'cpu', 'cuda', 'cuda:1', ... [default: where the model is]")
@click.option(
    "--dtype",
    type=click.Choice(["float32", "bfloat16", "float16"]),
    default=None,
    help="Evaluate in this precision (metrics stay float64). [default: the model's]",
)
@click.option(
    "--top",
    default=15,
    show_default=True,
    type=click.IntRange(min=0),
    help="Print the rows that matter most (largest when restoring, smallest when ablating); 0: all, in graph order.",
)
@click.option(
    "--out",
    "out_dir",
    default="results/scan",
    show_default=True,
    help="Where to write scan.json and the plots (top.png; heads.png; circuit.svg/png for edges).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of the data choice, pairing and bootstrap.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def scan(
    kind: str,
    model_name: str,
    receivers: str | None,
    mode: str | None,
    delta: str,
    examples: int,
    batch_size: int,
    max_memory: str | None,
    device: str | None,
    dtype: str | None,
    top: int,
    out_dir: str,
    seed: int,
    quiet: bool,
) -> None:
    """Scan the shipped induction model: one hypothesis per node, edge, sender or path, all scored
    together in shared batched passes, with bootstrap intervals.

    \b
      pathpatch scan nodes                         restore each head alone
      pathpatch scan edges --top 10                remove each edge (sender->receiver patching)
      pathpatch scan senders --receivers a1.6      every sender into a1.6's q, k and v
      pathpatch scan paths --max-memory 1GB        every single path (about a thousand)
    \b
    Prints the rows that matter most with their intervals and the ATE; writes
    OUT/scan.json, OUT/top.png (those rows as bars), OUT/heads.png (a layer x head
    heatmap: nodes, senders) and OUT/circuit.svg/png (edges drawn on the graph);
    `pathpatch report OUT` makes them one HTML page.
    """
    import torch

    from .render.backend import pyplot  # noqa: F401  (fail early without matplotlib)
    from .render.scanfiles import write_scan
    from .scans import edge_scan, format_rows, node_scan, path_scan, sender_scan
    from .shipped import model_and_pairs
    from .validate import check_device, check_max_memory

    check_device(device)
    check_max_memory(max_memory)
    if kind == "senders":
        split_receivers(receivers)
    elif receivers is not None:
        raise click.UsageError(f"--receivers is for `scan senders` only; `scan {kind}` would ignore it")
    start = time.perf_counter()
    model, pairs, what = model_and_pairs(model_name, examples, seed)
    click.echo(f"[1/2] scanning {kind} of {what} ({time.perf_counter() - start:.1f} s)")
    kw: _ScanSettings = dict(
        delta=delta,
        batch_size=batch_size,
        max_memory=max_memory,
        device=device,
        seed=seed,
        dtype=getattr(torch, dtype) if dtype else None,
        progress=not quiet,
    )
    if kind == "senders":
        if not receivers:
            raise click.UsageError("scan senders needs --receivers, e.g. --receivers a1.6")
        table = sender_scan(model, pairs, split_receivers(receivers), mode=_mode(mode, "ablate"), **kw)
    elif kind == "nodes":
        table = node_scan(model, pairs, mode=_mode(mode, "restore"), **kw)
    elif kind == "edges":
        table = edge_scan(model, pairs, mode=_mode(mode, "ablate"), **kw)
    else:
        table = path_scan(model, pairs, mode=_mode(mode, "restore"), **kw)
    click.echo(f"[2/2] scored {len(table.rows)} hypotheses ({time.perf_counter() - start:.1f} s)")
    rows = table.most_important(top) if top else list(table.rows)
    click.echo(
        f"{table.mode} scan of {len(table.rows)} {kind}, {table.metric.replace('_', ' ')}, "
        f"{len(pairs)} examples, delta={delta}" + (f" ({top} that matter most)" if top else "")
    )
    for line in format_rows(rows, table.rows):
        click.echo(f"  {line}")
    click.echo(f"ATE = {table.ate} (x_new everywhere vs the clean run)")
    written = write_scan(table, kind, model, out_dir, split_receivers(receivers) if kind == "senders" else None)
    from .render import write_html

    written.append(write_html(out_dir))
    click.echo(f"wrote {', '.join(str(w) for w in written)}")


def split_receivers(receivers: str | None) -> list[str]:
    """``--receivers`` as a list of names: comma-separated, spaces around them allowed."""
    names = [r.strip() for r in (receivers or "").split(",") if r.strip()]
    if not names:
        raise click.UsageError("scan senders needs --receivers, e.g. --receivers a1.6 or --receivers 'a1.6, a1.7'")
    return names
