"""The usual way, for comparison: edge patching with PyTorch forward hooks, one forward per hypothesis.

A hypothesis here is a set of kept edges (a subgraph; a single path and a sender→receiver patch
are subgraphs too: the edges of one path admit only that path, and "every path except those
through s→r.c" is every edge but that one). In the patched forward on x_ref, hooks record each
node's output and rebuild each reader's input from its senders: a kept edge carries the sender's
value in this forward, a removed edge its value in the x_new run (recorded once beforehand with
the same hooks). Inputs are ``ablated input + mask @ (value - ablated value)`` over a buffer of
node deltas filled as the forward goes (the trick auto-circuit uses), so the baseline is not a
strawman.

- Hugging Face GPT-2: hooks on ``wte``/``wpe`` (inputs), on each ``attn`` (its output is replaced by
  heads computed from their own q/k/v inputs with the module's weights; the module's own
  computation on the residual stream is discarded, which hooks cannot avoid), on ``ln_2`` (the
  MLP's input), on ``mlp`` (its output) and on ``ln_f`` (the unembedding's input).
- :class:`PlainAttnOnly`: the shipped induction model as a standard module with TransformerLens-
  style split q/k/v input hook points, where hooks replace those inputs and read ``hook_result``.

The node order, senders and reader biases come from pathpatch's graph (bookkeeping only); all
arithmetic is in the hooks and the source modules.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pathpatch.graph import Edge, Graph, Node, Port

__all__ = ["PlainAttnOnly", "HookPatcher", "hf_gpt2_patcher", "plain_patcher"]


class PlainAttnOnly(nn.Module):
    """An attention-only shortformer transformer, written the standard way, from a ResidualModel."""

    def __init__(self, model) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        cfg = model.config
        assert cfg.d_mlp is None and cfg.positions == "shortformer" and cfg.norm
        self.n_heads, self.scale = cfg.n_heads, cfg.scale
        self.embed = nn.Embedding.from_pretrained(model.W_E.detach().clone())
        self.pos = nn.Embedding.from_pretrained(model.W_pos.detach().clone())
        self.blocks = nn.ModuleList()
        for layer in range(cfg.n_layers):
            block = nn.Module()
            block.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.eps)
            block.ln1.weight.data, block.ln1.bias.data = model.ln1_w[layer].clone(), model.ln1_b[layer].clone()
            for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"):
                setattr(block, name, nn.Parameter(getattr(model, name)[layer].detach().clone(), requires_grad=False))
            for hook in ("hook_q_input", "hook_k_input", "hook_v_input", "hook_result"):
                setattr(block, hook, nn.Identity())
            self.blocks.append(block)
        self.hook_embed, self.hook_pos, self.hook_resid_final = nn.Identity(), nn.Identity(), nn.Identity()
        self.ln_final = nn.LayerNorm(cfg.d_model, eps=cfg.eps)
        self.ln_final.weight.data, self.ln_final.bias.data = model.lnf_w.clone(), model.lnf_b.clone()
        self.unembed = nn.Linear(cfg.d_model, cfg.d_vocab)
        self.unembed.weight.data, self.unembed.bias.data = model.W_U.T.clone(), model.b_U.clone()
        self.split = False

    def forward(self, tokens: Tensor) -> Tensor:
        b, p = tokens.shape
        resid = self.hook_embed(self.embed(tokens))
        pos = self.hook_pos(self.pos(torch.arange(p, device=tokens.device)).expand(b, p, -1))
        for block in self.blocks:
            qk = resid + pos
            if self.split:  # per-head inputs [b, p, head, d], as TransformerLens' use_split_qkv_input
                q_in = block.hook_q_input(qk[:, :, None].expand(-1, -1, self.n_heads, -1))
                k_in = block.hook_k_input(qk[:, :, None].expand(-1, -1, self.n_heads, -1))
                v_in = block.hook_v_input(resid[:, :, None].expand(-1, -1, self.n_heads, -1))
                q = torch.einsum("bphd,hde->bhpe", block.ln1(q_in), block.W_Q)
                k = torch.einsum("bphd,hde->bhpe", block.ln1(k_in), block.W_K)
                v = torch.einsum("bphd,hde->bhpe", block.ln1(v_in), block.W_V)
            else:
                x, y = block.ln1(qk), block.ln1(resid)
                q = torch.einsum("bpd,hde->bhpe", x, block.W_Q)
                k = torch.einsum("bpd,hde->bhpe", x, block.W_K)
                v = torch.einsum("bpd,hde->bhpe", y, block.W_V)
            q, k, v = q + block.b_Q[:, None], k + block.b_K[:, None], v + block.b_V[:, None]
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scale)
            result = block.hook_result(torch.einsum("bhpe,hed->bphd", z, block.W_O))
            resid = resid + result.sum(2) + block.b_O
        return self.unembed(self.ln_final(self.hook_resid_final(resid)))


class HookPatcher:
    """Per-port masks and the delta buffer shared by the hooks of one source model."""

    def __init__(self, model, graph: Graph) -> None:  # type: ignore[no-untyped-def]
        self.graph, self.model = graph, model
        self.nodes = [n for n in graph.nodes if n.kind != "out"]
        self.row = {n: i for i, n in enumerate(self.nodes)}
        cfg = model.config
        self.groups: dict[str, list[Port]] = {}  # "a{l}" -> [h0.q, h0.k, h0.v, h1.q, ...], "m{l}", "out"
        for layer in range(cfg.n_layers):
            self.groups[f"a{layer}"] = [Port(Node("head", layer, h), c) for h in range(cfg.n_heads) for c in "qkv"]
            if cfg.has_mlp:
                self.groups[f"m{layer}"] = [Port(Node("mlp", layer), None)]
        self.groups["out"] = [Port(Node("out"), None)]
        self.span = {
            g: 1 + max(self.row[s] for p in ports for s in graph.senders(p)) for g, ports in self.groups.items()
        }
        self.masks: dict[str, Tensor] = {}
        self.delta: Tensor | None = None
        self.ablated: Tensor | None = None  # [node b p d]
        self.base: dict[str, Tensor] = {}
        self.recording = False

    def set_edges(self, kept: Iterable[Edge]) -> None:
        kept = set(kept)
        for g, ports in self.groups.items():
            mask = torch.zeros(len(ports), self.span[g], dtype=self.model.dtype, device=self.model.device)
            for i, port in enumerate(ports):
                for s in self.graph.senders(port):
                    if Edge(s, port) in kept:
                        mask[i, self.row[s]] = 1.0
            self.masks[g] = mask

    def record(self, value: Tensor, node: Node) -> None:
        if self.recording:
            self.ablated[self.row[node]] = value  # type: ignore[index]
        else:
            self.delta[self.row[node]] = value - self.ablated[self.row[node]]  # type: ignore[index]

    def inputs(self, group: str) -> Tensor:
        """[port, b, p, d] patched inputs of a group's ports."""
        n = self.span[group]
        flat = self.delta[:n].flatten(1)  # type: ignore[index]
        base = self.base[group]
        return (base.flatten(1) + self.masks[group] @ flat).view(base.shape)

    def prepare(self, tokens_new: Tensor, forward) -> None:  # type: ignore[no-untyped-def]
        """Record the x_new run (every node's output) and the ablated input of every port."""
        b, p = tokens_new.shape
        self.ablated = torch.zeros(
            len(self.nodes), b, p, self.model.config.d_model, dtype=self.model.dtype, device=tokens_new.device
        )
        self.recording = True
        forward(tokens_new)
        self.recording = False
        self.delta = torch.zeros_like(self.ablated)
        for g, ports in self.groups.items():
            rows = []
            for port in ports:
                senders = [self.row[s] for s in self.graph.senders(port)]
                rows.append(self.ablated[senders].sum(0) + self.model.reader_bias(port))
            self.base[g] = torch.stack(rows)


