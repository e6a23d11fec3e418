"""Memory bounds: how many bytes one example costs an engine, and how to split work to fit.

The estimate counts the tensors an evaluation holds at its peak, per example of a batch: the two
cached runs, the delta tables (one vector per node and per MIXED copy, at every position or only
at the target rows), the largest stage's temporaries (channel inputs, attention patterns,
outputs) and the logits kept for every hypothesis. It is an estimate of the engine's tensors, not
of the process: Python, the model's weights and the allocator's slack come on top.

Work is split two ways so that ``examples × bytes per example <= max_memory``: over examples
(smaller batches), and over copies, by evaluating the hypotheses in groups whose plans are each
small enough for one example. Results are the same, up to float rounding, as without the bound.
Without a ``max_memory`` every entry point takes three quarters of the memory free on its device
(:func:`resolve_budget`), so a large scan is chunked, never killed.

On the CPU a pass is also kept to :data:`CPU_PASS_BYTES` (1 GiB by this estimate) where that only
means fewer examples per pass (:func:`pass_examples`; hypotheses are never split for it). Fresh
tensors of many GB cost the kernel a page fault per 4 KiB page on every pass, and that cost grew
with the batch: scoring the shipped model's 1,041 single paths on 32 examples (634 MB per example
by this estimate) took 39.5 s in batches of 27, 29.5 s in batches of 6 and 23.3 s one example at a
time, and 22.1 s in batches of 26 with glibc told to keep freed memory (so no faults). A GPU's
caching allocator reuses its blocks, so there the budget alone sets the batch. EAP's backward
passes keep their own batches: their estimate is of another kind, and one example per pass made
EAP on the GPT-2-small shape at 8 x 16 tokens 1.6-2.2x slower (its per-pass work is the graph's).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import torch

from ..errors import InputError
from ..graph import Node
from ..lang.pattern import PosContext
from ..model.residual import ResidualModel
from ..validate import is_auto, parse_bytes
from .copies import Plan
from .cuts import cut_bytes
from .schedule import narrow_copies


class Planned(Protocol):
    """What sizing needs of an engine (:class:`~pathpatch.engine.api.Engine`, which imports this
    module): its hypotheses, which of them name positions, their plans, and a subset of them."""

    @property
    def hypotheses(self) -> Sequence[object]: ...
    @property
    def free(self) -> Sequence[int]: ...
    @property
    def positional(self) -> Sequence[int]: ...
    def plan(self, both: frozenset[Node] = ...) -> Plan: ...
    def pos_plan(self, ctx: PosContext, both: frozenset[Node] = ..., at: tuple[int, ...] | None = ...) -> Plan: ...
    def subset(self: E, indices: Sequence[int]) -> E: ...


E = TypeVar("E", bound=Planned)

__all__ = [
    "free_memory",
    "resolve_budget",
    "example_bytes",
    "pass_examples",
    "Chunk",
    "chunk_work",
    "CPU_PASS_BYTES",
]

AUTO_SHARE = 0.75  # the share of free memory a call without max_memory may use (estimates run high)
CPU_PASS_BYTES = 1 << 30  # on the CPU, the estimated bytes of one pass, where fewer examples can do (module notes)


def free_memory(device: torch.device | str | None = None) -> int:
    """Bytes free for new tensors on ``device``: free device memory on CUDA (plus what PyTorch's
    allocator holds unused), available RAM on the CPU (``MemAvailable``, or total RAM where
    /proc/meminfo is missing)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if ":" in line}
        return info.get("MemAvailable", info.get("MemFree", 0))
    except OSError:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def resolve_budget(max_memory: int | float | str | None, device: torch.device | str | None = None) -> int:
    """``max_memory`` as bytes; None or ``"auto"``: three quarters of what is free on ``device`` now."""
    if max_memory is None or is_auto(max_memory):
        return max(1, int(AUTO_SHARE * free_memory(device)))
    return parse_bytes(max_memory)


def _cache_bytes(model: ResidualModel, n_pos: int) -> int:
    cfg = model.config
    nodes = len(model.graph.nodes) - 1
    stages = 2 * cfg.n_layers + 1
    return 2 * (
        (nodes + stages) * n_pos * cfg.d_model + cfg.n_layers * cfg.n_heads * n_pos * n_pos + n_pos * cfg.d_vocab
    )


