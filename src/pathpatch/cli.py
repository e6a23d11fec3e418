"""The ``pathpatch`` command line.

pathpatch demo                    # the induction-heads study on the shipped model
pathpatch example                 # the end-to-end example on a seeded random model
pathpatch paths "embed -> a1.*.v -> out" --layers 2 --heads 8 --list 5
pathpatch scan senders --receivers a1.6   # a batched scan on the shipped model
pathpatch discover paths --target 0.9     # find a circuit (also acdc, eap, eap-ig)
pathpatch report results/induction        # one self-contained report.html
pathpatch run studies/induction.toml      # a study declared in a file; resumable
pathpatch reproduce results/induction-study   # re-run it from run.json, compare every number
"""

from __future__ import annotations

import sys

import click

from .errors import PathPatchError

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--threads",
    type=int,
    default=None,
    envvar="PATHPATCH_THREADS",
    help="CPU threads for torch [default: the cores idle now, i.e. cores minus the load average; "
    "env PATHPATCH_THREADS].",
)
def cli(threads: int | None) -> None:
    """Path patching for transformers: say which paths carry a behaviour, get a number with error bars.

    A hypothesis is a set of paths through the model's computational graph, written in the path
    language (`pathpatch paths --help`). It is scored by evaluating the treeified model with x_ref
    on its paths and x_new on all others, and comparing with the clean run.
    """
    from .threads import apply_threads

    apply_threads(threads)


