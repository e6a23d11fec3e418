"""Reading a study file: TOML parsed by ``tomllib`` (``tomli`` before Python 3.11), the schema
checked by pydantic, and every problem turned into one :class:`~pathpatch.errors.StudyFileError`
that names the file, each bad key, what came and what is allowed.

:func:`parse_study` reads text, :func:`validate_spec` a dict (both stop at the schema; the checks
that need the whole study are :mod:`.check`'s). :func:`key_exists` and :func:`set_key` read and
write dotted keys such as ``"steps.acdc.threshold"``, as sweeps name them.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import StudyFileError, close_matches
from .schema import StudySpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["parse_study", "validate_spec", "dotted", "key_exists", "get_key", "set_key"]


def dotted(loc: tuple[int | str, ...]) -> str:
    """A pydantic location as a study key: ``("steps", "acdc", "threshold")`` -> ``steps.acdc.threshold``,
    list indices as ``claims[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _members(t: Any) -> list[Any]:
    """The alternatives of a union (``X | None`` included), else ``[t]``; Annotated unwrapped."""
    while typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(t) for m in _members(a)]
    return [t]


def _child(t: Any, part: int | str) -> Any:
    """The type found at ``part`` inside a value of type ``t`` (None when unknown)."""
    for m in _members(t):
        if isinstance(m, type) and issubclass(m, BaseModel):
            if isinstance(part, str) and part in m.model_fields:
                return m.model_fields[part].annotation
            kind = m.model_fields.get("kind")
            if kind is not None and part in typing.get_args(kind.annotation):  # a discriminated union's tag
                return m
        origin = typing.get_origin(m)
        if origin in (dict, Mapping) and isinstance(part, str):
            return typing.get_args(m)[1]
        if origin is list and isinstance(part, int):
            return typing.get_args(m)[0]
    return None


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    t: Any = StudySpec
    for part in loc:
        t = _child(t, part)
        if t is None:
            return None
    models = [m for m in _members(t) if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def _problem(err: Any) -> tuple[str, str, str]:
    """(key, message, allowed) of one pydantic error."""
    loc = tuple(err["loc"])
    kind, ctx, given = err["type"], err.get("ctx") or {}, err.get("input")
    key = dotted(_strip_tags(loc))
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = sorted(parent.model_fields) if parent is not None else []
        hint = close_matches(str(loc[-1]), allowed)
        return (
            key,
            f"unknown key {loc[-1]!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""),
            ", ".join(allowed),
        )
    if kind == "union_tag_invalid":
        return key, f"unknown step kind {ctx.get('tag')!r}", str(ctx.get("expected_tags", ""))
    if kind == "union_tag_not_found":
        return key, "a step needs a kind", "kind = 'score', 'ladder', 'probe', 'scan', 'trace', 'acdc', ..."
    if kind == "missing":
        return key, "missing key", ""
    message = str(err["msg"]).removeprefix("Value error, ")
    shown = repr(given)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return key, f"{message}, got {shown}", ""


def _kinds() -> set[str]:
    step = _child(StudySpec, "steps")
    return {k for m in _members(_child(step, "x")) for k in typing.get_args(m.model_fields["kind"].annotation)}


def _strip_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """A location without the step kind pydantic puts after a step's name (``steps.a.acdc.threshold``)."""
    if len(loc) >= 3 and loc[0] == "steps" and loc[2] in _kinds():
        return loc[:2] + loc[3:]
    return loc


def _raise(err: ValidationError, file: str | None, prefix: str = "") -> StudyFileError:
    problems = [_problem(e) for e in err.errors()]
    key, message, allowed = problems[0]
    if len(problems) > 1:
        more = "\n".join(f"  [{prefix}{k}] {m}" + (f" (allowed: {a})" if a else "") for k, m, a in problems[1:])
        message = (
            f"{message}" + (f" (allowed: {allowed})" if allowed else "") + f"\nand {len(problems) - 1} more:\n{more}"
        )
        allowed = ""
    return StudyFileError(file, prefix + key, message, allowed)


def validate_spec(data: Mapping[str, Any], file: str | None = None) -> StudySpec:
    """``data`` (a study as a dict) checked against the schema; a :class:`StudyFileError` otherwise."""
    if not isinstance(data, Mapping):
        raise StudyFileError(file, "", f"a study is a table of tables, got {type(data).__name__}")
    try:
        return StudySpec.model_validate(dict(data))
    except ValidationError as err:
        raise _raise(err, file) from None


def parse_study(text: str, file: str | None = None) -> StudySpec:
    """The study that the TOML ``text`` declares (schema-checked)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise StudyFileError(file, "", f"not valid TOML: {err}", "see the study-file format in the README") from None
    return validate_spec(data, file)


def _parts(key: str) -> list[str]:
    return [p for p in key.split(".")]


def get_key(data: Mapping[str, Any], key: str) -> Any:
    """The value at the dotted ``key`` (a KeyError when a part is missing)."""
    value: Any = data
    for part in _parts(key):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(key)
        value = value[part]
    return value


def key_exists(data: Mapping[str, Any], key: str) -> bool:
    try:
        get_key(data, key)
    except KeyError:
        return False
    return True


def set_key(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` (nested dicts copied along the way) with ``key`` set to ``value``."""
    out = dict(data)
    parts = _parts(key)
    node = out
    for part in parts[:-1]:
        node[part] = dict(node[part])
        node = node[part]
    node[parts[-1]] = value
    return out
