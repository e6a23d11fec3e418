"""The README's Python examples run as written (except the one that needs GPT-2 weights on disk)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    runnable = [b for b in blocks if "from_pretrained" not in b]
    assert len(runnable) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in runnable:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "report.json").is_file()
    assert tuple(namespace["many"].shape) == (2, 4, 24, 64)
