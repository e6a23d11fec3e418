"""Options and Intervals: checked once when made, with the public functions' own defaults and messages."""

from __future__ import annotations

import dataclasses
import inspect
import warnings

import pytest
import torch

import pathpatch as pp
from pathpatch.discovery import acdc_search
from pathpatch.errors import ArgumentError, DeviceError, InputError, UnreliableIntervalWarning
from pathpatch.options import Intervals, Options, will_score

OPTIONS = [f.name for f in dataclasses.fields(Options)]
INTERVALS = [f.name for f in dataclasses.fields(Intervals)]


def _defaults(fn: object, names: list[str]) -> dict[str, object]:
    params = inspect.signature(fn).parameters  # type: ignore[arg-type]
    return {n: params[n].default for n in names if n in params}


@pytest.mark.parametrize("fn", [pp.score, pp.per_example, pp.eap, pp.acdc, pp.discover_paths])
def test_defaults_are_those_of_the_public_functions(fn: object) -> None:
    """Every option a public function takes defaults there to the value's default."""
    own = _defaults(fn, OPTIONS)
    assert own and own == {n: getattr(Options(), n) for n in own}
    own = _defaults(fn, INTERVALS)
    assert own == {n: getattr(Intervals(), n) for n in own}


def test_fields_in_the_order_of_score() -> None:
    """Public functions pass their arguments positionally in the fields' order: the order of score's."""
    params = list(inspect.signature(pp.score).parameters)
    assert [n for n in params if n in OPTIONS] == OPTIONS
    assert [n for n in params if n in INTERVALS] == INTERVALS


def test_checked_when_made_with_the_messages_of_the_api() -> None:
    with pytest.raises(ArgumentError, match="batch_size must be a positive int, got 0"):
        Options(batch_size=0)
    with pytest.raises(DeviceError, match="device='gpu0' is not a device torch knows"):
        Options(device="gpu0")
    with pytest.raises(TypeError, match="dtype must be a torch.dtype, got the string 'bfloat16'"):
        Options(dtype="bfloat16")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown delta 'kll'"):
        Options(delta="kll")
    with pytest.raises(ArgumentError, match="ablation must be 'resample', 'mean' or 'zero', got 'gaussian'"):
        Options(ablation="gaussian")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="progress must be True or False, got int"):
        Options(progress=1)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="max_memory must be a finite size"):
        Options(max_memory=float("inf"))  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"n_boot=1 is too small for a 0.95 interval.*n_boot >= 20"):
        Intervals(n_boot=1)
    with pytest.raises(ArgumentError, match="level must lie strictly between 0 and 1"):
        Intervals(level=1.0)
    with pytest.raises(ArgumentError, match="seed must be a non-negative int, got -1"):
        Intervals(seed=-1)
    with pytest.raises(ArgumentError, match="batch_size must be a positive int, got 0"):
        Options().replace(batch_size=0)  # a copy is checked too


def test_frozen_and_replaced() -> None:
    options = Options(delta="loss")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.delta = "kl"  # type: ignore[misc]
    assert options.replace(batch_size=8) == Options(delta="loss", batch_size=8)
    assert Intervals().replace(seed=3) == Intervals(seed=3)


def test_settings_round_trip_through_json_values() -> None:
    import json

    options = Options("logit_diff", "mean", 7, False, "2GB", "cpu", torch.bfloat16)
    saved = json.loads(json.dumps(options.to_dict()))
    assert saved["dtype"] == "bfloat16" and saved["device"] == "cpu"
    assert Options.from_dict(saved) == options
    intervals = Intervals(n_boot=200, level=0.9, seed=4)
    assert Intervals.from_dict(json.loads(json.dumps(intervals.to_dict()))) == intervals
    with pytest.raises(InputError, match="some of the keys"):
        Options.from_dict({"n_boot": 10})
    with pytest.raises(InputError, match="'int8' is not a torch dtype|dtype must be a floating-point"):
        Options.from_dict({"dtype": "int8"})


def test_a_callable_delta_is_allowed_but_not_saved() -> None:
    def half_kl(ref: torch.Tensor, patched: torch.Tensor, data: object) -> torch.Tensor:
        raise AssertionError("never called")

    options = Options(delta=half_kl)
    assert options.delta_name == "half_kl"
    with pytest.raises(InputError, match="'half_kl' is a callable, which cannot be written"):
        options.to_dict()


def _tiny() -> tuple[pp.ResidualModel, pp.Pairs]:
    model = pp.native_model(
        pp.NativeConfig(n_layers=1, n_heads=2, d_model=8, d_head=4, d_vocab=11, n_ctx=6, positions="shortformer")
    )
    tokens = torch.randint(0, 11, (4, 5), generator=torch.Generator().manual_seed(0))
    return model, pp.pair_derangement(pp.Dataset.next_token(tokens), seed=0)


def test_the_interval_warning_points_at_the_callers_line() -> None:
    """Made inside a public function, the rough-interval warning names the line that called it."""
    model, pairs = _tiny()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pp.score(model, [pp.all_paths()], pairs, n_boot=30, progress=False)
    rough = [w for w in caught if issubclass(w.category, UnreliableIntervalWarning)]
    assert len(rough) == 1 and rough[0].filename == __file__


def test_searches_check_n_boot_only_when_they_score() -> None:
    assert will_score(False, 0) is False and will_score(True, 0) is True
    with pytest.raises(ArgumentError, match="seed must be a non-negative int"):
        will_score(False, -1)
    with pytest.raises(TypeError, match="score must be True or False, got str"):
        will_score("yes", 0)  # type: ignore[arg-type]
    model, pairs = _tiny()
    circuit = pp.acdc(model, pairs, 0.01, n_boot=1, score=False, progress=False)  # n_boot unused: not checked
    assert circuit.score is None
    with pytest.raises(ArgumentError, match=r"n_boot=1 is too small"):
        pp.acdc(model, pairs, 0.01, n_boot=1, progress=False)


def test_a_search_warns_once_at_the_callers_line() -> None:
    model, pairs = _tiny()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        acdc_search(model, pairs, 0.01, n_boot=30, progress=False)
    rough = [w for w in caught if issubclass(w.category, UnreliableIntervalWarning)]
    assert len(rough) == 1 and rough[0].filename == __file__
