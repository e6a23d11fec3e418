"""``pathpatch demo``: the induction-heads study on the shipped model, end to end.

Loads ``induction-2l``, proves its induction heads (probes + heatmap), runs the hypothesis ladder of
:mod:`pathpatch.induction.study` on held-out text, and writes ``results/induction/``:
``proof.json``, ``head_scores.png``, ``study.json``, ``report.json`` (with each hypothesis as a spec
and as text, and the model's graph), ``proportion_explained.png``, ``refinements.png``, ``report.md``
and ``report.html`` (one self-contained page, circuit diagrams of the naive and best hypotheses).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..data import pair_derangement
from ..ladder import Ladder
from ..lang.hypothesis import Hypothesis, paths, subgraph
from ..lang.kept import kept_edges
from ..model.residual import ResidualModel
from ..render.bars import plot_gains as draw_gains
from ..render.bars import plot_report
from .probes import InductionProof, plot_head_scores, prove_induction
from .study import induction_dataset, naive_patterns, run_study

if TYPE_CHECKING:
    from ..discovery.induction import LadderComparison

__all__ = ["run_demo", "plot_gains", "markdown_report", "ladder_hypotheses"]


def _heads(names: list[str]) -> list[int]:
    return [int(n.split(".")[1]) for n in names]


def plot_gains(
    result: Ladder, path: Path, top: int = 15, prev: list[int] | None = None, ind: list[int] | None = None
) -> Path:
    """Bar chart: gain in proportion explained from adding each refinement to the naive set, with
    the refined set's interval (shifted by the naive set's value), and a key to the labels (I: the
    induction heads ``ind`` of layer 1, P: the previous-token heads ``prev`` of layer 0)."""
    rows = result.gains[:top]
    heads = (
        (f"I = a1.{_set(ind)} (the induction heads)" if ind else "I: the induction heads")
        + ", "
        + (f"P = a0.{_set(prev)} (the previous-token heads)" if prev else "P: the previous-token heads")
    )
    return draw_gains(
        {r["name"]: r["gain"] for r in rows},
        path,
        xlabel="gain in proportion explained over the naive set (bars: 95% interval)",
        title=f"Refinements of the naive induction hypothesis (top {len(rows)})",
        intervals={r["name"]: (r["low"], r["high"]) for r in rows if "low" in r and "high" in r},
        key=f"{heads}; I.q, I.k, I.v: their query, key and value inputs; 'a0.h -> I.q': the path "
        "embed -> a0.h -> I.q -> out added to the naive set; intervals: the refined set's, shifted by "
        "the naive set's value",
    )


def _set(heads: list[int]) -> str:
    return "{" + ",".join(map(str, heads)) + "}"


def ladder_hypotheses(model: ResidualModel, prev: list[int], ind: list[int], result: Ladder) -> dict[str, Hypothesis]:
    """The hypothesis of each row of the study's report, rebuilt from its patterns by row name
    (rows this does not know are left out; each rebuilt one must hold the row's path count)."""
    naive, best = naive_patterns(prev, ind), result.best_patterns
    groups = {g["name"]: g["patterns"] for g in result.gains}
    out: dict[str, Hypothesis] = {}
    for score in result.report:
        name = score.name
        if name.startswith("1 naive"):
            out[name] = paths(naive)
        elif name.startswith("2 naive + ") and name[len("2 naive + ") :] in groups:
            out[name] = paths(naive + groups[name[len("2 naive + ") :]])
        elif name.startswith("3 best compact"):
            out[name] = paths(best)
        elif name.startswith("4 ") and name.endswith("as a subgraph"):
            out[name] = subgraph(kept_edges(paths(naive if "naive" in name else best), model.graph))
    return {k: h for k, h in out.items() if h.count(model) == result.report[k].n_paths}


def markdown_report(proof: InductionProof, result: Ladder, info: dict[str, Any]) -> str:
    lines = [
        "# Induction heads in `induction-2l`, tested with path patching",
        "",
        f"Model: {info['model']}. Data: {info['examples']} held-out sequences, metric read at "
        f"{info['positions']} good induction candidates; x_new resampled from other held-out sequences "
        f"(seed {info['seed']}); δ = |Δ loss|. Runtime {info['seconds']} s.",
        "",
        "## The model has induction heads",
        "",
        proof.summary(),
        "",
        "![head scores](head_scores.png)",
        "",
        "## The ladder of hypotheses",
        "",
        result.report.to_markdown(),
        "",
        "![proportion explained](proportion_explained.png)",
        "",
        "## Refinements (each added alone to the naive set)",
        "",
        "| refinement | proportion explained | gain |",
        "|:---|---:|---:|",
    ]
    lines += [f"| {g['name']} | {g['proportion_explained']:.3f} | {g['gain']:+.3f} |" for g in result.gains]
    lines += [
        "",
        "![refinements](refinements.png)",
        "",
        "## Best compact path set",
        "",
        f"Naive plus the top {result.best_k} refinements:",
        "",
    ]
    lines += [f"- `{p}`" for p in result.best_patterns]
    lines += [
        "",
        "## Path sets vs subgraphs",
        "",
        f"The subgraph of the naive set's edges holds {result.subgraph_extra_paths['naive']} paths more "
        f"than the naive set; for the best compact set, {result.subgraph_extra_paths['best compact']} more. "
        "A subgraph keeps every path that can be assembled from its edges, so it can only explain as much "
        "or more; where the numbers differ, the extra paths carry part of the behaviour.",
        "",
    ]
    return "\n".join(lines)


def _write_discovery(found: LadderComparison, model: ResidualModel, out: Path) -> None:
    """discovery.json, the circuits (JSON) and their diagrams (PNG, SVG), and a Markdown table."""
    from ..render import draw

    (out / "discovery.json").write_text(json.dumps(found.to_dict(), indent=1) + "\n")
    rows = {s.name: s for s in found.report}
    for tag, circuit in (("paths", found.circuit), ("acdc", found.acdc)):
        if circuit is None:
            continue
        circuit.save(out / f"circuit-{tag}.json")
        row = next(s for name, s in rows.items() if name.lower().startswith(tag))
        draw(
            model,
            circuit,
            out / f"circuit-{tag}.png",
            title=f"{'path search' if tag == 'paths' else 'ACDC'}: {row.n_paths} paths, proportion explained "
            f"{row.metrics['proportion_explained']} on held-out sequences",
        )
    (out / "discovery.md").write_text(
        "# Discovered circuits beside the hand-built ladder (held-out sequences)\n\n"
        + found.report.to_markdown()
        + "\n"
    )


def run_demo(
    out_dir: str | Path = "results/induction",
    examples: int = 200,
    seed: int = 0,
    progress: bool = True,
    model: ResidualModel | None = None,
    heldout: torch.Tensor | None = None,
    n_boot: int = 1000,
    echo: Callable[[str], object] = print,
    discover: bool = True,
) -> tuple[InductionProof, Ladder]:
    """Run the study (on the shipped model unless ``model``/``heldout`` are given); write the files."""
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "induction-2l (shipped)"
    if model is None or heldout is None:
        from ..zoo import bundle

        b = bundle("induction-2l")
        model, heldout = model or b.model, heldout if heldout is not None else b.heldout
    else:
        name = "given model"
    echo(f"[1/4] proving induction heads on repeated random tokens ({name})")
    proof = prove_induction(model)
    (out / "proof.json").write_text(json.dumps(proof.to_dict(), indent=2) + "\n")
    plot_head_scores(proof, out / "head_scores.png")
    echo("      " + proof.summary())
    prev = _heads(proof.prev_token_heads) or [
        max(range(model.config.n_heads), key=lambda h: proof.prev_token_scores[0][h])
    ]
    ind = _heads(proof.induction_heads) or [
        max(range(model.config.n_heads), key=lambda h: proof.induction_scores[1][h])
    ]
    data = induction_dataset(heldout, examples, seed)
    pairs = pair_derangement(data, seed)
    echo(
        f"[2/4] scanning refinements on {len(data)} held-out sequences "
        f"({int(data.target_mask.sum())} induction candidates)"
    )
    result = run_study(model, pairs, prev, ind, n_boot=n_boot, seed=seed, progress=progress)
    if discover:
        from ..discovery.induction import compare_with_ladder

        echo(
            f"[3/4] discovering circuits (path search, ACDC) on {min(32, examples)} of these sequences; "
            f"scoring them beside the ladder on {examples} sequences no search saw"
        )
        found = compare_with_ladder(
            model,
            heldout,
            result.best_patterns,
            prev,
            ind,
            study_examples=examples,
            search_examples=min(32, examples),
            acdc_examples=min(16, examples),
            eval_examples=examples,
            seed=seed,
            n_boot=n_boot,
            progress=progress,
        )
        _write_discovery(found, model, out)
        summary = str(found)[len(str(found.report)) :].strip()  # the searches' costs; the table is printed last
        echo("      " + summary.replace("\n", "\n      "))
    echo("[4/4] writing reports")
    info = {
        "model": model.graph.describe(),
        "examples": len(data),
        "positions": int(data.target_mask.sum()),
        "seed": seed,
        "seconds": round(time.perf_counter() - start, 1),
    }
    from ..render import write_html, write_report_json

    hyps = ladder_hypotheses(model, prev, ind, result)
    main = [n for n in result.report.names if n.startswith(("1 ", "3 ")) and n in hyps]
    write_report_json(
        result.report,
        out / "report.json",
        model=model,
        hypotheses=hyps,
        diagrams=main,
        description=f"Induction heads in {name}, tested with path patching: {len(data)} held-out "
        f"sequences, the metric read at {info['positions']} good induction candidates, "
        f"x_new resampled from other held-out sequences, δ = |Δ loss|.",
    )
    (out / "study.json").write_text(
        json.dumps({"info": info, "proof": proof.to_dict(), **result.to_dict()}, indent=2) + "\n"
    )
    plot_report(
        result.report, out / "proportion_explained.png", title="Induction hypotheses: proportion of |Δ loss| explained"
    )
    plot_gains(result, out / "refinements.png", prev=prev, ind=ind)
    (out / "report.md").write_text(markdown_report(proof, result, info) + "\n")
    write_html(out)
    return proof, result
