"""Ground-truth circuits from compiled RASP programs (tracr): tasks to score discovery against.

A tracr model's residual stream is a sum of labelled subspaces, so the edges a behaviour uses are
known from the weights (:func:`true_edges`):

1. **reads and writes.** A node *writes* the residual directions its output matrix reaches (``embed``:
   the columns of ``W_E``, a head: of ``W_O``, an MLP: of ``W_out``); a port *reads* the directions
   its input matrix sees (``W_Q``/``W_K``/``W_V`` of its head for q/k/v, ``W_in`` for an MLP,
   ``W_U`` restricted to the program's output columns for ``out``).
2. **what the pairs change.** An input node carries a difference on the directions where its
   output differs between x_ref and x_new somewhere in the pairs (``pos`` never does: both runs have
   the same positions; tracr's constant ``one`` and BOS directions never do either). An edge
   ``u -> v.c`` is *live* iff ``u`` carries a difference on a direction that ``v.c`` reads; a head or
   MLP carries a difference on all it writes iff one of its input edges is live.
3. **routes to the output.** The true edges are the live edges whose receiver reaches ``out`` by
   live edges: the edges of the circuit that carries the clean/corrupted difference to the output.

An edge outside this set carries either nothing the receiver reads, or the same value in both runs,
so patching it cannot change the output: ``subgraph(true_edges)`` explains all of it (the tests
check, through the engine, that it does and that removing any true edge changes the metric).

Tasks (:data:`PROGRAMS`, each compiled with ``causal=True``, BOS first, ``max_seq_len`` 5):

- ``frac_prevs``: the fraction of tokens so far equal to ``"x"`` (numerical; auto-circuit's tracr
  "xproportion" task): ``m0`` computes ``tokens == "x"``, head ``a1.0`` averages it over earlier
  positions. True edges ``embed -> m0``, ``m0 -> a1.0.v``, ``a1.0 -> out``.
- ``detect_ab``: whether the pattern ``a b`` ends at this position (categorical): ``m0`` computes
  ``tokens == "a"`` and ``tokens == "b"``, ``a1.0`` shifts the first by one position, ``m1`` takes the
  AND. True edges ``embed -> m0``, ``m0 -> a1.0.v``, ``m0 -> m1``, ``a1.0 -> m1``, ``m1 -> out``.
- ``hist``: how often the current token occurred so far (categorical; tracr's ``make_hist`` under a
  causal mask): ``a0.0`` attends from a token to its equals (its q and k read the tokens, its v only
  BOS), ``m0`` turns the attention weight into a count. True edges ``embed -> a0.0.q``,
  ``embed -> a0.0.k``, ``a0.0 -> m0``, ``m0 -> out``: the information enters through q and k only.

The metric (:func:`output_delta`) is the mean over target positions (every position after BOS) of
the L1 distance between the clean and the patched output columns. tracr is imported lazily.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from ..data import Dataset, Pairs
from ..errors import ArgumentError, InputError
from ..graph import Edge, Node, Port
from ..metrics import Delta, targets_only
from ..model.residual import ResidualModel
from ..model.tracr import from_tracr, n_outputs, require_tracr, tracr_decode, tracr_outputs, tracr_pairs, tracr_tokens

__all__ = [
    "PROGRAMS",
    "TracrProgram",
    "TracrTask",
    "tracr_task",
    "compile_program",
    "true_edges",
    "reads_writes",
    "output_delta",
]


@dataclass(frozen=True)
class TracrProgram:
    """A RASP program to compile: ``build(rasp, lib)`` returns its output SOp."""

    name: str
    build: Callable[[Any, Any], Any]
    vocab: tuple[str, ...]
    max_seq_len: int = 5
    doc: str = ""


PROGRAMS: dict[str, TracrProgram] = {
    p.name: p
    for p in (
        TracrProgram(
            "frac_prevs",
            lambda rasp, lib: lib.make_frac_prevs(rasp.tokens == "x"),
            ("w", "x", "y", "z"),
            doc="fraction of tokens so far equal to 'x'",
        ),
        TracrProgram(
            "detect_ab",
            lambda rasp, lib: lib.detect_pattern(rasp.tokens, "ab"),
            ("a", "b", "c"),
            doc="True where the pattern 'a b' ends",
        ),
        TracrProgram(
            "hist",
            lambda rasp, lib: lib.make_hist(),
            ("a", "b", "c"),
            doc="how often the current token occurred so far",
        ),
    )
}

BOS = "BOS"


@cache
def compile_program(name: str) -> Any:
    """The tracr ``AssembledTransformerModel`` of program ``name`` (compiled once per process)."""
    program = _program(name)
    require_tracr()
    from tracr.compiler import compiling, lib
    from tracr.rasp import rasp

    return compiling.compile_rasp_to_model(
        program.build(rasp, lib),
        vocab=set(program.vocab),
        max_seq_len=program.max_seq_len,
        compiler_bos=BOS,
        causal=True,
    )


def _program(name: str) -> TracrProgram:
    if name not in PROGRAMS:
        raise ArgumentError(f"unknown tracr task {name!r}; choose one of {', '.join(map(repr, PROGRAMS))}")
    return PROGRAMS[name]


def output_delta(compiled: Any) -> Delta:
    """δ(ref_logits, patched_logits, data) -> ``[batch]``: the mean over target positions of
    Σ_j |out_j(ref) − out_j(patched)| over the program's output columns (differentiable)."""
    n_out = n_outputs(compiled)

    def tracr_output_l1(
        ref: Float[Tensor, "batch pos vocab"], patched: Float[Tensor, "batch pos vocab"], data: Dataset
    ) -> Float[Tensor, " batch"]:
        mask = data.target_mask.to(ref.device).to(ref.dtype)
        dist = (ref[..., :n_out] - patched[..., :n_out]).abs().sum(-1)
        return ((dist * mask).sum(1) / mask.sum(1)).double()

    return targets_only(tracr_output_l1)