def _free_bytes(model: ResidualModel, plan: Plan, n_pos: int, rows: int | None) -> int:
    cfg = model.config
    d, V = cfg.d_model, cfg.d_vocab
    narrow = narrow_copies(plan) if rows is not None else [False] * len(plan.copies)
    r = n_pos if rows is None else rows
    width = [r if flag else n_pos for flag in narrow]
    senders = len(model.graph.nodes) - 1
    tables = senders * n_pos * d + sum(w * d for w, c in zip(width, plan.copies) if c.node.kind != "out")
    if rows is not None and any(narrow):
        tables += senders * r * d  # the node deltas at the rows
    stage: dict[tuple[int, str], int] = {}
    for w, c in zip(width, plan.copies):
        key = (model.graph.stage_of(c.node), c.node.kind)
        if c.node.kind == "head":
            cost = 4 * n_pos * d + 2 * w * n_pos + 3 * n_pos * cfg.d_head
        elif c.node.kind == "mlp":
            cost = 2 * w * d + 2 * w * (cfg.d_mlp or 0)
        else:
            cost = 2 * w * d + w * V
        stage[key] = stage.get(key, 0) + cost
    logits = sum(w * V for w, c in zip(width, plan.copies) if c.node.kind == "out")
    if rows is not None:
        logits += 2 * r * V  # the two runs' logits at the rows, for hypotheses that equal one of them
    return tables + max(stage.values(), default=0) + logits + cut_bytes(model, len(plan.cuts), n_pos, n_pos, rows)


def _pos_bytes(model: ResidualModel, plan: Plan, n_pos: int, rows: int | None) -> int:
    cfg = model.config
    d = cfg.d_model
    senders = len(model.graph.nodes) - 1
    copies = len(plan.copies)
    outs = sum(1 for c in plan.copies if c.node.kind == "out")
    walked = (senders * n_pos + copies + len(plan.rows)) * d + 2 * copies * n_pos * d + outs * cfg.d_vocab
    return walked + cut_bytes(model, len(plan.cuts), n_pos, len(plan.at), rows)


def example_bytes(
    model: ResidualModel,
    engine: Planned,
    n_pos: int,
    rows: int | None,
    names: dict[str, int] | None = None,
    both: frozenset[Node] = frozenset(),
    at: tuple[int, ...] | None = None,
) -> int:
    """Bytes one example costs ``engine`` (an :class:`~pathpatch.engine.api.Engine`) with sequences
    of ``n_pos`` tokens; ``rows``: the most target rows of one example, or None for every position;
    ``both``: the inputs equal in the two runs and ``at``: the positions whose logits are read (so
    the plans made here are the ones the run uses)."""
    total = _cache_bytes(model, n_pos) + n_pos * model.config.d_vocab  # + the scorer's buffer
    if engine.free:
        total += _free_bytes(model, engine.plan(both), n_pos, rows)
    if engine.positional:
        at = None if rows is None else (at if at is not None else tuple(range(n_pos)))
        total += _pos_bytes(model, engine.pos_plan(PosContext.of(n_pos, names or {}), both, at), n_pos, rows)
    return total * model.dtype.itemsize


def pass_examples(need: int, max_memory: int, batch_size: int, device: torch.device) -> int:
    """Examples per pass when one example costs ``need`` bytes: at most ``batch_size``, within
    ``max_memory`` and, on the CPU, within :data:`CPU_PASS_BYTES`; at least one."""
    cap = min(max_memory, CPU_PASS_BYTES) if device.type == "cpu" else max_memory
    return max(1, min(batch_size, cap // need))


@dataclass(frozen=True)
class Chunk(Generic[E]):
    """Evaluate hypotheses ``indices`` together, ``batch_size`` examples at a time."""

    indices: tuple[int, ...]
    batch_size: int
    bytes_per_example: int
    engine: E  # the group's engine, planned while sizing it


def chunk_work(
    model: ResidualModel,
    engine: E,
    n_pos: int,
    rows: int | None,
    max_memory: int,
    batch_size: int,
    names: dict[str, int] | None = None,
    both: frozenset[Node] = frozenset(),
    at: tuple[int, ...] | None = None,
) -> list[Chunk[E]]:
    """Groups of ``engine``'s hypotheses and batch sizes within ``max_memory`` bytes (see module docs).

    ``engine`` (an :class:`~pathpatch.engine.api.Engine`) plans every hypothesis once; a group
    that does not fit one example is halved, and the halves' engines reuse its plans restricted to
    them (``Engine.subset``). A single hypothesis that does not fit is an error naming the bytes it
    needs.
    """
    everyone = tuple(range(len(engine.hypotheses)))
    todo: list[tuple[int, ...]] = [everyone]
    chunks: list[Chunk[E]] = []
    while todo:
        group = todo.pop(0)
        part = engine if group == everyone else engine.subset(group)
        need = example_bytes(model, part, n_pos, rows, names, both, at)
        if need <= max_memory:
            chunks.append(Chunk(group, pass_examples(need, max_memory, batch_size, model.device), need, part))
        elif len(group) > 1:
            half = len(group) // 2
            todo[:0] = [group[:half], group[half:]]
        else:
            raise InputError(
                f"max_memory={max_memory:,} bytes is below the {need:,} bytes one example of hypothesis "
                f"#{group[0]} needs; raise max_memory, or shorten the sequences"
            )
    return chunks
