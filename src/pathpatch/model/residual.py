"""The residual-graph model: a transformer stored as the node functions the engine needs.

Each graph node is a function of its own channel inputs (docs/design.md §5): a head of its q, k and v
inputs (each normalised on its own by the layer's first norm), an MLP and ``out`` of one input.
Adapters (native, Hugging Face, ...) only fill in the weights; this module owns the maths.

Constant terms that belong to no node (the attention output bias ``b_O``, shared by all heads of a
layer) are added to every later reader's input (:meth:`ResidualModel.reader_bias`); they are
identical in every run, so they never depend on the hypothesis.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor, nn

from ..errors import InputError, SequenceTooLongError, TokenOutOfRangeError
from ..graph import Graph, Port
from .config import ModelConfig

__all__ = ["ResidualModel", "per_head", "check_model"]


def per_head(
    x: Float[Tensor, "copy ... e"], w: Float[Tensor, "head e d"], heads: Int[Tensor, " copy"]
) -> Float[Tensor, "copy ... d"]:
    """``x[c] @ w[heads[c]]`` for every copy: with more copies than heads, one product per head
    (gathering a matrix per copy would copy the weights thousands of times)."""
    if len(heads) <= w.shape[0]:
        return torch.einsum("c...e,ced->c...d", x, w[heads])
    out = x.new_empty(*x.shape[:-1], w.shape[-1])
    for h in torch.unique(heads).tolist():
        chosen = (heads == h).nonzero().flatten()
        out[chosen] = x[chosen] @ w[h]
    return out


class ResidualModel(nn.Module):
    """A transformer in residual-graph form. Parameters are stacked over layers and heads.

    Shapes: ``W_Q/W_K/W_V [layer, head, d_model, d_head]``, ``W_O [layer, head, d_head, d_model]``,
    ``W_in [layer, d_model, d_mlp]``, ``W_out [layer, d_mlp, d_model]``, ``W_U [d_model, vocab]``.
    """

    W_pos: nn.Parameter | None  # None without a pos node (rotary, shortformer-free or no positions)
    native_config: ModelConfig | None = None  # a native model's config with its initialisation fields
    name: str | None = None  # where it came from: a shipped name, a directory's name, "native", a hub name

    def __init__(self, config: ModelConfig, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.config = config
        self.graph = Graph(config)
        L, H, d, dh, V = config.n_layers, config.n_heads, config.d_model, config.d_head, config.d_vocab
        KV = config.kv_heads

        def p(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.zeros(*shape, dtype=dtype), requires_grad=False)

        self.W_E = p(V, d)
        self.W_pos = p(config.n_ctx, d) if config.has_pos_node else None
        self.W_Q, self.W_K, self.W_V = p(L, H, d, dh), p(L, KV, d, dh), p(L, KV, d, dh)
        self.b_Q, self.b_K, self.b_V = p(L, H, dh), p(L, KV, dh), p(L, KV, dh)
        self.W_O, self.b_O = p(L, H, dh, d), p(L, d)
        self.W_U, self.b_U = p(d, V), p(V)
        if config.norm:
            self.ln1_w, self.ln1_b = nn.Parameter(torch.ones(L, d, dtype=dtype), False), p(L, d)
            self.lnf_w, self.lnf_b = nn.Parameter(torch.ones(d, dtype=dtype), False), p(d)
        if config.d_mlp is not None:
            dm = config.d_mlp
            self.W_in, self.b_in, self.W_out, self.b_out = p(L, d, dm), p(L, dm), p(L, dm, d), p(L, d)
            if config.gated:
                self.W_gate, self.b_gate = p(L, d, dm), p(L, dm)
            if config.norm:
                self.ln2_w, self.ln2_b = nn.Parameter(torch.ones(L, d, dtype=dtype), False), p(L, d)

    # ------------------------------------------------------------------ checks
    def __repr__(self) -> str:
        cfg = self.config
        return (
            f"ResidualModel({self.name or 'unnamed'!r}: {self.graph.describe()}, d_model={cfg.d_model}, "
            f"d_head={cfg.d_head}, d_vocab={cfg.d_vocab}, n_ctx={cfg.n_ctx}, {str(self.dtype).removeprefix('torch.')} "
            f"on {self.device})"
        )

    @property
    def device(self) -> torch.device:
        return self.W_E.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_E.dtype

    def placed(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> ResidualModel:
        """This model if it already lives on ``device`` in ``dtype`` (None: unchanged), else a copy
        moved there; the model itself is never changed."""
        try:
            device = torch.device(device) if device is not None else self.device
        except (RuntimeError, TypeError) as err:
            raise InputError(
                f"device={device!r} is not a device torch knows ({err}); use 'cpu', 'cuda' or 'cuda:N'"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("device='cuda' was asked for, but torch sees no CUDA device here; use device='cpu'")
        dtype = dtype or self.dtype
        if not dtype.is_floating_point:
            raise InputError(f"dtype must be a floating-point torch dtype (e.g. torch.bfloat16), got {dtype}")
        same_device = device.type == self.device.type and (device.index is None or device == self.device)
        if same_device and dtype == self.dtype:
            return self
        try:
            return copy.deepcopy(self).to(device=device, dtype=dtype)
        except RuntimeError as err:  # e.g. a backend torch was not built with, or a missing cuda:N
            raise InputError(f"cannot place the model on device {str(device)!r}: {err}; use device='cpu'") from err

    def check_tokens(self, tokens: Tensor, what: str = "tokens") -> Tensor:
        """Validate a ``[batch, pos]`` integer tensor of token ids; return it on the model's device."""
        if not isinstance(tokens, Tensor):
            tokens = torch.as_tensor(tokens)
        if tokens.dim() == 1:
            tokens = tokens[None]
        if tokens.dim() != 2 or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise InputError(f"{what} must be an integer tensor [batch, pos], got {tuple(tokens.shape)} {tokens.dtype}")
        if tokens.shape[0] == 0 or tokens.shape[1] == 0:
            raise InputError(f"{what} is empty: shape {tuple(tokens.shape)}")
        if tokens.shape[1] > self.config.n_ctx:
            raise SequenceTooLongError(
                f"{what} has sequences of length {tokens.shape[1]}, longer than the model's context "
                f"n_ctx={self.config.n_ctx}; truncate them to at most {self.config.n_ctx} tokens"
            )
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= self.config.d_vocab:
            bad = lo if lo < 0 else hi
            raise TokenOutOfRangeError(
                f"{what} holds token id {bad}, outside the model's vocabulary [0, {self.config.d_vocab}); "
                "check that the tokenizer matches the model"
            )
        return tokens.to(self.device, torch.long)

    # ------------------------------------------------------------------ node functions
    def embed(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """The ``embed`` node: each token's row of ``W_E`` (ids already checked, see :meth:`check_tokens`)."""
        return self.W_E[tokens]

    def pos_embed(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """The ``pos`` node: the learned position embedding of positions ``0..pos-1``, the same for
        every example (only models with absolute or shortformer positions have it)."""
        if self.W_pos is None:
            raise InputError(f"this model has {self.config.positions} positions and no pos node")
        return self.W_pos[: tokens.shape[1]].expand(tokens.shape[0], -1, -1)

    def reader_bias(self, port: Port) -> Float[Tensor, " d_model"]:
        """Constant added to ``port``'s summed input: ``b_O`` of every attention layer before it."""
        node = port.node
        if node.kind in ("head", "mlp"):
            assert node.layer is not None  # heads and MLPs always have a layer
            upto = node.layer + (1 if node.kind == "mlp" and not self.config.parallel else 0)
        else:
            upto = self.config.n_layers
        return self.b_O[:upto].sum(0)

    def _norm(self, x: Tensor, w: Tensor | None, b: Tensor | None) -> Tensor:
        if not self.config.norm:
            return x
        if self.config.norm_kind == "rmsnorm":
            assert w is not None and b is not None  # a model with norms has their weights
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.config.eps) * w + b
        return F.layer_norm(x, (x.shape[-1],), w, b, self.config.eps)

    def _kv(self, heads: Tensor) -> Tensor:
        """The key/value head of each query head (grouped-query attention)."""
        return heads // (self.config.n_heads // self.config.kv_heads)

    def _rotate(self, x: Float[Tensor, "... d_head"], positions: Tensor | None = None) -> Float[Tensor, "... d_head"]:
        """Rotary position embedding on the first ``rotary_dims`` dimensions (rotate-half form).

        ``positions`` broadcasts against ``x.shape[:-1]``; default: ``x`` is ``[..., pos, d_head]``
        at positions ``0..pos-1``.
        """
        rot = self.config.rotary_dims
        if positions is None:
            positions = torch.arange(x.shape[-2], device=x.device)
        inv = 1.0 / (self.config.rotary_base ** (torch.arange(0, rot, 2, dtype=torch.float32, device=x.device) / rot))
        angles = positions.to(torch.float32)[..., None] * inv
        emb = torch.cat([angles, angles], dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        x_rot, x_pass = x[..., :rot], x[..., rot:]
        half = rot // 2
        rotated = torch.cat([-x_rot[..., half:], x_rot[..., :half]], dim=-1)
        return torch.cat([x_rot * cos + rotated * sin, x_pass], dim=-1)

    def qkv(self, channel: str) -> tuple[Tensor, Tensor]:
        """Channel ``q``, ``k`` or ``v``'s weights ``[layer, head, d_model, d_head]`` and biases."""
        return {"q": (self.W_Q, self.b_Q), "k": (self.W_K, self.b_K), "v": (self.W_V, self.b_V)}[channel]

    def project(
        self, layer: int, channel: str, x: Float[Tensor, "copy ... d_model"], heads: Int[Tensor, " copy"]
    ) -> Float[Tensor, "copy ... d_head"]:
        """A channel's input normalised (ln1) and projected by each copy's head (``q``: the query
        head; ``k``/``v``: its key/value head), bias added. ``x`` may have one row for all copies."""
        w, b = (self.ln1_w[layer], self.ln1_b[layer]) if self.config.norm else (None, None)
        index = heads if channel == "q" else self._kv(heads)
        weight, bias = self.qkv(channel)
        x = self._norm(x, w, b).expand(len(heads), *x.shape[1:])
        out = torch.einsum("c...d,cde->c...e", x, weight[layer, index])
        return out + bias[layer, index].view(len(heads), *([1] * (out.dim() - 2)), -1)

    def attend(
        self,
        q: Float[Tensor, "copy batch qpos d_head"],
        k: Float[Tensor, "copy batch kpos d_head"],
        q_pos: Int[Tensor, "..."] | None = None,
    ) -> Float[Tensor, "copy batch qpos kpos"]:
        """Attention probabilities from projected queries and keys: the one place the engine and
        the model compute them. ``q_pos``: each query's position, broadcast against
        ``[copy, batch, qpos]`` (default: the last ``qpos`` of the ``kpos`` positions); keys sit at
        ``0..kpos-1``. Rotary embeddings use these positions; keys after a query are masked."""
        n_q, n_k = q.shape[-2], k.shape[-2]
        if q_pos is None:
            q_pos = torch.arange(n_k - n_q, n_k, device=q.device)
        if self.config.positions == "rotary":
            q, k = self._rotate(q, q_pos), self._rotate(k)
        scores = torch.einsum("cbqe,cbke->cbqk", q, k) * self.config.scale
        after = torch.arange(n_k, device=q.device) > q_pos[..., None]
        return scores.masked_fill(after, float("-inf")).softmax(-1)

    def write(
        self,
        layer: int,
        heads: Int[Tensor, " copy"],
        pattern: Float[Tensor, "copy batch qpos kpos"],
        v: Float[Tensor, "copy batch kpos d_head"],
    ) -> Float[Tensor, "copy batch qpos d_model"]:
        """Each head's write to the residual stream from its pattern and projected values."""
        return per_head(torch.einsum("cbqk,cbke->cbqe", pattern, v), self.W_O[layer], heads)

    def attn_pattern(
        self,
        layer: int,
        heads: Int[Tensor, " copy"],
        q_in: Float[Tensor, "copy batch qpos d_model"],
        k_in: Float[Tensor, "copy batch kpos d_model"],
    ) -> Float[Tensor, "copy batch qpos kpos"]:
        """Attention probabilities of the given heads (one per copy) from their q and k inputs."""
        return self.attend(self.project(layer, "q", q_in, heads), self.project(layer, "k", k_in, heads))

    def head_out(
        self,
        layer: int,
        heads: Int[Tensor, " copy"],
        pattern: Float[Tensor, "copy batch qpos kpos"],
        v_in: Float[Tensor, "copy batch kpos d_model"],
    ) -> Float[Tensor, "copy batch qpos d_model"]:
        """Each head's write to the residual stream, given its pattern and v input."""
        return self.write(layer, heads, pattern, self.project(layer, "v", v_in, heads))

    def heads(self, layer: int, heads: Tensor, q_in: Tensor, k_in: Tensor, v_in: Tensor) -> Tensor:
        """Head outputs ``[copy, batch, pos, d_model]`` from the three channel inputs."""
        return self.head_out(layer, heads, self.attn_pattern(layer, heads, q_in, k_in), v_in)

    def mlp(self, layer: int, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        """The MLP node ``m{layer}`` on its summed input ``x``: its own norm (ln2), then
        ``W_out(act(W_in h))`` (gated: ``W_out(act(W_gate h) * W_in h)``), with biases."""
        cfg = self.config
        h = self._norm(x, *((self.ln2_w[layer], self.ln2_b[layer]) if cfg.norm else (None, None)))
        pre = (h @ self.W_gate[layer] + self.b_gate[layer]) if cfg.gated else h @ self.W_in[layer] + self.b_in[layer]
        if cfg.act == "relu":
            act = F.relu(pre)
        elif cfg.act == "silu":
            act = F.silu(pre)
        else:
            act = F.gelu(pre, approximate="tanh" if cfg.act == "gelu_new" else "none")
        if cfg.gated:
            act = act * (h @ self.W_in[layer] + self.b_in[layer])
        return act @ self.W_out[layer] + self.b_out[layer]

    def unembed(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... vocab"]:
        """The ``out`` node on its summed input ``x``: the final norm, then ``W_U`` and ``b_U`` (logits)."""
        h = self._norm(x, *((self.lnf_w, self.lnf_b) if self.config.norm else (None, None)))
        return h @ self.W_U + self.b_U

    # ------------------------------------------------------------------ plain forward
    def forward(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos vocab"]:
        """The ordinary (untreeified) forward pass, fused for speed (differentiable when the
        parameters require grad). Equal to the node-by-node run; the tests check it."""
        tokens = self.check_tokens(tokens)
        cfg = self.config
        resid = self.embed(tokens)
        pos = self.pos_embed(tokens) if cfg.has_pos_node else None
        if pos is not None and cfg.positions == "absolute":
            resid = resid + pos
        kv = self._kv(torch.arange(cfg.n_heads, device=tokens.device))
        for layer in range(cfg.n_layers):
            w, b = (self.ln1_w[layer], self.ln1_b[layer]) if cfg.norm else (None, None)
            v_in = self._norm(resid, w, b)
            qk_in = self._norm(resid + pos, w, b) if pos is not None and cfg.positions == "shortformer" else v_in
            q = torch.einsum("bpd,hde->bhpe", qk_in, self.W_Q[layer]) + self.b_Q[layer][:, None]
            k = torch.einsum("bpd,hde->bhpe", qk_in, self.W_K[layer, kv]) + self.b_K[layer, kv][:, None]
            v = torch.einsum("bpd,hde->bhpe", v_in, self.W_V[layer, kv]) + self.b_V[layer, kv][:, None]
            if cfg.positions == "rotary":
                q, k = self._rotate(q), self._rotate(k)
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=cfg.scale)
            attn = torch.einsum("bhpe,hed->bpd", z, self.W_O[layer]) + self.b_O[layer]
            if cfg.has_mlp and cfg.parallel:
                resid = resid + attn + self.mlp(layer, resid)
            else:
                resid = resid + attn
                if cfg.has_mlp:
                    resid = resid + self.mlp(layer, resid)
        return self.unembed(resid)


def check_model(model: object, where: str) -> None:
    """``model`` must be a :class:`ResidualModel` (the check at the edge of every public function)."""
    if not isinstance(model, ResidualModel):
        hint = " (convert a Hugging Face model with pathpatch.from_hf)" if hasattr(model, "config") else ""
        raise TypeError(
            f"{where}: model must be a pathpatch ResidualModel (from pathpatch.load, native_model, "
            f"from_hf or from_transformer_lens), got {type(model).__name__}{hint}"
        )
