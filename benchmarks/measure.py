"""Measuring: best-of-n wall time, peak memory, and the engine's limit.

**The limit** of an evaluation is the cost of the MIXED copies its plan needed: the copies are
counted per stage (and per full / target-rows width) and computed again as plain node
computations on ready inputs, stacked per stage the way the engine stacks them, without the
delta sums, the hash-consing, the bookkeeping or the reuse of cached attention patterns. An
engine near its limit spends its time on the copies the hypotheses require.

A plan's **cuts** (node, edge and receiver cuts, run as patched forwards: ``engine/cuts.py``)
have no MIXED copies; their limit is what their forwards compute, as plain node computations:
per cut, its receiver (an edge or receiver cut) and every node after its stage, each at the
positions from the cut's first changed position on (keys and values read at every position),
``out`` at the read rows; cuts of one stage and first position stacked. Their count is
:func:`pathpatch.engine.cuts.cut_values` (one per node and position computed; a receiver cut's
nodes count once each, at every position).

**Peak memory**: on CUDA, ``torch.cuda.max_memory_allocated``; on CPU, the peak resident set size
sampled every millisecond by a thread, above the resident size when the measurement starts.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch

from pathpatch.engine.cuts import cut_values
from pathpatch.engine.heads import Channel, Queries, head_copies
from pathpatch.engine.rows import TargetRows
from pathpatch.engine.schedule import narrow_copies
from pathpatch.graph import Node
from pathpatch.lang.nodecut import EdgeCut, NodeCut, ReceiverCut

__all__ = ["best_of", "PeakMemory", "limit_seconds"]


def best_of(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Smallest wall time of ``repeats`` calls (after none: warm up yourself if it matters)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakMemory:
    """``with PeakMemory(device) as m: ...`` then ``m.bytes``: the peak above the start."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.bytes = 0

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._start = torch.cuda.memory_allocated()
            return self
        self._start = self._peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss())
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.bytes = torch.cuda.max_memory_allocated() - self._start
            return
        self._stop.set()
        self._thread.join()
        self.bytes = max(self._peak, _rss()) - self._start


@torch.no_grad()
def limit_seconds(model, plan, clean, targets: torch.Tensor | None, repeats: int = 2) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds to compute ``plan``'s MIXED copies as plain node computations, and their number."""
    graph = model.graph
    rows = TargetRows.of(targets) if targets is not None else None
    narrow = narrow_copies(plan) if rows is not None else [False] * len(plan.copies)
    stages: dict[tuple[int, str, bool], list[Any]] = defaultdict(list)
    for flag, copy in zip(narrow, plan.copies):
        stages[(graph.stage_of(copy.node), copy.node.kind, flag)].append(copy.node)
    total = 0.0
    for (stage, kind, flag), nodes in stages.items():
        c = len(nodes)
        x = clean.stage_inputs[stage]
        wide = x[None].expand(c, -1, -1, -1).contiguous()
        narrow_x = rows.take(wide) if flag else None  # type: ignore[union-attr]
        if kind == "out":
            fn = lambda z=(narrow_x if flag else wide): model.unembed(z)
        elif kind == "mlp":
            fn = lambda z=(narrow_x if flag else wide), layer=nodes[0].layer: model.mlp(layer, z)
        else:
            heads = torch.tensor([n.head for n in nodes])
            layer = nodes[0].layer
            if flag:
                every = torch.arange(c)
                fn = lambda: head_copies(
                    model,
                    layer,
                    heads,
                    Channel(narrow_x, every, True),
                    Channel(wide, every, True),
                    Channel(wide, every, True),
                    [None] * c,
                    Queries(rows),
                )
            else:
                fn = lambda: model.heads(layer, heads, wide, wide, wide)
        fn()  # warm
        total += best_of(fn, repeats)
    cut_s, cut_n = _cut_limit(model, plan, clean, targets, repeats)
    return total + cut_s, len(plan.copies) + cut_n


def _cut_limit(model, plan, clean, targets, repeats: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """Seconds and values of the plan's cuts computed as plain node computations (module doc)."""
    if not plan.cuts:
        return 0.0, 0
    graph = model.graph
    n_pos = clean.stage_inputs[0].shape[1]
    groups: dict[tuple[int, int], list[Node]] = defaultdict(list)  # (stage, first position) -> receivers
    for cut in plan.cuts.values():
        if isinstance(cut, NodeCut) and cut.earliest is not None:
            groups[(cut.stage, cut.earliest)].append(Node("out"))  # no receiver of its own
        elif isinstance(cut, EdgeCut) and cut.earliest is not None:
            groups[(graph.stage_of(cut.receiver), cut.earliest)].append(cut.receiver)
        elif isinstance(cut, ReceiverCut):
            groups[(graph.stage_of(cut.receiver), 0)].append(cut.receiver)
    rows = None if targets is None else int(targets.sum(1).max())
    total = 0.0
    for (stage, first), receivers in groups.items():
        c, window = len(receivers), n_pos - first
        by_stage: dict[int, list[Node]] = defaultdict(list)
        for node in graph.nodes:
            if graph.stage_of(node) > stage:
                by_stage[graph.stage_of(node)].append(node)
        for node in {r for r in receivers if r.kind != "out"}:
            by_stage[stage].extend([node] * sum(1 for r in receivers if r == node))
        for s, nodes in by_stage.items():
            per = c if s > stage else 1  # the nodes after the cut once per cut; receivers as listed
            x = clean.stage_inputs[s]
            for kind in ("head", "mlp", "out"):
                chosen = [n for n in nodes if n.kind == kind]
                if not chosen:
                    continue
                k = per * len(chosen)
                q = x[None, :, first:].expand(k, -1, -1, -1).contiguous()  # the window's queries
                if kind == "head":
                    heads = torch.tensor([n.head for n in chosen] * per)
                    keys = x[None].expand(k, -1, -1, -1).contiguous()  # keys and values at every position
                    fn = lambda layer=chosen[0].layer, heads=heads, q=q, keys=keys: model.heads(
                        layer, heads, q, keys, keys
                    )
                elif kind == "mlp":
                    fn = lambda q=q, layer=chosen[0].layer: model.mlp(layer, q)
                else:
                    read = q if rows is None else q[:, :, -min(rows, window) :]
                    fn = lambda read=read: model.unembed(read)
                fn()  # warm
                total += best_of(fn, repeats)
    return total, sum(cut_values(graph, cut, n_pos) for cut in plan.cuts.values())
