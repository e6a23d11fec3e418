"""The layer order of docs/design.md holds: no import in ``src/`` goes up it, and none forms a cycle.

The table under ``## Layers`` in docs/design.md is the source of truth: these tests read it, so the
document and the check cannot drift. Every import is parsed with :mod:`ast`, wherever it stands
(module level, inside a function or class, under ``if TYPE_CHECKING:``), relative imports are
resolved against the importing module, ``from package import submodule`` counts as importing the
submodule, and a package's lazy name table (``lazy_names(__name__, TABLE, ...)``) counts as
importing every module it names.

- Going up the table is refused for every import, ``TYPE_CHECKING`` ones included: a type a module
  names is a dependency of it, even if the import never runs.
- Cycles are refused among the same imports, ``TYPE_CHECKING`` ones included, inside a layer as
  across layers. Lazy name tables are left out of the cycle check only: they import a name on its
  first use, once every module has loaded, and a package's table names the package's own modules.
"""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DESIGN = ROOT / "docs" / "design.md"
PACKAGE = "pathpatch"

# Known upward imports: none. An entry added here must say why; one that no longer occurs fails the test.
PENDING: frozenset[tuple[str, str]] = frozenset()

# Known cycles: none. An entry added here must say why; one that no longer occurs fails the test.
MUTUAL: list[list[str]] = []


@dataclass(frozen=True)
class Layer:
    """One row of the table: its position from the bottom (1 = lowest), name and path entries."""

    rank: int
    name: str
    entries: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rank}. {self.name}"