def _ln(x: Tensor, ln: nn.Module) -> Tensor:
    return F.layer_norm(x, (x.shape[-1],), ln.weight, ln.bias, ln.eps)


def hf_gpt2_patcher(hf, model) -> tuple[HookPatcher, list]:  # type: ignore[no-untyped-def]
    """Hooks on a Hugging Face GPT2LMHeadModel; returns the patcher and the hook handles."""
    pt = HookPatcher(model, model.graph)
    tr, H = hf.transformer, model.config.n_heads
    d = model.config.d_model
    dh = d // H
    handles = [
        tr.wte.register_forward_hook(lambda m, i, o: pt.record(o, Node("embed"))),
        tr.wpe.register_forward_hook(lambda m, i, o: pt.record(o.expand(pt.ablated.shape[1:]), Node("pos"))),
    ]
    for layer, block in enumerate(tr.h):
        attn = block.attn
        w_q, w_k, w_v = (w.reshape(d, H, dh).permute(1, 0, 2) for w in attn.c_attn.weight.split(d, dim=1))
        b_q, b_k, b_v = (b.reshape(H, 1, 1, dh) for b in attn.c_attn.bias.split(d))
        w_o = attn.c_proj.weight.reshape(H, dh, d)

        def attn_hook(module, args, output, layer=layer, block=block, w=(w_q, w_k, w_v, w_o), bias=(b_q, b_k, b_v)):  # type: ignore[no-untyped-def]
            if pt.recording:  # x_new run: per-head outputs from the module's own (normalised) input
                qkv = [args[0][None].expand(H, -1, -1, -1)] * 3
            else:
                x = pt.inputs(f"a{layer}").view(H, 3, *output[0].shape)
                qkv = [_ln(x[:, c], block.ln_1) for c in range(3)]
            q, k, v = (torch.einsum("hbpd,hde->hbpe", t, wt) + bt for t, wt, bt in zip(qkv, w[:3], bias))
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=model.config.scale)  # [H b p e]
            heads = torch.einsum("hbpe,hed->hbpd", z, w[3])
            for h in range(H):
                pt.record(heads[h], Node("head", layer, h))
            return (heads.sum(0) + module.c_proj.bias,) + tuple(output[1:])

        handles.append(attn.register_forward_hook(attn_hook))
        handles.append(
            block.ln_2.register_forward_hook(
                lambda m, i, o, layer=layer: o if pt.recording else _ln(pt.inputs(f"m{layer}")[0], m)
            )
        )
        handles.append(block.mlp.register_forward_hook(lambda m, i, o, layer=layer: pt.record(o, Node("mlp", layer))))
    handles.append(tr.ln_f.register_forward_hook(lambda m, i, o: o if pt.recording else _ln(pt.inputs("out")[0], m)))
    return pt, handles


