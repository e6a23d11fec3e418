"""The README's Python examples run as written (except the one that needs GPT-2 weights on disk, and
the cluster example, which needs the extra ``ray``: tests/test_ray.py runs it)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    runnable = [b for b in blocks if "from_pretrained" not in b and "RayBackend(" not in b]
    assert len(runnable) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in runnable:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "report.json").is_file()
    assert tuple(namespace["many"].shape) == (2, 4, 24, 64)


def test_readme_study_example_is_a_valid_study(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathpatch.study import Study
    from pathpatch.study.hypotheses import check_on_model
    from pathpatch.zoo import load

    (block,) = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.S)
    path = tmp_path / "my-study.toml"
    path.write_text(block)
    study = Study.load(path)
    assert [c.label for c in study.cells][1:] == [
        f"ablation={a}, pairing_seed={s}" for a in ("resample", "mean") for s in (0, 1)
    ]
    for cell in study.cells:
        check_on_model(cell.spec, load("induction-2l"), str(path))
