"""Bad inputs: each is a typed error whose message says what went wrong; none yields NaN."""

from __future__ import annotations

import pytest
import torch

import pathpatch as pp
from conftest import tiny_model
from tolerance import REDUCTION, close


@pytest.fixture(scope="module")
def model() -> pp.ResidualModel:
    return tiny_model("shortformer", 12)


def _tok(*shape: int) -> torch.Tensor:
    return torch.randint(0, 11, shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    "pattern,token,column,message",
    [
        ("embed -> a0.x -> out", "a0.x", 9, "not a path element"),
        ("embed -> -> out", "->", 6, "missing element next to an arrow"),
        ("", "", 0, "empty pattern"),
        ("a0.0 -> embed", "embed", 8, "an input node can only start a path"),
        ("embed -> out -> a1.0.q", "out", 9, "'out' can only end a path"),
        ("a0.0.x", "a0.0.x", 0, "not a path element"),
        ("a{1-0}.0", "1-0", 0, "empty range"),
        ("a{}.0", "{}", 0, "empty set"),
        ("m{1,x}", "x", 0, "a set holds numbers or ranges"),
    ],
)
def test_malformed_patterns(pattern: str, token: str, column: int, message: str) -> None:
    with pytest.raises(pp.PatternError, match=message) as info:
        pp.paths(pattern)
    assert info.value.token == token
    assert info.value.column == column
    assert f"at column {column}" in str(info.value)


def test_unknown_node_names_close_matches(model: pp.ResidualModel) -> None:
    with pytest.raises(pp.UnknownNodeError, match=r"no node or port 'a2.0' in this model") as info:
        pp.paths("embed -> a2.0 -> out").count(model)
    assert info.value.column == 9
    assert "a1.0" in info.value.suggestions
    with pytest.raises(pp.UnknownNodeError, match="did you mean"):
        pp.evaluate(model, pp.paths("a0.7.q"), _tok(2, 4), _tok(2, 4))


def test_unknown_channel_and_missing_nodes() -> None:
    attn_only = tiny_model("absolute", None)
    with pytest.raises(pp.UnknownNodeError, match="'m0'"):
        pp.through("m0").count(attn_only)
    with pytest.raises(pp.PatternError, match="add .q, .k or .v"):
        pp.through_edge("embed", "a1.0")
    with pytest.raises(pp.PatternError, match="a channel is q, k or v"):
        pp.paths("a1.0.{q,z}")
    with pytest.raises(pp.PatternError, match="no edge a1.0 -> a0.0.q in this model .*a sender must come before"):
        pp.subgraph(["a1.0 -> a0.0.q"]).count(attn_only)
    with pytest.raises(pp.UnknownNodeError, match="'m1'"):
        pp.subgraph(["a0.0 -> m1"]).count(attn_only)


def test_shape_mismatch(model: pp.ResidualModel) -> None:
    with pytest.raises(pp.ShapeMismatchError, match=r"ref_tokens \(2, 4\) and new_tokens \(2, 5\) differ"):
        pp.evaluate(model, pp.all_paths(), _tok(2, 4), _tok(2, 5))


def test_token_out_of_vocabulary(model: pp.ResidualModel) -> None:
    bad = _tok(2, 4)
    bad[1, 2] = 11
    with pytest.raises(pp.TokenOutOfRangeError, match=r"new_tokens holds token id 11, outside .* \[0, 11\)"):
        pp.evaluate(model, pp.all_paths(), _tok(2, 4), bad)
    with pytest.raises(pp.TokenOutOfRangeError, match="token id -1"):
        pp.evaluate(model, pp.all_paths(), torch.full((1, 3), -1), _tok(1, 3))


def test_sequence_longer_than_context(model: pp.ResidualModel) -> None:
    with pytest.raises(pp.SequenceTooLongError, match=r"length 7, longer than the model's context n_ctx=6"):
        pp.evaluate(model, pp.all_paths(), _tok(1, 7), _tok(1, 7))


def test_bad_token_tensors(model: pp.ResidualModel) -> None:
    with pytest.raises(pp.InputError, match="integer tensor"):
        pp.evaluate(model, pp.all_paths(), torch.zeros(2, 3), _tok(2, 3))
    with pytest.raises(pp.InputError, match="is empty"):
        pp.evaluate(model, pp.all_paths(), torch.zeros(0, 3, dtype=torch.long), _tok(2, 3))
    with pytest.raises(pp.InputError, match="needs new_tokens"):
        pp.evaluate(model, pp.all_paths(), _tok(2, 3))
    with pytest.raises(pp.InputError, match="ablation must be"):
        pp.evaluate(model, pp.all_paths(), _tok(2, 3), _tok(2, 3), ablation="gaussian")  # type: ignore[arg-type]


