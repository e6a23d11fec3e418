"""A circuit as a file: checked when read (typed errors naming the file and the key), the model
and data it was found on recorded, refused on another model, stale scores dropped."""

from __future__ import annotations

import json
import warnings
from functools import cache

import pytest
import torch

import pathpatch as pp
from pathpatch.discovery import Circuit
from pathpatch.discovery.acdc import acdc
from pathpatch.discovery.paths import discover_paths


@cache
def setup(seed: int = 0) -> tuple[pp.ResidualModel, pp.Pairs]:
    model = pp.native_model(
        pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8, init_std=0.3, seed=seed)
    )
    tokens = torch.randint(0, 20, (16, 8), generator=torch.Generator().manual_seed(seed))
    return model, pp.pair_derangement(pp.Dataset.next_token(tokens), seed=5)


@cache
def found() -> Circuit:
    model, pairs = setup()
    return acdc(model, pairs, 0.01, progress=False, n_boot=50)


def write(tmp_path, edit) -> str:  # type: ignore[no-untyped-def]
    d = found().to_dict()
    edit(d)
    path = tmp_path / "circuit.json"
    path.write_text(json.dumps(d))
    return str(path)


def test_acdc_refuses_a_negative_threshold_like_the_command_line() -> None:
    model, pairs = setup()
    with pytest.raises(pp.ArgumentError, match="threshold must be >= 0, got -1"):
        acdc(model, pairs, -1, progress=False)


@pytest.mark.parametrize(
    "edit, key, message",
    [
        (lambda d: d.pop("edges"), "edges", "missing"),
        (lambda d: d["edges"].__setitem__(0, 5), "edges[0]", "an edge name"),
        (lambda d: d.__setitem__("edges", "embed -> out"), "edges", "a list of edge names"),
        (lambda d: d["edges"].__setitem__(1, "a0.0 => out"), "edges[1]", "'a0.0 => out' is not an edge name"),
        (lambda d: d.__setitem__("level", "nodes"), "level", "'edges' or 'paths'"),
        (lambda d: d.__setitem__("level", "paths"), "level", "patterns"),
        (lambda d: d.__setitem__("patterns", "embed -> out"), "patterns", "a list of pattern strings"),
        (lambda d: d.__setitem__("found_by", [1]), "found_by", "an object"),
        (lambda d: d.__setitem__("score", 3), "score", "an object"),
    ],
)
def test_a_hand_edited_file_is_a_typed_error_naming_the_file_and_the_key(tmp_path, edit, key, message) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, edit)
    with pytest.raises(pp.CircuitFileError, match=message) as err:
        Circuit.load(path)
    assert err.value.file == path and err.value.key == key
    assert str(err.value).startswith(f"{path}: [{key}]")


def test_a_file_that_is_not_json_is_a_typed_error_naming_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "circuit.json"
    path.write_text("{not json")
    with pytest.raises(pp.CircuitFileError, match="is not JSON") as err:
        Circuit.load(path)
    assert str(path) in str(err.value)


def test_found_by_records_the_model_the_data_and_where_it_was_scored() -> None:
    model, pairs = setup()
    for circuit in (found(), discover_paths(model, pairs, target=0.5, progress=False, n_boot=50)):
        by = circuit.found_by
        assert by["model"] == pp.model_identity(model)
        assert by["model"]["weights"].startswith("sha256:") and by["model"]["name"] == "native"
        assert by["data"] == {"examples": len(pairs), "pairing_seed": 5, "tokens": pairs.digest()}
        assert by["scored_on"] == "the search examples"
        assert "scored on the search examples" in str(circuit)


def test_a_circuit_on_another_model_is_a_typed_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, _ = setup()
    other, _ = setup(seed=1)  # same architecture, other weights
    path = found().save(tmp_path / "c.json")
    assert Circuit.load(path, model=model) == found()
    with pytest.raises(pp.ModelMismatchError, match="found on the model 'native' with weights sha256:"):
        Circuit.load(path, model=other)
    with pytest.raises(pp.ModelMismatchError, match="load the model it was found on"):
        found().check_model(other)
    with pytest.raises(pp.ModelMismatchError):
        pp.draw(other, found(), tmp_path / "d.png")
    pp.draw(model, found(), tmp_path / "d.png")


def test_unknown_edges_are_refused_against_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    small, _ = setup()
    big = pp.native_model(pp.NativeConfig(n_layers=3, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8))
    circuit = Circuit((big.graph.edges[-1],))
    with pytest.raises(pp.ModelMismatchError, match="not an edge of this model"):
        circuit.check_model(small)
    path = write(tmp_path, lambda d: d["edges"].append("a2.0 -> out"))
    with pytest.warns(UserWarning, match="stored score"), pytest.raises(pp.ModelMismatchError, match="'a2.0 -> out'"):
        Circuit.load(path, model=small)


def test_a_stale_score_is_dropped_with_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, lambda d: d["edges"].pop())
    with pytest.warns(UserWarning, match="its stored score was measured on other edges; dropped"):
        loaded = Circuit.load(path)
    assert loaded.score is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Circuit.load(found().save(tmp_path / "ok.json")).score == found().score
