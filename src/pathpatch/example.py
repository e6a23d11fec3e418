"""The end-to-end example: a seeded random model, a dataset, a few hypotheses, a report.

It exercises every piece of the core (model, path language, engine, metrics, report, plot) in
seconds and without any download. ``pathpatch example`` runs it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from .data import Dataset, pair_derangement
from .engine.api import Engine
from .lang.hypothesis import Hypothesis, all_paths, no_paths, paths, subgraph, through
from .model.config import NativeConfig
from .model.native import native_model
from .model.residual import ResidualModel
from .render.bars import plot_report
from .report import Report
from .scoring import score

__all__ = ["EXAMPLE_CONFIG", "example_dataset", "example_hypotheses", "run_example"]

EXAMPLE_CONFIG = NativeConfig(
    n_layers=2,
    n_heads=4,
    d_model=64,
    d_head=16,
    d_vocab=64,
    n_ctx=32,
    d_mlp=128,
    positions="shortformer",
    seed=0,
    init_std=0.2,
)


def example_dataset(n: int, length: int = 24, vocab: int = 64, seed: int = 0) -> Dataset:
    """Random sequences whose second half repeats the first; loss measured on the second half."""
    gen = torch.Generator().manual_seed(seed)
    half = torch.randint(0, vocab, (n, length // 2), generator=gen)
    tokens = torch.cat([half, half], dim=1)
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[:, length // 2 : -1] = True
    return Dataset.next_token(tokens, mask)


def example_hypotheses(model: ResidualModel) -> dict[str, Hypothesis]:
    graph = model.graph
    keep = [e for e in graph.edges if not (e.receiver.channel == "k" and e.receiver.node.layer == 1)]
    return {
        "all paths": all_paths(),
        "no paths": no_paths(),
        "direct: embed -> out": paths("embed -> out"),
        "direct, MLPs and layer-1 heads via v": paths(["embed -> out", "embed -> a1.*.v -> out", "embed -> m* -> out"]),
        "all but through a1.*": ~through("a1.*"),
        "all but a0.0 -> a1.*.k": ~paths("a0.0 -> a1.*.k"),
        "subgraph: no edges into layer-1 k": subgraph(keep),
    }


def run_example(
    out_dir: str | Path = "results/example", n_examples: int = 256, seed: int = 0, progress: bool = True
) -> Report:
    """Run the example, print nothing, write ``report.json``, ``report.md``, a PNG and ``report.html``;
    return the report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = native_model(EXAMPLE_CONFIG)
    data = example_dataset(n_examples, seed=seed)
    pairs = pair_derangement(data, seed=seed)
    hyps = example_hypotheses(model)
    start = time.perf_counter()
    report = score(
        model,
        hyps,
        pairs,
        delta="kl",
        seed=seed,
        progress=progress,
        meta={"model": "random native 2L x 4H, MLPs, shortformer (seed 0)"},
    )
    elapsed = time.perf_counter() - start
    engine = Engine(model, hyps.values())
    engine.run(pairs.ref.tokens[:8], pairs.new_tokens[:8])
    stats = {
        "seconds": round(elapsed, 2),
        "paths_in_model": model.graph.count_paths(),
        "hypotheses": len(hyps),
        "mixed_copies_per_batch": engine.stats.mixed_copies,
        "nodes": len(model.graph.nodes),
    }
    report = Report(report.scores, {**report.meta, **stats})
    from .render import write_html, write_report_json

    write_report_json(
        report,
        out / "report.json",
        model=model,
        hypotheses=hyps,
        diagrams=list(hyps)[:2],
        description="Seven hypotheses about a seeded random model, scored with δ = KL at every position.",
    )
    (out / "report.md").write_text(report.to_markdown() + "\n")
    (out / "engine.json").write_text(json.dumps(stats, indent=2) + "\n")
    plot_report(report, out / "proportion_explained.png", title="Example: proportion of KL explained")
    write_html(out)
    return report