def test_empty_dataset() -> None:
    with pytest.raises(pp.EmptyDatasetError):
        pp.Dataset.next_token(torch.zeros(0, 5, dtype=torch.long))
    with pytest.raises(pp.InputError, match="derangement needs"):
        pp.pair_derangement(pp.Dataset.next_token(_tok(1, 5)))


def test_mean_ablation_length_mismatch(model: pp.ResidualModel) -> None:
    from pathpatch.engine.api import ablated_cache
    from pathpatch.engine.cache import mean_outputs

    means = mean_outputs(model, _tok(3, 5))
    with pytest.raises(pp.ShapeMismatchError, match="mean activations are for sequences of length 5"):
        ablated_cache(model, _tok(2, 4), None, "mean", means)


def test_no_nan_on_extreme_but_valid_inputs(model: pp.ResidualModel) -> None:
    """Single-token sequences and identical ref/new give finite, exact answers."""
    one = _tok(3, 1)
    out = pp.evaluate(model, pp.paths("embed -> a1.0.v -> out"), one, one)
    assert torch.isfinite(out).all()
    close(out, model(one), steps=REDUCTION)


def test_hypotheses_reject_non_hypotheses() -> None:
    with pytest.raises(TypeError, match="wrap patterns in paths"):
        pp.all_paths() | "embed -> out"  # type: ignore[operator]
    with pytest.raises(TypeError, match="expected Hypothesis objects"):
        pp.Engine(tiny_model(), ["embed -> out"])  # type: ignore[list-item]


# ---------------------------------------------------------------- the PathPatchError family

# every error class of pathpatch.errors, with the builtin exceptions it must also be
FAMILY = {
    "PathPatchError": (Exception,),
    "PatternError": (ValueError,),
    "UnknownNodeError": (pp.PatternError, KeyError, ValueError),
    "InputError": (ValueError,),
    "ShapeMismatchError": (pp.InputError, ValueError),
    "TokenOutOfRangeError": (pp.InputError, ValueError),
    "SequenceTooLongError": (pp.InputError, ValueError),
    "EmptyDatasetError": (pp.InputError, ValueError),
    "ConfigError": (ValueError,),
    "ModelLoadError": (OSError,),
    "ArgumentError": (pp.InputError, ValueError),
    "DeviceError": (pp.ArgumentError, pp.InputError),
    "EmptyPathSetError": (pp.PatternError, ValueError),
    "StudyFileError": (pp.InputError, ValueError),
    "ReproductionError": (Exception,),
    "CircuitFileError": (pp.InputError, ValueError),
    "ModelMismatchError": (pp.InputError, ValueError),
    "WorkerLostError": (RuntimeError,),
}


def test_error_hierarchy() -> None:
    import inspect

    import pathpatch.errors as errors

    classes = {
        n
        for n, c in inspect.getmembers(errors, inspect.isclass)
        if issubclass(c, BaseException) and not issubclass(c, Warning)
    }
    assert classes == set(FAMILY), "a new error class needs an entry in FAMILY"
    assert set(FAMILY) <= set(pp.__all__) and set(FAMILY) <= set(errors.__all__)
    for name, bases in FAMILY.items():
        cls = getattr(errors, name)
        assert getattr(pp, name) is cls
        assert issubclass(cls, pp.PathPatchError), name
        for base in bases:
            assert issubclass(cls, base), (name, base)
    # the siblings stay apart: catching one kind never catches another
    assert not issubclass(pp.ConfigError, pp.InputError) and not issubclass(pp.InputError, pp.PatternError)
    assert not issubclass(pp.ModelLoadError, ValueError) and not issubclass(pp.PatternError, pp.InputError)


def test_pattern_error_message_points_at_the_token() -> None:
    with pytest.raises(pp.PatternError) as info:
        pp.paths("embed -> a0.x -> out")
    lines = str(info.value).split("\n")
    assert lines[0].startswith("not a path element (expected embed, pos, out, aL.H[.q|k|v], mL")
    assert lines[0].endswith("(token 'a0.x' at column 9)")
    assert lines[1:] == ["  embed -> a0.x -> out", "  " + " " * 9 + "^^^^"]
    assert info.value.pattern == "embed -> a0.x -> out" and info.value.suggestions == []