# ---------------------------------------------------------------- ground truth from the weights


def _nonzero(w: Tensor, dim: int) -> frozenset[int]:
    """Residual directions (indices along ``dim`` of ``w``, at least 2-D) where ``w`` has a nonzero entry."""
    other = [d for d in range(w.dim()) if d != dim % w.dim()]
    return frozenset((w.abs().amax(dim=other) > 0).nonzero().flatten().tolist())


def reads_writes(model: ResidualModel, n_out: int) -> tuple[dict[Node, frozenset[int]], dict[Port, frozenset[int]]]:
    """Residual directions each node writes and each port reads, from the nonzero weights of a
    :func:`~pathpatch.model.tracr.from_tracr` model (``n_out``: the output columns ``out`` reads)."""
    writes: dict[Node, frozenset[int]] = {}
    reads: dict[Port, frozenset[int]] = {}
    qkv = {"q": model.W_Q, "k": model.W_K, "v": model.W_V}
    for node in model.graph.nodes:
        if node.kind == "embed":
            writes[node] = _nonzero(model.W_E, 1)
        elif node.kind == "pos" and model.W_pos is not None:  # a pos node has its embedding
            writes[node] = _nonzero(model.W_pos, 1)
        elif node.kind == "head":
            writes[node] = _nonzero(model.W_O[node.layer, node.head], 1)
            for c, w in qkv.items():
                reads[Port(node, c)] = _nonzero(w[node.layer, node.head], 0)
        elif node.kind == "mlp":
            writes[node] = _nonzero(model.W_out[node.layer], 1)
            reads[Port(node)] = _nonzero(model.W_in[node.layer], 0)
        else:
            reads[Port(node)] = _nonzero(model.W_U[:, :n_out], 0)
    return writes, reads


def _flow(model: ResidualModel, pairs: Pairs, n_out: int) -> tuple[dict[Edge, frozenset[int]], set[Node]]:
    """Live edges with the directions through which each carries a difference, and the nodes that
    reach ``out`` by live edges (module docs, steps 2 and 3)."""
    writes, reads = reads_writes(model, n_out)
    graph = model.graph
    ref, new = pairs.ref.tokens.to(model.device), pairs.new_tokens.to(model.device)
    differs = {Node("embed"): _nonzero(model.embed(ref) - model.embed(new), 2) & writes[Node("embed")]}
    if graph.config.has_pos_node:
        differs[Node("pos")] = _nonzero(model.pos_embed(ref) - model.pos_embed(new), 2)
    live: dict[Edge, frozenset[int]] = {}
    for port in graph.ports:  # ports in topological order: every sender is settled before its readers
        for sender in graph.senders(port):
            carried = differs.get(sender, frozenset()) & reads[port]
            if carried:
                live[Edge(sender, port)] = carried
                if port.node.kind != "out":
                    differs[port.node] = writes[port.node]
    relevant = {Node("out")}
    for node in reversed(graph.nodes):
        if any(e.sender == node and e.receiver.node in relevant for e in live):
            relevant.add(node)
    return live, relevant


