"""``pathpatch demo numbers``: the paper's number study, on the shipped ``numbers-4l`` or on GPT-2."""

from __future__ import annotations

import click

__all__ = ["numbers"]


@click.command(name="numbers")
@click.option(
    "--model",
    "model_name",
    default="numbers-4l",
    show_default=True,
    help="The shipped numbers-4l, a GPT-2 directory (save_pretrained output with tokenizer files) or a "
    "cached hub name.",
)
@click.option("--out", "out_dir", default="results/numbers", show_default=True, help="Where to write the results.")
@click.option(
    "--first", default=None, type=click.IntRange(min=0), help="Smallest s [default: 0 for numbers-4l, 1 otherwise]."
)
@click.option(
    "--last",
    default=None,
    type=click.IntRange(min=0),
    help="Largest s; values whose numbers are not single tokens are skipped "
    "[default: 196 for numbers-4l (its numbers go to 199), 100 otherwise].",
)
@click.option(
    "--target",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Stop the path search at this proportion explained.",
)
@click.option(
    "--max-nodes",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many heads/MLPs in the path search.",
)
@click.option(
    "--batch-size",
    default=50,
    show_default=True,
    type=click.IntRange(min=1),
    help="Prompts per batch (memory grows with it).",
)
@click.option(
    "--boot",
    "n_boot",
    default=1000,
    show_default=True,
    type=click.IntRange(min=20),
    help="Bootstrap resamples for the intervals.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of the x_new pairing and the bootstrap.",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def numbers(
    model_name: str,
    out_dir: str,
    first: int | None,
    last: int | None,
    target: float,
    max_nodes: int,
    batch_size: int,
    n_boot: int,
    seed: int,
    quiet: bool,
) -> None:
    """The paper's GPT-2 experiment: "<|endoftext|> s s+1 s+2" -> " s+3".

    \b
    Runs on the shipped GPT-2-style numbers-4l (trained here to count) unless
    --model names GPT-2 weights on disk. It
    0. checks the behaviour: top-1 accuracy and the logit difference of s+3
       against the other answer numbers, over every prompt;
    1. causal tracing over (layer, position): restore the residual stream,
       the attention layer or the MLP at one cell in the x_new run;
    2. a greedy path-patching search over heads and MLPs at the last
       position (hypotheses only_at(-1, S), all candidates batched);
    3. the causal-tracing localisation of the same kind (whole layers),
       and how many nodes and position-resolved paths each claim names;
    4. writes OUT/report.html (one page with every table and plot, and the
       circuit diagram), report.md, report.json (with "accuracy"),
       study.json and PNG plots.
    Nothing is downloaded.
    """
    from .load import load_with_tokenizer
    from .study import run_numbers

    shipped = model_name == "numbers-4l"
    model, tokenizer = load_with_tokenizer(model_name)
    first = (0 if shipped else 1) if first is None else first
    last = (196 if shipped else 100) if last is None else last
    if last < first:
        raise click.BadParameter(f"--last {last} is below --first {first}", param_hint="--last")
    study = run_numbers(
        model,
        tokenizer,
        out_dir,
        target,
        max_nodes,
        batch_size,
        n_boot,
        seed,
        progress=not quiet,
        echo=click.echo,
        first=first,
        last=last,
        model_name=model_name,
    )
    click.echo("")
    click.echo(str(study.reports["loss"]))
    sp = study.info["specificity"]
    click.echo(
        f"\npath search kept {sp['nodes_path']} nodes ({sp['paths_path']} paths); causal-tracing cells "
        f"kept {sp['nodes_tracing']} nodes ({sp['paths_tracing']} paths)"
    )
    click.echo("\nheads/MLPs at the last position (paths ending there) needed to explain at least:")
    for row in study.info["needed"]:
        p, t = row["path_search"], row["tracing"]
        click.echo(
            f"  {row['level']:.1f}: path search "
            + ("not reached" if p is None else f"{p['nodes']} ({p['paths']} paths)")
            + ", causal tracing "
            + ("not reached" if t is None else f"{t['nodes']} ({t['paths']} paths)")
        )
    click.echo(f"wrote {out_dir}/report.html (open it in a browser), report.md (with plots), report.json, study.json")