def plain_patcher(plain: PlainAttnOnly, model) -> tuple[HookPatcher, list]:  # type: ignore[no-untyped-def]
    """Hooks on :class:`PlainAttnOnly` (split q/k/v inputs switched on)."""
    pt = HookPatcher(model, model.graph)
    plain.split = True
    H = model.config.n_heads
    handles = [
        plain.hook_embed.register_forward_hook(lambda m, i, o: pt.record(o, Node("embed"))),
        plain.hook_pos.register_forward_hook(lambda m, i, o: pt.record(o, Node("pos"))),
    ]
    for layer, block in enumerate(plain.blocks):
        stash: dict[str, Tensor] = {}

        def channel(m, i, o, layer=layer, c=0, stash=stash):  # type: ignore[no-untyped-def]
            if pt.recording:
                return o
            if c == 0:
                stash["x"] = pt.inputs(f"a{layer}").view(H, 3, *o.shape[:2], o.shape[-1]).permute(1, 2, 3, 0, 4)
            return stash["x"][c]  # [b, p, head, d]

        for c, name in enumerate(("hook_q_input", "hook_k_input", "hook_v_input")):
            handles.append(getattr(block, name).register_forward_hook(lambda m, i, o, c=c, f=channel: f(m, i, o, c=c)))

        def result(m, i, o, layer=layer):  # type: ignore[no-untyped-def]
            for h in range(H):
                pt.record(o[:, :, h], Node("head", layer, h))

        handles.append(block.hook_result.register_forward_hook(result))
    handles.append(
        plain.hook_resid_final.register_forward_hook(lambda m, i, o: o if pt.recording else pt.inputs("out")[0])
    )
    return pt, handles