def test_unknown_node_error_is_a_key_error_with_a_readable_message(model: pp.ResidualModel) -> None:
    with pytest.raises(KeyError) as info:  # caught as the builtin it also is
        pp.through("a0.9").count(model)
    assert isinstance(info.value, pp.UnknownNodeError)
    assert str(info.value).startswith("no node or port 'a0.9' in this model")  # not KeyError's repr()


def test_empty_dataset_messages() -> None:
    with pytest.raises(pp.EmptyDatasetError, match=r"the dataset has no examples \(tokens has shape"):
        pp.Dataset.next_token(torch.zeros(0, 5, dtype=torch.long))
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 1] = True
    with pytest.raises(pp.EmptyDatasetError, match="example 1 has no target position"):
        pp.Dataset.next_token(_tok(2, 5), mask)


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"n_layers": 0}, "n_layers must be a positive int, got 0"),
        ({"d_mlp": -3}, r"d_mlp must be a positive int or None \(attention-only\), got -3"),
        ({"positions": "learned"}, "positions must be 'absolute', 'shortformer', 'rotary' or 'none', got 'learned'"),
        ({"act": "tanh"}, "act must be 'gelu', 'gelu_new', 'relu' or 'silu', got 'tanh'"),
        ({"norm_kind": "batchnorm"}, "norm_kind must be 'layernorm' or 'rmsnorm', got 'batchnorm'"),
        ({"n_kv_heads": 3}, "n_kv_heads=3 must divide n_heads=2"),
        ({"rotary_dim": 3}, r"rotary_dim=3 must be even and in \(0, d_head=4\]"),
    ],
)
def test_config_errors(kw: dict, message: str) -> None:  # type: ignore[type-arg]
    base = dict(n_layers=1, n_heads=2, d_model=8, d_head=4, d_vocab=11, n_ctx=6)
    with pytest.raises(pp.ConfigError, match=message):
        pp.ModelConfig(**{**base, **kw})


def test_config_errors_of_public_constructors() -> None:
    with pytest.raises(pp.ConfigError, match=r"unknown config keys \['n_layer'\]; expected some of"):
        pp.ModelConfig.from_dict({"n_layer": 2})
    cfg = pp.ModelConfig(n_layers=1, n_heads=2, d_model=8, d_head=4, d_vocab=11, n_ctx=6)
    with pytest.raises(pp.ConfigError, match="native_model needs a NativeConfig, got ModelConfig"):
        pp.native_model(cfg)  # type: ignore[arg-type]


def test_model_load_errors(tmp_path, model: pp.ResidualModel) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(pp.ModelLoadError, match=r"no shipped model 'induction-2x'.*did you mean 'induction-2l'"):
        pp.load("induction-2x")
    with pytest.raises(pp.ModelLoadError, match="is not a pathpatch model directory: .*it needs"):
        pp.load_model_dir(tmp_path)
    directory = pp.save_model(model, tmp_path / "m")
    (directory / "config.json").write_text('{"n_layers": 2, "colour": "red"}')
    with pytest.raises(pp.ConfigError, match=r"m/config.json: unknown config keys \['colour'\]"):
        pp.load_model_dir(directory)
    with pytest.raises(OSError, match="no directory .*nothing-here': the path does not exist"):
        pp.load(tmp_path / "nothing-here")  # a ModelLoadError, also catchable as the builtin OSError
    with pytest.raises(OSError, match="are not in the local Hugging Face cache and pathpatch never downloads"):
        pp.load("gpt2-nonexistent-xyz")
    from safetensors.torch import load_file, save_file

    directory = pp.save_model(model, tmp_path / "m2")
    tensors = load_file(str(directory / "model.safetensors"))
    del tensors["W_U"]
    save_file(tensors, str(directory / "model.safetensors"))
    with pytest.raises(pp.ModelLoadError, match=r"model.safetensors lacks tensors \['W_U'\] that .*config.json needs"):
        pp.load_model_dir(directory)


def test_argument_device_and_empty_path_set_errors(model: pp.ResidualModel) -> None:
    pairs = pp.pair_derangement(pp.Dataset.next_token(torch.randint(0, model.config.d_vocab, (4, 6))), 0)
    with pytest.raises(pp.ArgumentError, match="batch_size"):
        pp.score(model, {"h": pp.all_paths()}, pairs, batch_size=0, progress=False)
    with pytest.raises(pp.DeviceError, match="device='gpu0' is not a device torch knows; use 'cpu', 'cuda'"):
        pp.score(model, {"h": pp.all_paths()}, pairs, device="gpu0", progress=False)
    with pytest.raises(pp.EmptyPathSetError, match="names no path of this model"):
        pp.score(model, {"h": pp.paths("a1.0 -> a0.1.k")}, pairs, progress=False)