@cli.command()
@click.option("--out", "out_dir", default="results/example", show_default=True, help="Where to write the report.")
@click.option(
    "--examples", default=256, show_default=True, type=click.IntRange(min=2), help="Number of sequences to score on."
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the data and the pairing."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def example(out_dir: str, examples: int, seed: int, quiet: bool) -> None:
    """Score seven hypotheses on a seeded random model (no download), print the table, write files.

    The hypotheses are written in the path language (see `pathpatch paths --help`), e.g.
    "embed -> a1.*.v -> out" or ~through("a1.*"). Writes OUT/report.html, OUT/report.json, OUT/report.md,
    OUT/engine.json and OUT/proportion_explained.png.
    """
    from .example import run_example

    report = run_example(out_dir, examples, seed, progress=not quiet)
    click.echo(str(report))
    m = report.meta
    click.echo(
        f"\nengine: {m['hypotheses']} hypotheses over a model with {m['paths_in_model']} paths and "
        f"{m['nodes']} nodes needed {m['mixed_copies_per_batch']} mixed copies per batch; "
        f"scoring took {m['seconds']} s"
    )
    click.echo(
        f"wrote {out_dir}/report.html (open it in a browser), report.json, report.md, engine.json, "
        "proportion_explained.png"
    )


@cli.group(invoke_without_command=True)
@click.option(
    "--model",
    "model_name",
    default="induction-2l",
    show_default=True,
    help="The shipped induction-2l or a model directory with heldout.safetensors "
    "(e.g. from `pathpatch train induction`).",
)
@click.option("--out", "out_dir", default="results/induction", show_default=True, help="Where to write the results.")
@click.option(
    "--examples", default=200, show_default=True, type=click.IntRange(min=2), help="Held-out sequences to score on."
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed of the data choice, pairing and bootstrap.",
)
@click.option(
    "--discover/--no-discover",
    default=True,
    show_default=True,
    help="Run step 3: find circuits (path search, ACDC) and score them beside the ladder (about a minute).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def demo(
    ctx: click.Context, model_name: str, out_dir: str, examples: int, seed: int, discover: bool, quiet: bool
) -> None:
    """The induction-heads study on the shipped 2-layer model (the main job; about two minutes on 2 CPU cores).

    \b
    1. proves the model has induction heads (repeated random tokens: loss on the
       second copy vs the first; previous-token and induction attention scores);
    2. scores a ladder of path-set hypotheses at good induction candidates of
       held-out text: the naive Olsson-style story, each refinement added alone,
       the best compact set, and the same claims as subgraphs;
    3. finds circuits instead of writing them: the path-level search
       (discover_paths) and ACDC, each on a few of these sequences, then scores
       them beside the ladder's best set on sequences no search saw;
    4. writes OUT/report.html (one self-contained page: tables, plots, circuit
       diagrams), report.md, report.json, study.json, proof.json and PNG plots.
    Hypotheses are written in the path language (see `pathpatch paths --help`).

    `pathpatch demo numbers` runs the paper's number study on numbers-4l instead, and
    `pathpatch demo tasks` the standard tasks (IOI, greater-than, ...) on tasks-4l.
    """
    if ctx.invoked_subcommand is not None:
        if model_name != "induction-2l":
            raise click.UsageError(
                f"pass --model after `{ctx.invoked_subcommand}`: `pathpatch demo {ctx.invoked_subcommand} --model ...`"
            )
        return
    from pathlib import Path

    from .induction.demo import run_demo

    model, heldout = None, None
    if model_name != "induction-2l":
        from .shipped import heldout_tokens
        from .zoo import load

        model, heldout = load(model_name), heldout_tokens(model_name)[0]
    proof, result = run_demo(
        out_dir, examples, seed, progress=not quiet, model=model, heldout=heldout, echo=click.echo, discover=discover
    )
    click.echo("")
    click.echo(str(result.report))
    click.echo(f"\nbest compact set = naive + top {result.best_k} refinements:")
    for pattern in result.best_patterns:
        click.echo(f"  {pattern}")
    discovered = Path(out_dir) / "discovery.json"
    if discover and discovered.is_file():  # written by run_demo's discovery step
        import json

        from .report import Report

        click.echo("\ndiscovered circuits beside the ladder's best set, on held-out sequences no search saw:")
        click.echo(str(Report.from_dict(json.loads(discovered.read_text())["report"])))
    click.echo(
        f"wrote {out_dir}/report.html (open it in a browser), report.md (with plots), report.json, "
        "study.json, proof.json"
        + (", discovery.json, discovery.md, circuit-{paths,acdc}.json/.png" if discover else "")
    )


@cli.group()
def train() -> None:
    """Train a shipped model from nothing, on this machine's CPU (seeded, no download).

    \b
    pathpatch train induction   the 2-layer attention-only model induction-2l
    pathpatch train numbers     the GPT-2-style counting model numbers-4l
    pathpatch train tasks       the GPT-2-style model of the standard tasks tasks-4l
    Copy the written directory into src/pathpatch/assets/NAME to ship it.
    """


@train.command(name="induction")
@click.option(
    "--out",
    "out_dir",
    default="results/induction-2l-model",
    show_default=True,
    help="Model directory to write (weights, config, tokenizer, held-out data, card).",
)
@click.option("--steps", default=10_000, show_default=True, type=click.IntRange(min=1), help="Optimiser steps.")
@click.option(
    "--d-model",
    default=256,
    show_default=True,
    type=click.IntRange(min=8),
    help="Residual width (8 heads; a multiple of 8).",
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the weights and the batches."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_induction(out_dir: str, steps: int, d_model: int, seed: int, quiet: bool) -> None:
    """Train the 2-layer attention-only induction model on the standard library's source (CPU).

    Reproduces the shipped `induction-2l` model with the defaults (56 minutes on 2 CPU cores);
    logs the induction probes every 500 steps.
    """
    from .induction.train import TrainConfig
    from .induction.train import train as run_training

    card = run_training(
        TrainConfig(d_model=d_model, steps=steps, seed=seed), out_dir, progress=not quiet, log=click.echo
    )
    click.echo(
        f"held-out loss {card['heldout_loss']:.3f} (uniform {card['uniform_loss']:.3f}); "
        f"{card['minutes']} minutes; wrote {out_dir}"
    )


@train.command(name="numbers")
@click.option(
    "--out",
    "out_dir",
    default="results/numbers-4l-model",
    show_default=True,
    help="Model directory to write (weights, config, tokenizer, held-out data, card).",
)
@click.option(
    "--steps", default=None, type=click.IntRange(min=1), help="Optimiser steps [default: the shipped recipe's]."
)
@click.option(
    "--d-model",
    default=None,
    type=click.IntRange(min=8),
    help="Residual width (8 heads, MLP 4x wide) [default: the shipped recipe's].",
)
@click.option(
    "--counting-docs",
    default=None,
    type=click.IntRange(min=10),
    help="Generated counting documents to sample from [default: the shipped recipe's].",
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the weights, text and batches."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_numbers(
    out_dir: str, steps: int | None, d_model: int | None, counting_docs: int | None, seed: int, quiet: bool
) -> None:
    """Train the GPT-2-style counting model on code plus counting text (CPU).

    \b
    Half of each batch is standard-library source, half is generated text
    in which numbers count ("12 13 14", "page 41, 42, 43", lists, dates,
    with steps of +1 mostly, also +2, +3, +5, +10, -1, and some numbers that
    do not count). The tokenizer makes " 0" .. " 199" single tokens.
    Reproduces the shipped `numbers-4l` model with the defaults (31 minutes
    on 2 CPU cores as `pathpatch --threads 2 train numbers`; without
    --threads it takes the cores idle at start); logs the accuracy on
    "<|endoftext|> s s+1 s+2" -> " s+3" every 500 steps.
    """
    from dataclasses import replace

    from .counting.train import NumbersConfig
    from .counting.train import train_numbers as run_training

    cfg = NumbersConfig(seed=seed)
    if steps is not None:
        cfg = replace(cfg, steps=steps)
    if d_model is not None:
        cfg = replace(cfg, d_model=d_model, d_mlp=4 * d_model)
    if counting_docs is not None:
        cfg = replace(cfg, counting_docs=counting_docs)
    card = run_training(cfg, out_dir, progress=not quiet, log=click.echo)
    click.echo(
        f"held-out loss: code {card['heldout_loss']['code']:.3f}, counting {card['heldout_loss']['counting']:.3f} "
        f"(uniform {card['uniform_loss']:.3f}); counting accuracy {card['accuracy']:.3f}; "
        f"{card['minutes']} minutes; wrote {out_dir}"
    )


from .counting.command import numbers as _numbers  # noqa: E402  (`pathpatch demo numbers`; imports no torch)
from .discovery.command import discover as _discover  # noqa: E402  (`pathpatch discover`; imports no torch)
from .paths_command import paths_cmd as _paths  # noqa: E402  (`pathpatch paths PATTERNS`; imports no torch)
from .render.command import report as _report  # noqa: E402  (`pathpatch report DIR`; imports no torch)
from .scan_command import scan as _scan  # noqa: E402  (`pathpatch scan KIND`; imports no torch)
from .study.command import reproduce as _reproduce  # noqa: E402  (`pathpatch reproduce DIR`; imports no torch)
from .study.command import run as _run  # noqa: E402  (`pathpatch run STUDY.toml`; imports no torch)
from .taskmodel.command import tasks_demo as _tasks_demo  # noqa: E402  (`pathpatch demo tasks`; imports no torch)
from .taskmodel.command import tasks_train as _tasks_train  # noqa: E402  (`pathpatch train tasks`)

demo.add_command(_numbers)
demo.add_command(_tasks_demo)
train.add_command(_tasks_train)
cli.add_command(_paths)
cli.add_command(_discover)
cli.add_command(_report)
cli.add_command(_scan)
cli.add_command(_run)
cli.add_command(_reproduce)


def main() -> None:
    """Entry point: typed pathpatch errors print as one clear message, exit code 2."""
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.exceptions.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except PathPatchError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
