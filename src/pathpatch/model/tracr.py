"""Adapter: a compiled tracr program (``pip install 'pathpatch[tracr]'``) as a :class:`ResidualModel`.

tracr (Lindner et al. 2023) compiles a RASP program into transformer weights whose residual stream
has one labelled direction per value (``tokens:x``, ``indices:2``, ``frac_prevs``, ``one``, ...), so
which component reads and writes what is known exactly: ground truth for circuit discovery
(:mod:`pathpatch.discovery.tracr_tasks`).

**Layer mapping.** tracr's transformer alternates blocks, ``layer_i/attn`` then ``layer_i/mlp``, each
adding to the residual stream, with no layer norm; pathpatch layer ``i`` is the same pair, run in the
same order (not parallel): tracr head ``h`` of ``layer_i/attn`` is node ``a{i}.{h}`` and
``layer_i/mlp`` is ``m{i}``. A block the compiler left unused holds zero weights and so is a node
that writes nothing. tracr's assembler already pads every layer to the same number of heads, the
same key size and the same MLP width with zeros (heads, columns, hidden units that contribute
nothing); :func:`from_tracr` copies that padding as it is and refuses shapes that are not uniform.

- ``token_embed`` → ``W_E`` (the ``embed`` node, which also writes tracr's constant ``one``
  direction), ``pos_embed`` → ``W_pos`` (the ``pos`` node, absolute positions);
- ``query/key/value`` ``[d_model, head·key_size]`` → ``W_Q/W_K/W_V [layer, head, d_model, d_head]``
  with their biases, ``linear`` → ``W_O`` and ``b_O``; attention scale ``1/sqrt(key_size)``;
- ``linear_1``/``linear_2`` → ``W_in``/``W_out`` with biases, ReLU;
- the unembedding (tracr's projection of the residual stream onto the output space) → ``W_U``.

**Causal only.** pathpatch masks attention to earlier positions, so the program must be compiled
with ``compile_rasp_to_model(..., causal=True)`` (and be one that works causally).

**Outputs.** pathpatch has one vocabulary size for inputs and outputs: ``d_vocab`` is the larger of
tracr's input vocabulary (its tokens with BOS and pad) and the output width; logits column ``j <
n_out`` is tracr's output ``j`` (for a categorical output the value ``output_encoder`` decodes
``j`` to; for a numerical output the single column 0), the remaining columns are 0.
``readout="residual"`` makes the logits the final residual stream itself (``W_U`` = identity), in
``compiled.residual_labels`` order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from ..data import Dataset, Pairs
from ..errors import ConfigError, InputError, ModelLoadError
from .config import ModelConfig
from .residual import ResidualModel

__all__ = [
    "from_tracr",
    "tracr_tokens",
    "tracr_pairs",
    "tracr_decode",
    "tracr_outputs",
    "n_outputs",
    "is_categorical",
    "require_tracr",
]

INSTALL = "pip install 'pathpatch[tracr]'"


def require_tracr() -> Any:
    """Import tracr, jax and haiku, or fail fast with how to install them; returns ``haiku``."""
    try:
        import haiku
        import jax  # noqa: F401
        import tracr  # noqa: F401
    except ImportError as err:
        raise ModelLoadError(
            f"tracr models need the optional packages tracr, jax and dm-haiku, which are not "
            f"installed ({err}); install them with: {INSTALL}"
        ) from None
    return haiku


def _check_compiled(compiled: Any) -> None:
    if type(compiled).__name__ != "AssembledTransformerModel" or not hasattr(compiled, "params"):
        raise ConfigError(
            f"from_tracr needs a tracr AssembledTransformerModel (from tracr.compiler.compiling."
            f"compile_rasp_to_model), got {type(compiled).__name__}"
        )
    cfg = compiled.model_config
    if not cfg.causal:
        raise ConfigError(
            "this tracr model attends to later positions (causal=False); pathpatch models are "
            "causal: compile it with compile_rasp_to_model(..., causal=True)"
        )
    if cfg.layer_norm:
        raise ConfigError(
            "tracr models with layer_norm=True are not supported (tracr's compiler never makes "
            "them); compile the program with tracr's default config"
        )
    import jax

    if cfg.activation_function is not jax.nn.relu:
        raise ConfigError(f"the tracr MLP activation must be jax.nn.relu, got {cfg.activation_function!r}")
    if compiled.input_encoder is None or compiled.output_encoder is None:
        raise ConfigError(
            "the tracr model has no input/output encoder; compile it with compile_rasp_to_model, which attaches both"
        )


def n_outputs(compiled: Any) -> int:
    """Width of the tracr model's output: the number of categorical values, or 1 if numerical."""
    enc = compiled.output_encoder
    return len(enc.encoding_map) if hasattr(enc, "encoding_map") else 1


