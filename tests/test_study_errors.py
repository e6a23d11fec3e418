"""Each kind of bad study file is a typed error naming the file, the key and what is allowed,
raised before any work."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pathpatch.errors import StudyFileError
from pathpatch.study import Study
from studyfiles import TINY_STUDY, make_folder, quiet


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("bad-studies"))


def _error(folder: Path, text: str) -> StudyFileError:
    path = folder / "bad.toml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(StudyFileError) as info:
        Study.load(path)
    assert info.value.file == str(path)
    return info.value


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("n_boot = 200", "n_boot = 200\nnboot = 3", "settings.nboot", "unknown key 'nboot'; did you mean 'n_boot'?"),
        ("n_boot = 200", 'n_boot = "200"', "settings.n_boot", "valid integer"),
        ("threshold = 0.01", "threshold = -1", "steps.acdc.threshold", "greater than 0"),
        ('kind = "acdc"', 'kind = "acdcc"', "steps.acdc", "unknown step kind 'acdcc'"),
        ('direct = "embed -> out"', 'direct = "embed -> a1.{0,1 -> out"', "hypotheses.direct", "^"),
        ('path = "tiny"', 'path = "no-such-dir"', "model.path", "no model directory"),
        ('"settings.ablation"', '"settings.ablashun"', "sweeps.metric.grid.settings.ablashun", "no key"),
        ('["resample", "mean"]', '["resample", "bogus"]', "sweeps.metric.grid", "ablation=bogus"),
        ('"direct", "values",', '"direct", "valuez",', "steps.eval.hypotheses", "'valuez' is neither"),
        ('split = "eval"', 'split = "evil"', "steps.eval.split", "no split 'evil'"),
        ('hypothesis = "values"', 'hypothesis = "values"\nmetric = "accuracy"', "claims[0].metric", "unknown metric"),
        ("[study]", "[study\n", "", "not valid TOML"),
        ('source = "tokens.safetensors"', 'source = "none.npy"', "data.source", "no token file"),
        ('rows = "20:40"', 'rows = "20:41"', "data.splits.eval.rows", "rows '20:41' of 40 examples"),
    ],
)
def test_each_kind_of_bad_study_file_is_a_typed_error_naming_the_key(
    folder: Path, old: str, new: str, key: str, words: str
) -> None:
    assert old in TINY_STUDY
    err = _error(folder, TINY_STUDY.replace(old, new, 1))
    assert err.key == key and words in str(err), str(err)
    assert str(folder / "bad.toml") in str(err)


def test_unknown_keys_say_what_is_allowed(folder: Path) -> None:
    err = _error(folder, TINY_STUDY.replace("[settings]", "[settings]\ncolour = 1"))
    assert "allowed: ablation, batch_size, delta, level, max_memory, n_boot, seed" in str(err)


def test_a_pattern_the_model_lacks_is_refused_before_any_work(folder: Path, tmp_path: Path) -> None:
    path = folder / "bad.toml"
    path.write_text(TINY_STUDY.replace('direct = "embed -> out"', 'direct = "embed -> a5.0 -> out"'))
    study = Study.load(path)  # parses; the node is checked on the model
    with pytest.raises(StudyFileError, match=r"hypotheses\.direct.*does not fit the model") as info:
        study.run(tmp_path / "never", echo=quiet, figures=False)
    assert "^" in str(info.value)
    assert not (tmp_path / "never" / "cells").exists()
