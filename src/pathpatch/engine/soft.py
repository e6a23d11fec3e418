"""Differentiable subgraph evaluation: edge masks as real-valued tensors (for attribution and
learned circuits).

A subgraph hypothesis keeps some edges. Its tree has one copy per node that matters (docs/design.md §3),
whose input at a port is the ablated input plus, per sender, the kept senders' deltas:

    input(p) = ablated_input(p) + Σ_u mask[u -> p] · (value(u) − ablated_output(u))

With a 0/1 mask this is exactly the engine's subgraph evaluation; with real masks it interpolates
every edge between x_new (0) and x_ref (1), and gradients flow to the mask.

Under mean or zero ablation (``resample=False``) a copy whose subtree holds no x_ref leaf is the
node's ablated output (the mean, or zero), not the node applied to ablated inputs. The forward
keeps that exact at 0/1 masks with a smooth gate: ``value = f(x) + g · (ablated − f(x))`` with
``g = Π_u (1 − mask[u -> v] · r(u))`` over the node's input edges, where ``r = 1 − g`` says how
much x_ref a sender carries (1 for the inputs): ``g`` is 1 when no kept edge brings x_ref in. This is the forward
that edge attribution (EAP, EAP-IG) differentiates and that mask learning optimises.

Masks are indexed by :attr:`Graph.edges` (``mask[..., i]`` is edge ``graph.edges[i]``); a leading
axis evaluates several masks at once.

>>> masks = EdgeMasks(model.graph)                                     # doctest: +SKIP
>>> m = masks.of(kept_edges).requires_grad_()                          # [edge], 0/1
>>> logits = masked_forward(model, m, clean, ablated)                  # [batch, pos, vocab]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from jaxtyping import Float
from torch import Tensor

from ..errors import InputError, ShapeMismatchError
from ..graph import Edge, Graph, Node, Port
from ..model.residual import ResidualModel
from .cache import RunCache

__all__ = ["EdgeMasks", "masked_forward"]


@dataclass(frozen=True)
class _StagePorts:
    """The ports of one stage, and where their masks sit in the edge vector."""

    ports: tuple[Port, ...]
    rows: Tensor  # [entries] row (port of the stage) of each mask entry
    cols: Tensor  # [entries] column (sender index, in node order) of each mask entry
    edges: Tensor  # [entries] index into graph.edges


@dataclass(frozen=True)
class EdgeMasks:
    """Index bookkeeping between ``graph.edges`` and per-stage mask matrices."""

    graph: Graph
    stages: dict[int, _StagePorts] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        graph = self.graph
        sender_index = {n: i for i, n in enumerate(n for n in graph.nodes if n.kind != "out")}
        edge_index = {e: i for i, e in enumerate(graph.edges)}
        stages: dict[int, _StagePorts] = {}
        by_stage: dict[int, list[Port]] = {}
        for port in graph.ports:
            by_stage.setdefault(graph.stage_of(port.node), []).append(port)
        for stage, ports in sorted(by_stage.items()):
            rows, cols, edges = [], [], []
            for r, port in enumerate(ports):
                for u in graph.senders(port):
                    rows.append(r)
                    cols.append(sender_index[u])
                    edges.append(edge_index[Edge(u, port)])
            stages[stage] = _StagePorts(tuple(ports), torch.tensor(rows), torch.tensor(cols), torch.tensor(edges))
        object.__setattr__(self, "stages", stages)

    @property
    def n_edges(self) -> int:
        return len(self.graph.edges)

    def of(self, kept: Iterable[Edge | str], dtype: torch.dtype = torch.float32) -> Float[Tensor, " edge"]:
        """A 0/1 mask keeping ``kept`` (edges, or names like ``"a0.1 -> a1.0.k"``)."""
        index = {e: i for i, e in enumerate(self.graph.edges)}
        mask = torch.zeros(self.n_edges, dtype=dtype)
        for e in kept:
            edge = Edge.parse(e) if isinstance(e, str) else e
            if edge not in index:
                raise InputError(
                    f"{edge.name} is not an edge of this model ({self.graph.describe()}); "
                    "a sender must come before its receiver"
                )
            mask[index[edge]] = 1.0
        return mask

    def matrix(
        self, mask: Float[Tensor, "*masks edge"], stage: int, n_senders: int
    ) -> Float[Tensor, "*masks port sender"]:
        """The masks of ``stage``'s ports as a dense ``[port, sender]`` matrix (0 where no edge)."""
        s = self.stages[stage]
        lead = mask.shape[:-1]
        device = mask.device
        flat = (s.rows * n_senders + s.cols).to(device)
        out = mask.new_zeros(lead + (len(s.ports) * n_senders,)).index_copy(-1, flat, mask[..., s.edges.to(device)])
        return out.unflatten(-1, (len(s.ports), n_senders))