def is_categorical(compiled: Any) -> bool:
    """Whether the program's output is categorical (decoded by argmax) rather than numerical."""
    return hasattr(compiled.output_encoder, "encoding_map")


def _unembedding(compiled: Any) -> Float[np.ndarray, "d_model n_out"]:
    """tracr's own unembedding matrix: its unembed module applied to the identity."""
    hk = require_tracr()
    import jax.numpy as jnp

    d_model = int(compiled.params["token_embed"]["embeddings"].shape[1])
    fn = hk.without_apply_rng(
        hk.transform(lambda x: compiled.get_compiled_model().unembed(x, use_unembed_argmax=False))
    )
    out = np.asarray(fn.apply({}, jnp.eye(d_model)), dtype=np.float64)
    return out.reshape(d_model, -1)


def _array(params: dict[str, Any], name: str, key: str) -> Tensor:
    if name not in params or key not in params[name]:
        raise ConfigError(f"the tracr model has no parameter {name}/{key}; is it a compile_rasp_to_model result?")
    return torch.from_numpy(np.asarray(params[name][key], dtype=np.float64))


def from_tracr(
    compiled: Any, readout: Literal["output", "residual"] = "output", dtype: torch.dtype = torch.float32
) -> ResidualModel:
    """The compiled tracr program ``compiled`` as a :class:`ResidualModel` (see the module docs for
    the mapping); ``compiled`` is not modified. ``readout="residual"``: the logits are the final
    residual stream instead of the program's output."""
    require_tracr()
    _check_compiled(compiled)
    if readout not in ("output", "residual"):
        raise InputError(f"readout must be 'output' or 'residual', got {readout!r}")
    cfg, params = compiled.model_config, compiled.params
    W_E, W_pos = _array(params, "token_embed", "embeddings"), _array(params, "pos_embed", "embeddings")
    d_model = W_E.shape[1]
    W_U = torch.eye(d_model, dtype=torch.float64) if readout == "residual" else torch.from_numpy(_unembedding(compiled))
    L, H, dh, dm = cfg.num_layers, cfg.num_heads, cfg.key_size, cfg.mlp_hidden_size
    config = ModelConfig(
        n_layers=L,
        n_heads=H,
        d_model=d_model,
        d_head=dh,
        d_vocab=max(W_E.shape[0], W_U.shape[1]),
        n_ctx=W_pos.shape[0],
        d_mlp=dm,
        positions="absolute",
        norm=False,
        act="relu",
        attn_scale=1.0 / math.sqrt(dh),
    )
    model = ResidualModel(config, dtype=torch.float64)
    with torch.no_grad():
        model.W_E[: W_E.shape[0]] = W_E
        assert model.W_pos is not None  # the config has a pos node
        model.W_pos.copy_(W_pos)
        model.W_U[:, : W_U.shape[1]] = W_U
        for i in range(L):
            at, mlp = f"transformer/layer_{i}/attn", f"transformer/layer_{i}/mlp"
            for key, W, b in (
                ("query", model.W_Q, model.b_Q),
                ("key", model.W_K, model.b_K),
                ("value", model.W_V, model.b_V),
            ):
                w = _array(params, f"{at}/{key}", "w")
                _check_shape(f"{at}/{key}", w, (d_model, H * dh))
                W[i] = w.reshape(d_model, H, dh).transpose(0, 1)
                b[i] = _array(params, f"{at}/{key}", "b").reshape(H, dh)
            w = _array(params, f"{at}/linear", "w")
            _check_shape(f"{at}/linear", w, (H * dh, d_model))
            model.W_O[i] = w.reshape(H, dh, d_model)
            model.b_O[i] = _array(params, f"{at}/linear", "b")
            w_in, w_out = _array(params, f"{mlp}/linear_1", "w"), _array(params, f"{mlp}/linear_2", "w")
            _check_shape(f"{mlp}/linear_1", w_in, (d_model, dm))
            _check_shape(f"{mlp}/linear_2", w_out, (dm, d_model))
            model.W_in[i], model.W_out[i] = w_in, w_out
            model.b_in[i] = _array(params, f"{mlp}/linear_1", "b")
            model.b_out[i] = _array(params, f"{mlp}/linear_2", "b")
    return model.to(dtype)


def _check_shape(name: str, t: Tensor, want: tuple[int, ...]) -> None:
    if tuple(t.shape) != want:
        raise ConfigError(
            f"tracr parameter {name} has shape {tuple(t.shape)}, expected {want} from the model's "
            "config (tracr pads every layer to the same heads, key size and MLP width); was it "
            "built by compile_rasp_to_model?"
        )


