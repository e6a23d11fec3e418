"""``pathpatch discover``: find a circuit with ACDC, EAP, EAP-IG or the path-level search.

Runs on the shipped induction model (held-out text, induction candidates as targets) or on a
planted task whose true circuit is known (``--planted``: then the ROC area against the true edges
is printed too). Writes OUT/circuit.json (re-load with ``Circuit.load``), its diagram
OUT/circuit.png/.svg (edges weighted by their measured effect), OUT/report.html, and for the
attribution methods OUT/edge_scores.json and OUT/faithfulness.png, for planted tasks OUT/roc.png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..defaults import DEFAULT_DELTA, DELTA_NAMES

__all__ = ["discover"]

ALGORITHMS = ("acdc", "eap", "eap-ig", "paths")
PLANTED_TASKS = ("direct", "chain", "induction", "parallel", "mlp")  # = planted.PLANTED (tested), without torch


# the options that only some algorithms read: passing one to another algorithm is refused
ONLY_FOR = {
    "threshold": ("acdc",),
    "top": ("eap", "eap-ig"),
    "ig_steps": ("eap-ig",),
    "target": ("paths", "eap", "eap-ig"),
}


@click.command()
@click.argument("algorithm", type=click.Choice(ALGORITHMS))
@click.option(
    "--model",
    "model_name",
    default=None,
    help="A shipped model (induction-2l, numbers-4l) or a model directory with heldout.safetensors "
    "[default: induction-2l]; not with --planted.",
)
@click.option(
    "--planted",
    type=click.Choice(PLANTED_TASKS),
    default=None,
    help="Run on a planted task with a known circuit instead of the shipped induction model; prints "
    "the ROC area against the true edges (see pathpatch.discovery.planted).",
)
@click.option(
    "--threshold",
    default=0.01,
    show_default=True,
    type=click.FloatRange(min=0),
    help="acdc: drop an edge when removing it raises the metric by less than this.",
)
@click.option(
    "--top",
    default=None,
    type=click.IntRange(min=1),
    help="eap, eap-ig: the circuit is the TOP edges by attribution [default: the smallest number "
    "whose subgraph reaches --target on the faithfulness curve].",
)
@click.option("--ig-steps", default=5, show_default=True, type=click.IntRange(min=1), help="eap-ig: integration steps.")
@click.option(
    "--target",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="paths: stop when the path set explains this proportion; eap: the --top default.",
)
@click.option(
    "--delta",
    type=click.Choice(DELTA_NAMES),
    default=DEFAULT_DELTA,
    show_default=True,
    help="The metric compared with the clean run (logit_diff: against x_new's correct token).",
)
@click.option(
    "--examples",
    default=64,
    show_default=True,
    type=click.IntRange(min=2),
    help="Sequences to search on (the model's held-out text, or number prompts for numbers-4l).",
)
@click.option(
    "--batch-size", default=32, show_default=True, type=click.IntRange(min=1), help="Examples per engine pass."
)
@click.option(
    "--max-memory",
    default=None,
    help="Keep the engine's tensors under this size, e.g. '2GB' [default: a share of the free memory].",
)
@click.option(
    "--out", "out_dir", default="results/discover", show_default=True, help="Where to write circuit.json and plots."
)
@click.option(
    "--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the data, pairing and bootstrap."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def discover(
    ctx: click.Context,
    algorithm: str,
    model_name: str | None,
    planted: str | None,
    threshold: float,
    top: int | None,
    ig_steps: int,
    target: float,
    delta: str,
    examples: int,
    batch_size: int,
    max_memory: str | None,
    out_dir: str,
    seed: int,
    quiet: bool,
) -> None:
    """Find the circuit of a behaviour: the edges (acdc, eap, eap-ig) or the paths (paths) it runs through.

    \b
      pathpatch discover acdc --threshold 0.02      ACDC: exact edge patching, receiver by receiver
      pathpatch discover eap --top 40               edge attribution (one backward pass per batch)
      pathpatch discover eap-ig --ig-steps 5        EAP with integrated gradients
      pathpatch discover paths --target 0.9         grow a path set backwards from out
      pathpatch discover acdc --planted chain       on a planted circuit: prints the ROC area

    The result is scored with intervals (proportion explained, AUE, ...) and written to
    OUT/circuit.json; its hypothesis re-scores with `pathpatch.score` to the same numbers.
    """
    from ..validate import check_max_memory

    for name, algorithms in ONLY_FOR.items():
        if algorithm not in algorithms and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(
                f"{flag} is for `discover {'|'.join(algorithms)}` only; `discover {algorithm}` would ignore it"
            )
    if planted is not None and model_name is not None:
        raise click.UsageError("--model and --planted exclude each other: a planted task brings its own model")
    check_max_memory(max_memory)
    start = time.perf_counter()
    model, pairs, truth, what = _task(planted, model_name or "induction-2l", examples, seed)
    click.echo(
        f"[1/2] {algorithm} on {what}: {len(pairs)} examples, delta={delta}, "
        f"{len(model.graph.edges)} edges ({time.perf_counter() - start:.1f} s)"
    )
    kw: dict[str, Any] = dict(delta=delta, batch_size=batch_size, max_memory=max_memory, progress=not quiet)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = ["circuit.json"]
    edge_scores: dict[Any, float] | None = None
    if algorithm == "acdc":
        from .acdc import acdc

        circuit = acdc(model, pairs, threshold, seed=seed, **kw)
    elif algorithm == "paths":
        from .paths import discover_paths

        circuit = discover_paths(model, pairs, target=target, seed=seed, **kw)
    else:
        from ..render.curves import plot_faithfulness
        from .curves import faithfulness
        from .eap import eap

        scores = eap(model, pairs, ig_steps=ig_steps if algorithm == "eap-ig" else 0, **kw)
        scores.save(out / "edge_scores.json")
        curve = faithfulness(
            model, pairs, scores, delta=delta, batch_size=batch_size, max_memory=max_memory, progress=not quiet
        )
        plot_faithfulness({algorithm: curve}, out / "faithfulness.png")
        written += ["edge_scores.json", "faithfulness.png"]
        k = top if top is not None else curve.smallest_reaching(target)
        circuit = scores.top(k, model=model, pairs=pairs, seed=seed)
        edge_scores = {e: abs(v) for e, v in scores.as_dict().items()}  # ranked by |score|
        click.echo(f"      faithfulness curve: area {curve.area:.3f}; keeping the top {k} edges")
    from ..render import draw, write_html
    from ..render.runfiles import architecture

    data = {**circuit.to_dict(), "graph": architecture(model)}  # the graph lets `pathpatch report` redraw it
    (out / "circuit.json").write_text(json.dumps(data, indent=1) + "\n")
    draw(model, circuit, out / "circuit.png")
    written += ["circuit.png", "circuit.svg"]
    click.echo(f"[2/2] done ({time.perf_counter() - start:.1f} s)")
    click.echo(str(circuit))
    if circuit.patterns is not None:
        for p in circuit.patterns[:20]:
            click.echo(f"  {p}")
        if len(circuit.patterns) > 20:
            click.echo(f"  ... ({len(circuit.patterns)} patterns in circuit.json)")
    if truth is not None:
        from ..render.curves import plot_roc
        from .roc import roc_auc, roc_curve

        scores_for_roc = edge_scores if edge_scores is not None else {e: 1.0 for e in circuit.edges}
        auc = roc_auc(scores_for_roc, truth, model.graph.edges)
        found, true = set(circuit.edges), set(truth)
        held = f"{len(found & true)} of {len(true)} true edges, {len(found - true)} false"
        if edge_scores is not None:  # the ROC ranks every edge by |score|; the circuit is a cut of that ranking
            click.echo(
                f"ROC area against the planted circuit: {auc:.3f}, ranking all {len(model.graph.edges)} edges by "
                f"|score| (1.000: every true edge outranks every false one); the circuit, the top "
                f"{circuit.n_edges}, holds {held}"
            )
        else:
            click.echo(f"ROC area against the planted circuit: {auc:.3f} (found {held})")
        plot_roc({algorithm: roc_curve(scores_for_roc, truth, model.graph.edges)}, out / "roc.png")
        written.append("roc.png")
        (out / "roc.json").write_text(json.dumps({"algorithm": algorithm, "auc": auc}, indent=1) + "\n")
    write_html(out)
    written.append("report.html")
    click.echo(f"wrote {', '.join(str(out / w) for w in written)}")


def _task(planted: str | None, model_name: str, examples: int, seed: int) -> tuple[Any, Any, Any, str]:
    """(model, pairs, true edges or None, a description)."""
    if planted is not None:
        from .planted import planted as make

        task = make(planted, n=examples, seed=seed)
        return task.model, task.pairs, task.edges, f"the planted task {planted!r}"
    from ..shipped import model_and_pairs

    model, pairs, what = model_and_pairs(model_name, examples, seed)
    return model, pairs, None, what
