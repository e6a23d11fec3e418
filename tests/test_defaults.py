"""One default per setting: every public function and every command uses the same δ unless told
otherwise (pathpatch.defaults), and every command offers every built-in δ."""

from __future__ import annotations

import inspect

import click
import pytest

import pathpatch as pp
from pathpatch.cli import cli
from pathpatch.defaults import DEFAULT_DELTA, DELTA_NAMES
from pathpatch.metrics import DELTAS
from pathpatch.options import Options

FUNCTIONS = [
    "score",
    "per_example",
    "node_scan",
    "edge_scan",
    "sender_scan",
    "path_scan",
    "causal_trace",
    "acdc",
    "eap",
    "discover_paths",
    "faithfulness",
]


def test_the_default_delta_is_kl_and_names_every_built_in_delta() -> None:
    assert DEFAULT_DELTA == "kl" and set(DELTA_NAMES) == set(DELTAS)
    assert Options().delta == DEFAULT_DELTA


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_public_function_defaults_to_the_same_delta(name: str) -> None:
    default = inspect.signature(getattr(pp, name)).parameters["delta"].default
    assert default in (DEFAULT_DELTA, None), (name, default)  # None: the scores' own delta (faithfulness)


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    out = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out.update(_commands(command, f"{prefix}{name} "))
        out[f"{prefix}{name}"] = command
    return out


def test_every_command_with_a_delta_offers_every_delta_and_defaults_to_kl() -> None:
    with_delta = {n: c for n, c in _commands(cli).items() if any(p.name == "delta" for p in c.params)}
    assert {"scan", "discover"} <= set(with_delta)
    for name, command in with_delta.items():
        option = next(p for p in command.params if p.name == "delta")
        assert option.default == DEFAULT_DELTA, name
        assert isinstance(option.type, click.Choice) and set(option.type.choices) == set(DELTA_NAMES), name


def test_every_command_that_runs_a_model_takes_model() -> None:
    commands = _commands(cli)
    for name in ("scan", "discover", "paths", "demo", "demo numbers"):
        assert any(p.name in ("model_name", "model_dir", "model") for p in commands[name].params), name