def tracr_tokens(compiled: Any, inputs: Sequence[Sequence[Any]]) -> Int[Tensor, "batch pos"]:
    """pathpatch token ids of tracr inputs, one sequence of RASP values per example.

    The compiler's BOS token is put first where a sequence lacks it (``["x", "y"]`` and
    ``[bos, "x", "y"]`` give the same ids); every sequence must then have the same length, at most
    ``max_seq_len + 1``. An unknown value is an :class:`InputError` naming it and the vocabulary.
    """
    require_tracr()
    enc = compiled.input_encoder
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence) or not inputs:
        raise InputError(
            "inputs must be a non-empty list of sequences of RASP values, one per example, "
            f"e.g. [['x', 'y'], ['y', 'x']]; got {inputs!r:.60}"
        )
    rows = []
    for seq in inputs:
        seq = list(seq)
        if not seq or seq[0] != enc.bos_token:
            seq = [enc.bos_token] + seq
        unknown = [v for v in seq if v not in enc.encoding_map]
        if unknown:
            raise InputError(
                f"input value {unknown[0]!r} is not in the tracr model's vocabulary "
                f"{sorted(map(str, enc.encoding_map))}"
            )
        rows.append([enc.encoding_map[v] for v in seq])
    lengths = sorted({len(r) for r in rows})
    if len(lengths) > 1:
        raise InputError(
            f"the sequences have different lengths {lengths} (BOS included); pathpatch batches "
            "need one length: group the inputs by length"
        )
    n_ctx = compiled.params["pos_embed"]["embeddings"].shape[0]
    if lengths[0] > n_ctx:
        raise InputError(
            f"sequences of {lengths[0]} tokens (BOS included) are longer than the tracr model's "
            f"max_seq_len + 1 = {n_ctx}; shorten them or compile with a larger max_seq_len"
        )
    return torch.tensor(rows, dtype=torch.long)


def tracr_outputs(compiled: Any, logits: Float[Tensor, "batch pos vocab"]) -> Float[Tensor, "batch pos n_out"]:
    """The program's output columns of a :func:`from_tracr` model's logits."""
    return logits[..., : n_outputs(compiled)]


def tracr_decode(compiled: Any, logits: Float[Tensor, "batch pos vocab"]) -> list[list[Any]]:
    """Decode logits as ``compiled.apply(...).decoded`` does: per example, the BOS token first, then
    the argmax value (categorical) or the number (numerical) at each later position."""
    out = tracr_outputs(compiled, logits).detach().cpu()
    bos = compiled.input_encoder.bos_token
    if is_categorical(compiled):
        values = [compiled.output_encoder.decode(row.argmax(-1).tolist()) for row in out]
    else:
        values = [row[:, 0].tolist() for row in out]
    return [[bos] + v[1:] for v in values]


def tracr_pairs(
    compiled: Any,
    model: ResidualModel,
    clean: Sequence[Sequence[Any]],
    corrupted: Sequence[Sequence[Any]],
    target_mask: Tensor | None = None,
) -> Pairs:
    """:class:`~pathpatch.Pairs` of tracr inputs: x_ref = ``clean[i]``, x_new = ``corrupted[i]`` (RASP
    values, BOS added where missing, see :func:`tracr_tokens`); ``model`` is ``from_tracr(compiled)``.

    ``target_mask`` (``Bool[Tensor, "batch pos"]``) defaults to every position after BOS. For a
    categorical output the target token at each position is the clean run's output (its logits
    column) and the distractor the corrupted run's, so ``delta="logit_diff"`` works; for a numerical
    output both are column 0.
    """
    ref, new = tracr_tokens(compiled, clean), tracr_tokens(compiled, corrupted)
    if ref.shape != new.shape:
        raise InputError(
            f"clean and corrupted inputs must have the same shape, got {tuple(ref.shape)} and "
            f"{tuple(new.shape)} (BOS included); pair each clean sequence with one of its length"
        )
    if target_mask is None:
        target_mask = torch.ones_like(ref, dtype=torch.bool)
        target_mask[:, 0] = False
        if ref.shape[1] == 1:
            raise InputError("the inputs hold only BOS; give each example at least one token")
    if is_categorical(compiled):
        with torch.no_grad():
            target = tracr_outputs(compiled, model(ref)).argmax(-1)
            distractor = tracr_outputs(compiled, model(new)).argmax(-1)
    else:
        target = distractor = torch.zeros_like(ref)
    data = Dataset(tokens=ref, target_mask=target_mask, target_tokens=target, distractor_tokens=distractor)
    return Pairs(ref=data, new_tokens=new)
