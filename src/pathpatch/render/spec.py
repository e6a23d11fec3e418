"""Hypotheses as JSON and as text to copy: what a run writes so a report can redraw them later.

:func:`to_spec` turns a hypothesis into JSON values, :func:`from_spec` back (equal sets of paths),
and :func:`to_text` into the Python expression (:func:`snippet`: with ``import pathpatch as pp``) that rebuilds it, e.g.
``pp.paths(["embed -> out", "embed -> a1.{0,3}.v -> out"])`` or
``pp.subgraph(["embed -> a0.2.q", ...])``. The specs:

- ``{"paths": [pattern, ...]}``, ``{"through_edge": [sender, receiver]}``,
  ``{"subgraph": [edge, ...]}``, ``{"all": true}`` (``false``: no paths);
- ``{"op": "|" | "&" | "-", "a": spec, "b": spec}``, ``{"not": spec}``;
- ``{"residual_at": [layer, position]}``, ``{"only_at": [position, [node, ...]]}``.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InputError
from ..lang import hypothesis as H
from ..lang.cut import OnlyAt, ResidualCut, only_at, residual_at

__all__ = ["to_spec", "from_spec", "to_text", "snippet"]


def to_spec(hyp: H.Hypothesis) -> dict[str, Any]:
    """JSON values describing ``hyp`` (read back with :func:`from_spec`)."""
    if isinstance(hyp, H._EdgePattern):
        sender, receiver = (s.strip() for s in hyp.texts[0].split("->"))
        return {"through_edge": [sender, receiver]}
    if isinstance(hyp, H.Patterns):
        return {"paths": list(hyp.texts)}
    if isinstance(hyp, H.Subgraph):
        return {"subgraph": sorted(e.name for e in hyp.edges)}
    if isinstance(hyp, H._Const):
        return {"all": hyp.accept}
    if isinstance(hyp, H._Binary):
        return {"op": hyp.op, "a": to_spec(hyp.a), "b": to_spec(hyp.b)}
    if isinstance(hyp, H._Complement):
        return {"not": to_spec(hyp.inner)}
    if isinstance(hyp, ResidualCut):
        return {"residual_at": [hyp.layer, hyp.position]}
    if isinstance(hyp, OnlyAt):
        return {"only_at": [hyp.position, sorted(n.name for n in hyp.keep)]}
    raise InputError(
        f"cannot describe a {type(hyp).__name__} as JSON; build it from paths(), through(), "
        "through_edge(), subgraph() and their algebra, or leave it out of the saved hypotheses"
    )


def from_spec(spec: dict[str, Any]) -> H.Hypothesis:
    """The hypothesis a :func:`to_spec` dict describes."""
    if not isinstance(spec, dict) or len(spec) not in (1, 3):
        raise InputError(
            f"not a hypothesis spec: {json.dumps(spec)[:200]}; expected one key such as "
            "'paths' or 'subgraph', or 'op' with 'a' and 'b' (see pathpatch.render.spec)"
        )
    if "op" in spec:
        a, b = from_spec(spec["a"]), from_spec(spec["b"])
        ops = {"|": a.__or__, "&": a.__and__, "-": a.__sub__}
        if spec["op"] not in ops:
            raise InputError(f"unknown operator {spec['op']!r} in a hypothesis spec; expected |, & or -")
        return ops[spec["op"]](b)
    ((key, value),) = spec.items()
    builders = {
        "paths": lambda v: H.paths(list(v)),
        "through_edge": lambda v: H.through_edge(v[0], v[1]),
        "subgraph": lambda v: H.subgraph(list(v)),
        "all": lambda v: H.all_paths() if v else H.no_paths(),
        "not": lambda v: ~from_spec(v),
        "residual_at": lambda v: residual_at(int(v[0]), v[1]),
        "only_at": lambda v: only_at(v[0], v[1]),
    }
    if key not in builders:
        raise InputError(f"unknown hypothesis spec key {key!r}; expected one of {sorted(builders)} or 'op'")
    return builders[key](value)


def _list(items: list[str]) -> str:
    if len(items) <= 1:
        return json.dumps(items)
    return "[\n" + "".join(f"    {json.dumps(s)},\n" for s in items) + "]"


def to_text(hyp: H.Hypothesis | dict[str, Any]) -> str:
    """The Python expression (``import pathpatch as pp``) that rebuilds ``hyp`` (or a spec)."""
    spec = hyp if isinstance(hyp, dict) else to_spec(hyp)
    if "op" in spec:
        return f"{_operand(spec['a'])} {spec['op']} {_operand(spec['b'])}"
    ((key, value),) = spec.items()
    if key == "paths":
        return f"pp.paths({_list(value)})"
    if key == "subgraph":
        return f"pp.subgraph({_list(value)})"
    if key == "through_edge":
        return f"pp.through_edge({json.dumps(value[0])}, {json.dumps(value[1])})"
    if key == "all":
        return "pp.all_paths()" if value else "pp.no_paths()"
    if key == "not":
        return f"~({to_text(value)})"
    if key == "residual_at":
        return f"pp.residual_at({value[0]}, {json.dumps(value[1])})"
    return f"pp.only_at({json.dumps(value[0])}, {json.dumps(value[1])})"


def _operand(spec: dict[str, Any]) -> str:
    return f"({to_text(spec)})" if "op" in spec else to_text(spec)


def snippet(hyp: H.Hypothesis | dict[str, Any]) -> str:
    """Python lines to copy: ``import pathpatch as pp``, then ``hypothesis = ...``."""
    spec = hyp if isinstance(hyp, dict) else to_spec(hyp)
    return f"import pathpatch as pp\nhypothesis = {to_text(spec)}"
