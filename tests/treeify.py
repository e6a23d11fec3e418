"""Brute-force treeifier: the correctness oracle of DESIGN §6 (tests only).

It evaluates the tree literally: one copy of a node per path suffix, no memoisation, no hash-
consing, no caches beyond the plain forward values of the clean and the ablated run. Membership
of a path in the hypothesis is a Python set of path names, computed by the tests independently of
the package's automata. It never imports :mod:`pathpatch.engine` (planner, executor, caches).

Two shortcuts follow from the definition of the tree and keep it affordable on 3-4 layer models:
a copy none of whose paths (the paths through it, i.e. with its suffix) is in the set sees only
x_new, so it takes the ablated run's value; a copy all of whose paths are in the set sees only
x_ref, so it takes the clean run's value. "All" is decided by counting: the paths through a copy
of node v are as many as the paths from the inputs to v, whatever the suffix. Every other copy is
computed from its children, one copy per suffix. Exponential: tiny models only.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import Tensor

from pathpatch.graph import Graph, Node, Port
from pathpatch.model.residual import ResidualModel

__all__ = ["brute_force", "brute_force_positions", "plain_values", "ablated_values"]


def node_fn(model: ResidualModel, node: Node, inputs: list[Tensor]) -> Tensor:
    """A node's output from its channel inputs (one tensor per channel)."""
    if node.kind == "head":
        h = torch.tensor([node.head])
        return model.heads(node.layer, h, inputs[0][None], inputs[1][None], inputs[2][None])[0]
    if node.kind == "mlp":
        return model.mlp(node.layer, inputs[0])
    return model.unembed(inputs[0])


def input_value(model: ResidualModel, node: Node, tokens: Tensor) -> Tensor:
    return model.embed(tokens) if node.kind == "embed" else model.pos_embed(tokens)


def plain_values(model: ResidualModel, tokens: Tensor) -> dict[Node, Tensor]:
    """Every node's value in the ordinary run, node by node from the graph's edges."""
    graph = model.graph
    values: dict[Node, Tensor] = {}
    for node in graph.nodes:
        if node.is_input:
            values[node] = input_value(model, node, tokens)
            continue
        inputs = []
        for channel in node.channels:
            port = Port(node, channel)
            inputs.append(sum(values[u] for u in graph.senders(port)) + model.reader_bias(port))
        values[node] = node_fn(model, node, inputs)
    return values


def ablated_values(model: ResidualModel, ref: Tensor, new: Tensor | None, ablation: str) -> dict[Node, Tensor]:
    if ablation == "resample":
        return plain_values(model, new)
    if ablation == "mean":
        src = new if new is not None else ref
        per = [plain_values(model, src[i : i + 1]) for i in range(src.shape[0])]
        return {n: sum(p[n] for p in per) / len(per) for n in per[0]}
    return {n: torch.zeros(1, 1, model.config.d_model, dtype=model.dtype) for n in model.graph.nodes}


def _node_of(graph: Graph, token: str) -> str:
    """The node a path token belongs to: ``a0.1.k@2`` -> ``a0.1@2``, ``embed`` -> ``embed``."""
    name, at, t = token.partition("@")
    node = graph.node(name) if name in ("embed", "pos") else graph.port(name).node
    return node.name + at + t


def _through(graph: Graph, members: set[str]) -> Counter[tuple[str, tuple[str, ...]]]:
    """For every tree copy ``(node token, suffix tokens)``: how many member paths go through it."""
    counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
    node_of: dict[str, str] = {}
    for name in members:
        tokens = tuple(name.split(" -> "))
        for j, token in enumerate(tokens):
            if j and token not in node_of:
                node_of[token] = _node_of(graph, token)
            counts[(node_of[token] if j else token, tokens[j + 1 :])] += 1
    return counts


def _prefixes(graph: Graph) -> dict[Node, int]:
    """The number of paths from the inputs to each node."""
    counts: dict[Node, int] = {}
    for node in graph.nodes:
        counts[node] = (
            1 if node.is_input else sum(counts[u] for c in node.channels for u in graph.senders(Port(node, c)))
        )
    return counts


