"""``pathpatch demo tasks`` and ``pathpatch train tasks`` (imports no torch until run)."""

from __future__ import annotations

import click

__all__ = ["tasks_demo", "tasks_train"]

_TASKS = ("ioi", "greater-than", "docstring", "agreement", "pronouns")


@click.command(name="tasks")
@click.option(
    "--model",
    "model_name",
    default="tasks-4l",
    show_default=True,
    help="The shipped tasks-4l, or a model directory with its tokenizer (a Hugging Face save_pretrained "
    "directory with tokenizer files, e.g. GPT-2 small; or one written by pathpatch.save_model with "
    "tokenizer.json). Nothing is downloaded.",
)
@click.option(
    "--tasks",
    "names",
    default=",".join(_TASKS),
    show_default=True,
    help="Comma-separated tasks to run.",
)
@click.option("--out", "out_dir", default="results/tasks", show_default=True, help="Where to write the results.")
@click.option(
    "--search-examples",
    default=48,
    show_default=True,
    type=click.IntRange(min=2),
    help="Validation-split pairs the circuits are found on.",
)
@click.option(
    "--test-examples",
    default=96,
    show_default=True,
    type=click.IntRange(min=2),
    help="Test-split pairs the proof and the held-out scores use.",
)
@click.option(
    "--threshold",
    default=0.01,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="ACDC's threshold as a fraction of the task's total effect on the search split.",
)
@click.option("--ig-steps", default=5, show_default=True, type=click.IntRange(min=1), help="EAP-IG's steps.")
@click.option(
    "--target",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="The path search's target, and where EAP's ranking is cut, on the search split.",
)
@click.option(
    "--max-steps",
    default=8,
    show_default=True,
    type=click.IntRange(min=3),
    help="The path search's engine calls at most (64 new items measured in each).",
)
@click.option("--batch-size", default=48, show_default=True, type=click.IntRange(min=1), help="Pairs per batch.")
@click.option(
    "--boot", "n_boot", default=1000, show_default=True, type=click.IntRange(min=20), help="Bootstrap resamples."
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the pairs and searches."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def tasks_demo(
    model_name: str,
    names: str,
    out_dir: str,
    search_examples: int,
    test_examples: int,
    threshold: float,
    ig_steps: int,
    target: float,
    max_steps: int,
    batch_size: int,
    n_boot: int,
    seed: int,
    quiet: bool,
) -> None:
    """The field's standard tasks: IOI, greater-than, docstring, agreement, pronouns.

    \b
    For each task, on the shipped tasks-4l (or --model DIR), it
    0. proves the behaviour: accuracy on the task's test split, whose names
       and templates the model never saw in training;
    1. finds circuits on the validation split with ACDC, EAP, EAP-IG and the
       path search, the task's own metric as delta (logit difference; for
       greater-than the probability of later years minus earlier ones);
    2. scores each on the test split: proportion explained with a 95%
       interval, and MIB's faithfulness curves with CPR and CMD;
    3. writes OUT/TASK/report.html (circuits, curves), task.json, circuit
       and MIB circuit files (mib-METHOD.json), and OUT/report.html.
    IOI also gets Wang et al.'s path-patching scans: direct paths of the
    heads at END, then senders into those heads' q, k and v at END, then
    senders into the heads found in the queries.
    """
    from pathlib import Path

    from ..counting.load import load_with_tokenizer
    from .demo import TaskDemoSettings, run_tasks_demo

    chosen = [t.strip() for t in names.split(",") if t.strip()]
    bad = [t for t in chosen if t not in _TASKS]
    if bad or not chosen:
        raise click.BadParameter(f"unknown tasks {bad}; choose from {', '.join(_TASKS)}", param_hint="--tasks")
    model, tokenizer = load_with_tokenizer(model_name)
    settings = TaskDemoSettings(
        search_examples=search_examples,
        test_examples=test_examples,
        threshold=threshold,
        ig_steps=ig_steps,
        target=target,
        path_steps=max_steps,
        batch_size=batch_size,
        n_boot=n_boot,
        seed=seed,
    )
    results = run_tasks_demo(model, tokenizer, out_dir, chosen, settings, click.echo, not quiet, model_name)
    click.echo("")
    click.echo(
        f"{'task':<14}{'accuracy':>9}  "
        + "  ".join(f"{m + ' PE/CPR/CMD':>24}" for m in ("acdc", "eap", "eap-ig", "paths"))
    )
    for task, data in results.items():
        cells = [
            f"{r['heldout']['value']:.2f}/{r['cpr']:.2f}/{r['cmd']:.2f} ({r['edges']})"
            for r in data["methods"].values()
        ]
        click.echo(f"{task:<14}{data['proof']['accuracy']:>9.3f}  " + "  ".join(f"{c:>24}" for c in cells))
    click.echo(f"wrote {Path(out_dir) / 'report.html'} and a page per task ({', '.join(results)})")


@click.command(name="tasks")
@click.option(
    "--out",
    "out_dir",
    default="results/tasks-4l-model",
    show_default=True,
    help="Model directory to write (weights, config, tokenizer, held-out code, card).",
)
@click.option(
    "--steps", default=None, type=click.IntRange(min=1), help="Optimiser steps [default: the shipped recipe's]."
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the weights, text and batches."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def tasks_train(out_dir: str, steps: int | None, seed: int, quiet: bool) -> None:
    """Train the GPT-2-style model of the standard tasks on code plus task text (CPU).

    \b
    85% of each batch is generated text of the five tasks' *train* splits
    (names, nouns, argument names and templates of the validation and test
    splits never appear in a task example) and background sentences that
    give every name's gender and every noun's number; 15% is standard-
    library source. The tokenizer makes every task word one token.
    Reproduces the shipped `tasks-4l` with the defaults (the card records
    the minutes, as `pathpatch --threads 2 train tasks`); logs each task's
    validation accuracy every 500 steps, and the card its test accuracy.
    """
    from dataclasses import replace

    from .train import TasksConfig, train_tasks

    cfg = TasksConfig(seed=seed)
    if steps is not None:
        cfg = replace(cfg, steps=steps)
    card = train_tasks(cfg, out_dir, progress=not quiet, log=click.echo)
    accuracy = ", ".join(f"{t} {a:.3f}" for t, a in card["accuracy"].items())
    click.echo(f"test accuracy: {accuracy}; {card['minutes']} minutes; wrote {out_dir}")