def true_edges(model: ResidualModel, pairs: Pairs, n_out: int) -> tuple[Edge, ...]:
    """The edges that carry the difference between ``pairs``' x_ref and x_new to the output of a
    :func:`~pathpatch.model.tracr.from_tracr` model, from its weights (module docs), in graph order;
    ``n_out``: the program's output columns (:func:`~pathpatch.model.tracr.n_outputs`)."""
    live, relevant = _flow(model, pairs, n_out)
    return tuple(e for e in model.graph.edges if e in live and e.receiver.node in relevant)


# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class TracrTask:
    """A compiled program with data and its true circuit.

    Attributes: ``name``; ``compiled`` (tracr's model); ``model`` (``from_tracr(compiled)``);
    ``pairs`` (clean/corrupted inputs whose outputs differ at some target position); ``delta``
    (:func:`output_delta`); ``true_edges`` (:func:`true_edges`, graph order); ``edge_labels``: per
    true edge, the residual directions (tracr's labels) through which it carries the difference.
    """

    name: str
    compiled: Any
    model: ResidualModel
    pairs: Pairs
    delta: Delta
    true_edges: tuple[Edge, ...]
    edge_labels: dict[Edge, tuple[str, ...]] = field(default_factory=dict)

    def outputs(self, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, "batch pos n_out"]:
        """The program's output columns of ``logits``."""
        return tracr_outputs(self.compiled, logits)

    def describe(self) -> str:
        """One line per true edge, with the residual directions it carries."""
        return "\n".join(f"{e.name}: {', '.join(self.edge_labels[e])}" for e in self.true_edges)


def _random_inputs(rng: random.Random, program: TracrProgram, n: int) -> list[list[str]]:
    return [[rng.choice(program.vocab) for _ in range(program.max_seq_len)] for _ in range(n)]


def _corrupt(
    model: ResidualModel,
    compiled: Any,
    program: TracrProgram,
    clean: list[list[str]],
    rng: random.Random,
    tries: int = 50,
) -> list[list[str]]:
    """For each clean input, a random input of the same length whose decoded output differs from
    the clean one at some position after BOS (drawn in rounds, one candidate per open example)."""
    with torch.no_grad():
        want = tracr_decode(compiled, model(tracr_tokens(compiled, clean)))
    found: list[list[str] | None] = [None] * len(clean)
    for _ in range(tries):
        todo = [i for i, f in enumerate(found) if f is None]
        if not todo:
            break
        cand = _random_inputs(rng, program, len(todo))
        with torch.no_grad():
            got = tracr_decode(compiled, model(tracr_tokens(compiled, cand)))
        for i, c, g in zip(todo, cand, got):
            if any(_differ(a, b) for a, b in zip(g[1:], want[i][1:])):
                found[i] = c
    if any(f is None for f in found):
        raise InputError(
            f"no corrupted input changes the output of task {program.name!r} for some clean inputs "
            f"after {tries} draws; this program's outputs hardly depend on its inputs"
        )
    return [f for f in found if f is not None]  # every one found (checked above)


def _differ(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) > 1e-3
    return bool(a != b)


def tracr_task(name: str, n_examples: int = 64, seed: int = 0) -> TracrTask:
    """The task ``name`` (a key of :data:`PROGRAMS`): ``n_examples`` random clean inputs of length
    ``max_seq_len``, each paired with a random corrupted input that changes its output; seeded."""
    program = _program(name)
    if isinstance(n_examples, bool) or not isinstance(n_examples, int) or n_examples < 1:
        raise ArgumentError(f"n_examples must be a positive int, got {n_examples!r}")
    compiled = compile_program(name)
    model = from_tracr(compiled)
    rng = random.Random(seed)
    clean = _random_inputs(rng, program, n_examples)
    corrupted = _corrupt(model, compiled, program, clean, rng)
    pairs = tracr_pairs(compiled, model, clean, corrupted)
    n_out = n_outputs(compiled)
    truth = true_edges(model, pairs, n_out)
    live, _ = _flow(model, pairs, n_out)
    labels = compiled.residual_labels
    edge_labels = {e: tuple(labels[i] for i in sorted(live[e])) for e in truth}
    return TracrTask(name, compiled, model, pairs, output_delta(compiled), truth, edge_labels)