def masked_forward(
    model: ResidualModel,
    mask: Float[Tensor, "*masks edge"],
    clean: RunCache,
    ablated: RunCache,
    resample: bool = True,
    masks: EdgeMasks | None = None,
) -> Float[Tensor, "*masks batch pos vocab"]:
    """Logits of the subgraph forward with real-valued edge masks (differentiable in ``mask``).

    ``mask[..., i]`` weighs edge ``model.graph.edges[i]``: 1 is x_ref, 0 is x_new (or the mean /
    zero ablation of ``ablated``). At 0/1 masks this equals evaluating ``subgraph(kept edges)``.
    ``clean``/``ablated``: the runs of the batch (:func:`~pathpatch.engine.cache.run_cache`,
    :func:`~pathpatch.engine.api.ablated_cache`); ``resample``: False for mean or zero ablation
    (see the module's notes).
    """
    graph = model.graph
    masks = masks if masks is not None else EdgeMasks(graph)
    if mask.shape[-1] != masks.n_edges:
        raise ShapeMismatchError(
            f"mask has {mask.shape[-1]} entries on its last axis, but the model has "
            f"{masks.n_edges} edges (index them by model.graph.edges)"
        )
    if not mask.is_floating_point():
        raise InputError(f"mask must be a floating tensor (0 keeps x_new, 1 x_ref), got {mask.dtype}")
    lead = mask.shape[:-1]
    mask = mask.to(device=clean.device, dtype=clean.stage_inputs[0].dtype)
    senders = [n for n in graph.nodes if n.kind != "out"]
    deltas: list[Tensor] = []  # per sender in node order: its copy's value - its ablated output
    carries: list[Tensor] = []  # per sender: how much x_ref its copy carries (the gate's r)
    for node in graph.inputs:
        deltas.append((clean.outputs[node] - ablated.outputs[node]).expand(lead + clean.outputs[node].shape))
        carries.append(mask.new_ones(lead))
    done = len(deltas)
    for stage in sorted(masks.stages):
        s = masks.stages[stage]
        table = torch.stack(deltas[:done], dim=len(lead))  # [*masks, sender, batch, pos, d]
        weights = masks.matrix(mask, stage, len(senders))[..., :done]  # [*masks, port, sender]
        summed = torch.einsum("...rs,...sbpd->...rbpd", weights, table)
        parts = summed.unbind(len(lead))  # one backward op for all ports (indexing each would cost one each)
        inputs = {port: ablated.port_input(port, graph) + parts[r] for r, port in enumerate(s.ports)}
        if s.ports[0].node.kind == "out":
            return model.unembed(inputs[s.ports[0]])
        nodes = list(dict.fromkeys(p.node for p in s.ports))  # node order: heads, then the MLP
        heads = [n for n in nodes if n.kind == "head"]
        outputs = _head_outputs(model, heads, inputs, len(lead)) if heads else []
        outputs += [model.mlp(_layer(n), inputs[Port(n)]) for n in nodes if n.kind == "mlp"]
        if not resample:
            # [*masks, port]: 1 where no edge into the port brings x_ref in
            off = (1 - weights * torch.stack(carries, -1)[..., None, :]).prod(-1)
            port_of = {p: r for r, p in enumerate(s.ports)}
            for i, node in enumerate(nodes):
                gate = torch.stack([off[..., port_of[Port(node, c)]] for c in node.channels], -1).prod(-1)
                carries.append(1 - gate)
                gate = gate[(...,) + (None,) * 3]
                outputs[i] = outputs[i] + gate * (ablated.outputs[node] - outputs[i])
        for node, value in zip(nodes, outputs):
            deltas.append(value - ablated.outputs[node])
        done = len(deltas)
        assert senders[done - len(nodes) : done] == nodes
    raise AssertionError("the graph has no out stage")  # pragma: no cover


def _layer(node: Node) -> int:
    """The layer of a head or an MLP."""
    assert node.layer is not None
    return node.layer


def _head_outputs(model: ResidualModel, nodes: list[Node], inputs: dict[Port, Tensor], n_lead: int) -> list[Tensor]:
    """Outputs of one layer's heads from their q, k and v inputs (``[*masks, batch, pos, d]`` each)."""
    layer = nodes[0].layer
    assert layer is not None
    heads = torch.tensor([n.head for n in nodes], device=next(iter(inputs.values())).device)

    def stacked(channel: str) -> Tensor:  # [copy, (mask,) batch, pos, d] -> [copy * mask, batch, pos, d]
        x = torch.stack([inputs[Port(n, channel)] for n in nodes])
        return x.flatten(0, n_lead) if n_lead else x

    n_masks = 1
    for n in next(iter(inputs.values())).shape[:n_lead]:
        n_masks *= n
    per = heads.repeat_interleave(n_masks)
    out = model.heads(layer, per, stacked("q"), stacked("k"), stacked("v"))  # [copy * mask, batch, pos, d]
    out = out.unflatten(0, (len(nodes),) + tuple(next(iter(inputs.values())).shape[:n_lead]))
    return list(out.unbind(0))
