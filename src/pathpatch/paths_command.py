"""``pathpatch paths PATTERNS``: count and list the paths a set of patterns holds on a model.

Importing this module imports no torch (``pathpatch --help`` stays fast); the command imports what
it runs.
"""

from __future__ import annotations

from typing import cast

import click

__all__ = ["paths_cmd"]


@click.command(name="paths")
@click.argument("patterns", nargs=-1, required=True)
@click.option(
    "--model",
    "model_dir",
    default=None,
    help="A shipped model (induction-2l, numbers-4l) or a model directory [default: a graph from the options below].",
)
@click.option("--layers", default=2, show_default=True, type=click.IntRange(min=1), help="Layers (without --model).")
@click.option(
    "--heads", default=8, show_default=True, type=click.IntRange(min=1), help="Heads per layer (without --model)."
)
@click.option("--mlp/--no-mlp", default=False, show_default=True, help="With MLPs (without --model).")
@click.option(
    "--positions",
    type=click.Choice(["absolute", "shortformer", "none"]),
    default="shortformer",
    show_default=True,
    help="Position kind (without --model).",
)
@click.option(
    "--list",
    "limit",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="List up to this many paths (0: none).",
)
@click.option(
    "--n-pos",
    default=None,
    type=click.IntRange(min=1),
    help="The sequence length, for patterns that name positions (a1.0@3, @-1).",
)
@click.pass_context
def paths_cmd(
    ctx: click.Context,
    patterns: tuple[str, ...],
    model_dir: str | None,
    layers: int,
    heads: int,
    mlp: bool,
    positions: str,
    limit: int,
    n_pos: int | None,
) -> None:
    """Count and list the paths that PATTERNS (their union) hold on a model.

    \b
    Letters: embed, pos, aL.H.c (head H of layer L entered through q, k or v),
    mL (MLP of layer L), out.  Wildcards: * (any one letter), a1.* (any head
    of layer 1), a*.{5,6}.k (sets), a{0-3}.0 (ranges), a1.5 (any channel),
    ... (any sub-path).  A pattern not starting with an input or not ending
    with out is open at that end:
    \b
      pathpatch paths "embed -> out"              the direct path
      pathpatch paths "a1.*.k"                    every path entering a layer-1 head via k
      pathpatch paths "embed -> a0.* -> a1.*.k -> out" --list 3
    """
    from .graph import Graph
    from .lang.hypothesis import all_paths, paths
    from .model.config import ModelConfig, PositionEncoding

    if model_dir:
        from click.core import ParameterSource

        from .zoo import load

        given = [
            p
            for p in ("layers", "heads", "mlp", "positions")
            if ctx.get_parameter_source(p) is ParameterSource.COMMANDLINE
        ]
        if given:
            raise click.UsageError(
                f"--{given[0]} describes a graph without --model; with --model the model's own graph is used"
            )
        graph = load(model_dir).graph
    else:
        graph = Graph(
            ModelConfig(
                n_layers=layers,
                n_heads=heads,
                d_model=8,
                d_head=1,
                d_vocab=1,
                n_ctx=1,
                d_mlp=4 if mlp else None,
                positions=cast(PositionEncoding, positions),  # one of click's choices
            )
        )
    hyp = paths(list(patterns))
    if hyp.positional and n_pos is None:
        raise click.UsageError(f"{hyp} names positions: pass --n-pos (the sequence length) to count or list its paths")
    total = graph.count_paths() if n_pos is None else all_paths().count(graph, n_pos=n_pos)
    n = hyp.count(graph, n_pos=n_pos)
    click.echo(f"{n} of {total} paths ({graph.describe()}" + (f", {n_pos} positions)" if n_pos else ")"))
    for path in hyp.list(graph, limit=limit, n_pos=n_pos) if limit else []:
        click.echo(f"  {path}")
    if limit and n > limit:
        click.echo(f"  ... {n - limit} more")