@torch.no_grad()
def brute_force(
    model: ResidualModel, members: set[str], ref: Tensor, new: Tensor | None, ablation: str = "resample"
) -> Tensor:
    """Logits of the literal tree with x_ref on the paths named in ``members``."""
    graph = model.graph
    abl = ablated_values(model, ref, new, ablation)
    clean = plain_values(model, ref)
    shape = (ref.shape[0], ref.shape[1], model.config.d_model)
    through, prefixes = _through(graph, members), _prefixes(graph)

    def rec(node: Node, suffix: tuple[str, ...]) -> Tensor:
        n = through[(node.name, suffix)]
        if node.kind != "out" and n == 0:
            return abl[node].expand(shape)
        if n == prefixes[node]:
            return clean[node]
        inputs = []
        for channel in node.channels:
            port = Port(node, channel)
            total = model.reader_bias(port).expand(shape)
            for sender in graph.senders(port):
                total = total + rec(sender, (port.name,) + suffix)
            inputs.append(total)
        return node_fn(model, node, inputs)

    return rec(Node("out"), ())


def _head_at(model: ResidualModel, node: Node, t: int, q: Tensor, ks: list[Tensor], vs: list[Tensor]) -> Tensor:
    """Head output at query position ``t`` from q at t and k/v at 0..t, via the whole-sequence
    node function (the causal mask hides the unused rows)."""
    b, d = q.shape
    seq = lambda rows: torch.stack(rows + [torch.zeros(b, d)] * (t + 1 - len(rows)), dim=1)
    q_seq = torch.stack([torch.zeros(b, d)] * t + [q], dim=1)
    return node_fn(model, node, [q_seq, seq(ks), seq(vs)])[:, t]


def _pos_prefixes(graph: Graph, n_pos: int) -> dict[tuple[Node, int], int]:
    """The number of position-resolved paths from the inputs to each node at each position."""
    counts: dict[tuple[Node, int], int] = {}
    for node in graph.nodes:
        for t in range(n_pos):
            counts[(node, t)] = (
                1
                if node.is_input
                else sum(
                    counts[(u, s)]
                    for c in node.channels
                    for s in graph.sender_positions(Port(node, c), t)
                    for u in graph.senders(Port(node, c))
                )
            )
    return counts


@torch.no_grad()
def brute_force_positions(
    model: ResidualModel, members: set[str], ref: Tensor, new: Tensor | None, ablation: str = "resample"
) -> Tensor:
    """Logits of the literal position-resolved tree: one copy per positioned path suffix.

    ``members`` holds position-resolved path names (``embed@0 -> a1.0.k@2 -> out@2``). A copy of
    a node at position t reads q (or its one input) at t and k / v at every position <= t.
    """
    graph = model.graph
    abl = ablated_values(model, ref, new, ablation)
    clean = plain_values(model, ref)
    n_pos = ref.shape[1]
    shape = (ref.shape[0], n_pos, model.config.d_model)
    through, prefixes = _through(graph, members), _pos_prefixes(graph, n_pos)

    def rec(node: Node, t: int, suffix: tuple[str, ...]) -> Tensor:
        n = through[(f"{node.name}@{t}", suffix)]
        if node.kind != "out" and n == 0:
            return abl[node].expand(shape)[:, t]
        if n == prefixes[(node, t)]:
            return clean[node][:, t]
        inputs: list[list[Tensor]] = []
        for channel in node.channels:
            port = Port(node, channel)
            here = (f"{port.name}@{t}",) + suffix
            per_position = []
            for u_t in graph.sender_positions(port, t):
                total = model.reader_bias(port).expand(shape[0], shape[2])
                for sender in graph.senders(port):
                    total = total + rec(sender, u_t, here)
                per_position.append(total)
            inputs.append(per_position)
        if node.kind == "head":
            return _head_at(model, node, t, inputs[0][0], inputs[1], inputs[2])
        return node_fn(model, node, [inputs[0][0]])

    return torch.stack([rec(Node("out"), t, ()) for t in range(n_pos)], dim=1)
