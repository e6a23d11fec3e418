"""Brute-force treeifier: the correctness oracle of DESIGN §6 (tests only).

It evaluates the tree literally: one copy of a node per path suffix, no memoisation, no hash-
consing, no caches beyond the plain forward values needed for mean/zero ablation. Membership of
a path in the hypothesis is a Python set of path names, computed by the tests independently of the
package's automata. Exponential: tiny models only.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pathpatch.graph import Node, Path, Port
from pathpatch.model.residual import ResidualModel


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


@torch.no_grad()
def brute_force(
    model: ResidualModel, members: set[str], ref: Tensor, new: Tensor | None, ablation: str = "resample"
) -> Tensor:
    """Logits of the literal tree with x_ref on the paths named in ``members``."""
    graph = model.graph
    abl = ablated_values(model, ref, new, ablation)
    shape = (ref.shape[0], ref.shape[1], model.config.d_model)

    def rec(node: Node, suffix: tuple[Port, ...]) -> tuple[Tensor, bool]:
        if node.is_input:
            inside = Path(node, suffix).name in members
            value = input_value(model, node, ref) if inside else abl[node].expand(shape)
            return value, not inside
        inputs, all_new = [], True
        for channel in node.channels:
            port = Port(node, channel)
            total = model.reader_bias(port).expand(shape)
            for sender in graph.senders(port):
                value, new_only = rec(sender, (port,) + suffix)
                total = total + value
                all_new = all_new and new_only
            inputs.append(total)
        if all_new and node.kind != "out":
            return abl[node].expand(shape), True
        return node_fn(model, node, inputs), all_new

    return rec(Node("out"), ())[0]


def _head_at(model: ResidualModel, node: Node, t: int, q: Tensor, ks: list[Tensor], vs: list[Tensor]) -> Tensor:
    """Head output at query position ``t`` from q at t and k/v at 0..t, via the whole-sequence
    node function (the causal mask hides the unused rows)."""
    b, d = q.shape
    seq = lambda rows: torch.stack(rows + [torch.zeros(b, d)] * (t + 1 - len(rows)), dim=1)  # noqa: E731
    q_seq = torch.stack([torch.zeros(b, d)] * t + [q], dim=1)
    return node_fn(model, node, [q_seq, seq(ks), seq(vs)])[:, t]


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
    n_pos = ref.shape[1]
    shape = (ref.shape[0], n_pos, model.config.d_model)
    clean_inputs = {n: input_value(model, n, ref) for n in graph.inputs}

    def rec(node: Node, t: int, suffix: tuple[str, ...]) -> tuple[Tensor, bool]:
        if node.is_input:
            inside = " -> ".join((f"{node.name}@{t}",) + suffix) in members
            value = clean_inputs[node][:, t] if inside else abl[node].expand(shape)[:, t]
            return value, not inside
        inputs: list[list[Tensor]] = []
        all_new = True
        for channel in node.channels:
            port = Port(node, channel)
            here = (f"{port.name}@{t}",) + suffix
            per_position = []
            for u_t in graph.sender_positions(port, t):
                total = model.reader_bias(port).expand(shape[0], shape[2])
                for sender in graph.senders(port):
                    value, new_only = rec(sender, u_t, here)
                    total = total + value
                    all_new = all_new and new_only
                per_position.append(total)
            inputs.append(per_position)
        if all_new and node.kind != "out":
            return abl[node].expand(shape)[:, t], True
        if node.kind == "head":
            return _head_at(model, node, t, inputs[0][0], inputs[1], inputs[2]), all_new
        return node_fn(model, node, [inputs[0][0]]), all_new

    return torch.stack([rec(Node("out"), t, ())[0] for t in range(n_pos)], dim=1)
