"""Cached runs: every node's output, every stage's residual input and every head's pattern.

The engine needs two of these per batch (docs/design.md §3, step 1): the clean run on x_ref (the value of
every all-REF copy) and the ablated run (the value of every all-NEW copy). The ablated run is:

- ``resample``: the clean run on x_new;
- ``mean``: every node outputs its dataset-mean activation (per position);
- ``zero``: every node outputs zero.

In every kind, a reader's ablated input is the sum of its senders' ablated outputs plus its
constant bias, and an ablated head pattern is computed from those inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..graph import Graph, Node, Port
from ..model.residual import ResidualModel

__all__ = ["RunCache", "run_cache", "mean_outputs"]


@dataclass
class RunCache:
    """One (clean or ablated) run of a batch, the values the engine reads. Its logits are computed
    when first read (a plan whose every root is MIXED never reads them)."""

    outputs: dict[Node, Float[Tensor, "batch pos d_model"]]  # inputs, heads and MLPs
    stage_inputs: dict[int, Float[Tensor, "batch pos d_model"]]  # residual read at each stage
    patterns: dict[int, Float[Tensor, "head batch qpos kpos"]]  # per layer
    unembed: Callable[[Tensor], Tensor]  # the model's unembedding, for the logits
    shortformer: bool
    _logits: Tensor | None = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        return self.stage_inputs[0].device

    @property
    def logits(self) -> Float[Tensor, "batch pos vocab"]:
        if self._logits is None:
            with torch.no_grad():
                self._logits = self.unembed(self.stage_inputs[max(self.stage_inputs)])
        return self._logits

    def select(self, rows: Tensor) -> RunCache:
        """The same run restricted to the examples ``rows``."""
        rows = rows.to(self.device)
        return RunCache(
            {n: v[rows] for n, v in self.outputs.items()},
            {s: v[rows] for s, v in self.stage_inputs.items()},
            {layer: p[:, rows] for layer, p in self.patterns.items()},
            self.unembed,
            self.shortformer,
            None if self._logits is None else self._logits[rows],
        )

    def port_input(self, port: Port, graph: Graph) -> Float[Tensor, "batch pos d_model"]:
        """The summed input a reader gets through ``port`` in this run."""
        x = self.stage_inputs[graph.stage_of(port.node)]
        if self.shortformer and Node("pos") in graph.sender_index(port):  # the graph decides who reads pos
            x = x + self.outputs[Node("pos")]
        return x


def _input_values(model: ResidualModel, tokens: Tensor) -> dict[Node, Tensor]:
    values = {Node("embed"): model.embed(tokens)}
    if model.config.has_pos_node:
        values[Node("pos")] = model.pos_embed(tokens)
    return values


@torch.no_grad()
def run_cache(
    model: ResidualModel,
    tokens: Int[Tensor, "batch pos"],
    fixed: dict[Node, Tensor] | None = None,
) -> RunCache:
    """Run ``model`` node by node; nodes in ``fixed`` output the given values instead."""
    cfg = model.config
    outputs = _input_values(model, tokens)
    if fixed:
        outputs.update({n: v.expand_as(outputs[Node("embed")]) for n, v in fixed.items() if n.is_input})
    resid = outputs[Node("embed")] + (outputs[Node("pos")] if cfg.positions == "absolute" else 0)
    stage_inputs: dict[int, Tensor] = {}
    patterns: dict[int, Tensor] = {}
    heads = torch.arange(cfg.n_heads, device=tokens.device)
    for layer in range(cfg.n_layers):
        stage_inputs[2 * layer] = resid
        qk = resid + outputs[Node("pos")] if cfg.positions == "shortformer" else resid
        patterns[layer] = model.attn_pattern(layer, heads, qk[None], qk[None])
        head_out = model.head_out(layer, heads, patterns[layer], resid[None])
        for h in range(cfg.n_heads):
            node = Node("head", layer, h)
            outputs[node] = fixed[node].expand_as(resid) if fixed and node in fixed else head_out[h]
            resid = resid + outputs[node]
        if cfg.has_mlp:
            node = Node("mlp", layer)
            if not cfg.parallel:
                resid = resid + model.b_O[layer]
                stage_inputs[2 * layer + 1] = resid
            read = stage_inputs[2 * layer + (0 if cfg.parallel else 1)]
            outputs[node] = fixed[node].expand_as(resid) if fixed and node in fixed else model.mlp(layer, read)
            resid = resid + outputs[node]
        if not cfg.has_mlp or cfg.parallel:
            resid = resid + model.b_O[layer]
    stage_inputs[2 * cfg.n_layers] = resid
    return RunCache(outputs, stage_inputs, patterns, model.unembed, cfg.positions == "shortformer")


@torch.no_grad()
def mean_outputs(
    model: ResidualModel, tokens: Int[Tensor, "batch pos"], batch_size: int = 64
) -> dict[Node, Float[Tensor, "1 pos d_model"]]:
    """Each node's clean output averaged over the examples of ``tokens`` (per position)."""
    sums: dict[Node, Tensor] = {}
    for start in range(0, tokens.shape[0], batch_size):
        cache = run_cache(model, tokens[start : start + batch_size])
        for node, value in cache.outputs.items():
            total = value.sum(0, keepdim=True)
            sums[node] = sums[node] + total if node in sums else total
    return {node: total / tokens.shape[0] for node, total in sums.items()}