@dataclass(frozen=True)
class Import:
    """One module importing another; ``target`` is a dotted module name (it may name no module)."""

    importer: str
    target: str
    file: str  # the importer's file, as src/pathpatch/...
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`
    lazy: bool  # named in a lazy name table

    def where(self) -> str:
        return f"{self.file}:{self.line}"


# ------------------------------------------------------------------------------ the table


def read_layers(text: str) -> list[Layer]:
    """The rows of the table under ``## Layers`` in ``text`` (a Markdown document), bottom first."""
    section = re.search(r"^## (?:\d+\. )?Layers\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    if section is None:
        raise AssertionError("docs/design.md has no '## Layers' section")
    layers: list[Layer] = []
    for row in section.group(1).splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")] if row.startswith("|") else []
        match = re.fullmatch(r"(\d+)\.\s+(\S.*)", cells[0]) if cells else None
        if match is None:
            continue  # prose, the header or the separator row
        entries = tuple(re.findall(r"`([^`]+)`", cells[1]))
        layers.append(Layer(int(match.group(1)), match.group(2), entries))
    ranks = [layer.rank for layer in layers]
    if ranks != list(range(1, len(layers) + 1)):
        raise AssertionError(f"the layers of docs/design.md must be numbered 1, 2, ... from the bottom, got {ranks}")
    return layers


def layer_of(path: str, layers: list[Layer]) -> Layer | None:
    """The layer of the module file ``path`` (relative to the package): its most specific entry,
    a file named exactly or the longest folder (``engine/``) holding it."""
    best: tuple[int, Layer] | None = None
    for layer in layers:
        for entry in layer.entries:
            if entry == path or (entry.endswith("/") and path.startswith(entry)):
                if best is None or len(entry) > best[0]:
                    best = (len(entry), layer)
    return None if best is None else best[1]


# ------------------------------------------------------------------------------ the imports


def module_files(src: Path) -> dict[str, Path]:
    """Every module of the package under ``src``, by dotted name (a package by its own name)."""
    out: dict[str, Path] = {}
    for file in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(file.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = file
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(body: list[ast.stmt], type_only: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement in ``body``, at any depth, and whether it stands under TYPE_CHECKING."""
    for stmt in body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield stmt, type_only
        elif isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
            yield from _import_nodes(stmt.body, True)
            yield from _import_nodes(stmt.orelse, type_only)
        else:
            for child in ast.iter_child_nodes(stmt):
                if isinstance(child, ast.stmt):
                    yield from _import_nodes([child], type_only)
                elif isinstance(child, (ast.excepthandler, ast.match_case)):
                    yield from _import_nodes(child.body, type_only)


def _lazy_tables(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """The submodules named by ``lazy_names(__name__, TABLE, ...)`` calls, with their lines."""
    tables: dict[str, ast.Dict] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Dict):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    tables[target.id] = stmt.value
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_names" and len(node.args) > 1:
            table = node.args[1]
            table = tables.get(table.id, table) if isinstance(table, ast.Name) else table
            if not isinstance(table, ast.Dict):
                raise AssertionError(f"line {node.lineno}: lazy_names needs a dict literal or a name bound to one")
            for value in table.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    yield value.value, value.lineno


def imports_of(module: str, source: str, is_package: bool, known: set[str], file: str) -> list[Import]:
    """The package-internal imports of ``module`` (its ``source``); ``known``: the package's modules,
    to tell ``from package import submodule`` from ``from module import name``."""
    tree = ast.parse(source)
    here = module.split(".") if is_package else module.split(".")[:-1]
    out: list[Import] = []

    def add(target: str, line: int, type_only: bool, lazy: bool = False) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            out.append(Import(module, target, file, line, type_only, lazy))

    statements = list(_import_nodes(tree.body))
    every = sum(isinstance(node, (ast.Import, ast.ImportFrom)) for node in ast.walk(tree))
    assert len(statements) == every, f"{file}: {every - len(statements)} import statements were not reached"
    for node, type_only in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno, type_only)
            continue
        if node.level:
            if node.level > len(here):
                raise AssertionError(f"{file}:{node.lineno}: a relative import above the top of the package")
            base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            add(sub if sub in known else base, node.lineno, type_only)
    for home, line in _lazy_tables(tree):
        add(".".join(here) + "." + home, line, False, lazy=True)
    return list(dict.fromkeys(out))  # one per statement and target, not per name imported


def all_imports(src: Path) -> tuple[dict[str, Path], list[Import]]:
    files = module_files(src)
    known = set(files)
    imports = [
        imp
        for name, file in files.items()
        for imp in imports_of(
            name,
            file.read_text(encoding="utf-8"),
            file.name == "__init__.py",
            known,
            f"src/{file.relative_to(src).as_posix()}",
        )
    ]
    return files, imports


# ------------------------------------------------------------------------------ the checks


def unplaced(src: Path, layers: list[Layer]) -> list[str]:
    """Problems with the table itself: modules it does not place, entries naming no file, repeats."""
    files = module_files(src)
    paths = {name: file.relative_to(src / PACKAGE).as_posix() for name, file in files.items()}
    problems = [
        f"{path} ({name}) is in no layer of docs/design.md"
        for name, path in paths.items()
        if not layer_of(path, layers)
    ]
    entries = [entry for layer in layers for entry in layer.entries]
    for entry in entries:
        if not any(p == entry or (entry.endswith("/") and p.startswith(entry)) for p in paths.values()):
            problems.append(f"docs/design.md places {entry!r}, which names no module under src/{PACKAGE}/")
        if entries.count(entry) > 1:
            problems.append(f"docs/design.md places {entry!r} more than once")
    return sorted(set(problems))


def upward(src: Path, layers: list[Layer]) -> list[tuple[Import, str]]:
    """Every import that goes up the table or names no module, with the message saying so."""
    files, imports = all_imports(src)
    paths = {name: file.relative_to(src / PACKAGE).as_posix() for name, file in files.items()}
    out: list[tuple[Import, str]] = []
    for imp in imports:
        if imp.target not in files:
            out.append((imp, f"{imp.where()}: {imp.importer} imports {imp.target}, which is no module under src/"))
            continue
        low, high = layer_of(paths[imp.importer], layers), layer_of(paths[imp.target], layers)
        if low is not None and high is not None and high.rank > low.rank:
            how = " (under TYPE_CHECKING)" if imp.type_only else " (lazy name table)" if imp.lazy else ""
            out.append(
                (
                    imp,
                    f"{imp.where()}: {imp.importer} (layer {low}) imports {imp.target} (layer {high}), "
                    f"a layer above it{how}; move the code to the layer it belongs to, or the import's user up",
                )
            )
    return out


def cycles(src: Path) -> list[list[str]]:
    """The import cycles, lazy tables left out (strongly connected modules, sorted, each once)."""
    _, imports = all_imports(src)
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.lazy:
            graph.setdefault(imp.importer, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _layers() -> list[Layer]:
    return read_layers(DESIGN.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ the tests


def test_every_module_has_exactly_one_place_in_the_table() -> None:
    layers = _layers()
    assert len(layers) > 1
    assert unplaced(SRC, layers) == []


def test_no_import_goes_up_the_layers() -> None:
    found = upward(SRC, _layers())
    bad = [message for imp, message in found if (imp.importer, imp.target) not in PENDING]
    assert not bad, "imports that go up the layer order of docs/design.md:\n" + "\n".join(bad)
    stale = PENDING - {(imp.importer, imp.target) for imp, _ in found}
    assert not stale, f"PENDING lists imports that no longer go up (remove them): {sorted(stale)}"


def test_no_import_cycle() -> None:
    found = cycles(SRC)
    _, imports = all_imports(SRC)
    bad = [
        f"{' <-> '.join(cycle)}: "
        + "; ".join(
            f"{i.where()} imports {i.target}" + (" (under TYPE_CHECKING)" if i.type_only else "")
            for i in imports
            if i.importer in cycle and i.target in cycle and not i.lazy
        )
        for cycle in found
        if cycle not in MUTUAL
    ]
    assert not bad, "import cycles (TYPE_CHECKING imports included):\n" + "\n".join(bad)
    stale = [c for c in MUTUAL if c not in found]
    assert not stale, f"MUTUAL lists modules that no longer import each other (remove them): {stale}"


def test_imports_are_resolved_wherever_they_stand() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import pathpatch.graph\n"
        "from . import validate\n"
        "from .. import errors\n"
        "from .api import Engine\n"
        "if TYPE_CHECKING:\n"
        "    from ..scoring import score\n"
        "else:\n"
        "    import os\n"
        "def f():\n"
        "    try:\n"
        "        from ..lang import hypothesis\n"
        "    except ImportError:\n"
        "        from ..lang.pattern import PosContext\n"
        "class C:\n"
        "    def g(self):\n"
        "        from pathpatch.model.residual import ResidualModel\n"
    )
    known = {"pathpatch.graph", "pathpatch.errors", "pathpatch.engine.api", "pathpatch.lang.hypothesis"}
    found = imports_of("pathpatch.engine.budget", source, False, known, "budget.py")
    assert [(i.target, i.line, i.type_only) for i in found] == [
        ("pathpatch.graph", 2, False),
        ("pathpatch.engine", 3, False),  # `validate` is no module of the engine package: a name of it
        ("pathpatch.errors", 4, False),
        ("pathpatch.engine.api", 5, False),
        ("pathpatch.scoring", 7, True),
        ("pathpatch.lang.hypothesis", 12, False),
        ("pathpatch.lang.pattern", 14, False),
        ("pathpatch.model.residual", 17, False),
    ]
    lazy = (
        "from ..lazy import lazy_names\n_HOMES = {'draw': 'drawing'}\n__getattr__ = lazy_names(__name__, _HOMES, {})\n"
    )
    found = imports_of("pathpatch.render", lazy, True, {"pathpatch.lazy"}, "render/__init__.py")
    assert [(i.target, i.lazy) for i in found] == [("pathpatch.lazy", False), ("pathpatch.render.drawing", True)]


def test_the_table_is_read_bottom_first() -> None:
    text = (
        "# x\n## Layers\nprose `not.py`\n| Layer | Modules |\n|--|--|\n"
        "| 1. low | `a.py`, `b/` |\n| 2. high | `b/c.py` |\n## Next\n| 3. no | `z.py` |\n"
    )
    layers = read_layers(text)
    assert [(str(layer), layer.entries) for layer in layers] == [("1. low", ("a.py", "b/")), ("2. high", ("b/c.py",))]
    assert layer_of("b/c.py", layers) == layers[1] and layer_of("b/d.py", layers) == layers[0]
    assert layer_of("z.py", layers) is None


def _planted(tmp_path: Path, file: str, lines: str) -> tuple[Path, int]:
    """A copy of src/ with ``lines`` appended to ``file``; and the line number of its last line."""
    src = tmp_path / "src"
    shutil.copytree(SRC / PACKAGE, src / PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    path = src / PACKAGE / file
    text = path.read_text(encoding="utf-8") + "\n" + lines
    path.write_text(text, encoding="utf-8")
    return src, text.count("\n")


def _new_upward(src: Path) -> list[tuple[Import, str]]:
    """What the copy ``src`` has that src/ has not: the planted upward imports alone."""
    layers = _layers()
    before = {message for _, message in upward(SRC, layers)}
    return [(imp, message) for imp, message in upward(src, layers) if message not in before]


def test_a_planted_upward_import_fails_naming_file_line_and_layers(tmp_path: Path) -> None:
    src, line = _planted(tmp_path, "errors.py", "\ndef _planted() -> None:\n    from .scoring import score\n")
    [(imp, message)] = _new_upward(src)
    assert (imp.importer, imp.target, imp.line, imp.type_only) == ("pathpatch.errors", "pathpatch.scoring", line, False)
    assert message.startswith(
        f"src/pathpatch/errors.py:{line}: pathpatch.errors (layer 1. base) imports pathpatch.scoring "
        "(layer 8. scoring), a layer above it; "
    )


def test_a_planted_type_only_upward_import_fails_too(tmp_path: Path) -> None:
    src, line = _planted(tmp_path, "validate.py", "if TYPE_CHECKING:\n    from .model.residual import ResidualModel\n")
    [(imp, message)] = _new_upward(src)
    assert (imp.importer, imp.target, imp.line, imp.type_only) == (
        "pathpatch.validate",
        "pathpatch.model.residual",
        line,
        True,
    )
    assert (
        "(layer 2. checks) imports pathpatch.model.residual (layer 5. model), a layer above it (under TYPE_CHECKING)"
        in message
    )


@pytest.mark.parametrize(
    "lines",
    ["\ndef _planted() -> None:\n    from . import data\n", "if TYPE_CHECKING:\n    from .data import Dataset\n"],
    ids=["function-level", "type-only"],
)
def test_a_planted_cycle_inside_one_layer_fails(tmp_path: Path, lines: str) -> None:
    src, _ = _planted(tmp_path, "positions.py", lines)  # data.py imports positions.py; both are values
    assert _new_upward(src) == []  # not upward: one layer
    assert [c for c in cycles(src) if c not in cycles(SRC)] == [["pathpatch.data", "pathpatch.positions"]]


def test_a_module_outside_the_table_or_an_entry_without_a_module_fails(tmp_path: Path) -> None:
    src, _ = _planted(tmp_path, "errors.py", "")
    (src / PACKAGE / "stray.py").write_text('"""Nowhere in the table."""\n')
    (src / PACKAGE / "zoo.py").unlink()
    assert unplaced(src, _layers()) == [
        "docs/design.md places 'zoo.py', which names no module under src/pathpatch/",
        "stray.py (pathpatch.stray) is in no layer of docs/design.md",
    ]
