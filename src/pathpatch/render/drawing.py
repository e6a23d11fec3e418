"""``draw``: a circuit diagram of a hypothesis, circuit, edge scores or report row, as SVG and PNG.

>>> import pathpatch as pp                                                    # doctest: +SKIP
>>> from pathpatch.render import draw                                         # doctest: +SKIP
>>> draw(model, pp.paths("embed -> a0.2 -> a1.{0,3,7}.k -> out"), "naive.png")  # naive.svg too

Inputs at the bottom, layers going up, ``out`` on top; heads side by side, each layer's MLP to the
right; q, k, v and direct edges in their own colour and dash (:mod:`.figure`); unused nodes faded,
and on models of more than 32 heads a layer's unused heads folded into one ``…`` box
(:mod:`.layout`). What is drawn for each kind of input: :mod:`.subject`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..discovery.circuit import Circuit
from ..errors import InputError
from ..graph import Edge, GraphSource, Node, graph_of
from ..model.residual import ResidualModel
from .backend import pyplot
from .figure import circuit_figure
from .layout import layout
from .subject import Subject, subject_of

__all__ = ["draw", "Drawing", "circuit_svg"]


@dataclass(frozen=True)
class Drawing:
    """What :func:`draw` wrote: the two files, the labels of the boxes drawn, the edges drawn."""

    svg: Path
    png: Path
    boxes: tuple[str, ...]
    edges: tuple[Edge, ...]


def _check_circuit(model: GraphSource, thing: Any) -> None:
    """A circuit drawn on a model must have been found on it (its recorded weights and edges)."""
    if isinstance(thing, Circuit) and isinstance(model, ResidualModel):
        thing.check_model(model)


def _figure(
    model: GraphSource, subject: Subject, title: str | None, collapse: bool | None, prefix: str
) -> tuple[Any, Any]:
    graph = graph_of(model)
    used = {e.sender for e in subject.edges} | {e.receiver.node for e in subject.edges}
    if subject.edges:
        used.add(Node("out"))
    lay = layout(graph, used, collapse)
    fig = circuit_figure(graph, lay, subject.edges, subject.weights, title or subject.title, subject.note, prefix)
    return fig, lay


def draw(
    model: GraphSource,
    thing: Any,
    path: str | Path,
    scores: Mapping[Edge | str, float] | None = None,
    title: str | None = None,
    *,
    collapse: bool | None = None,
    max_edges: int = 300,
    n_pos: int | None = None,
    positions: dict[str, int] | None = None,
    note: str | None = None,
) -> Drawing:
    """Draw ``thing`` on ``model``'s graph; write ``<path stem>.svg`` and ``<path stem>.png``.

    ``thing``: a Hypothesis, a discovery Circuit, a dict ``{edge: score}``, an edge-scan ScanTable,
    or a report row saved with its hypothesis (see :mod:`.subject`). ``scores`` weigh the edges of
    a hypothesis or circuit (width and opacity ∝ ``|score|``). ``collapse``: fold unused heads
    (default: when the model has more than 32 heads). ``max_edges``: most edges drawn from scores.
    ``n_pos``/``positions``: for hypotheses that name positions (their edges, positions dropped).
    ``note``: the line under the title (default: what is drawn, e.g. "12 edges on its 30
    position-free paths").
    """
    if isinstance(max_edges, bool) or not isinstance(max_edges, int) or max_edges < 1:
        raise InputError(f"max_edges must be a positive int, got {max_edges!r}")
    base = Path(path)
    if base.suffix.lower() in (".png", ".svg"):
        base = base.with_suffix("")
    if not base.name:
        raise InputError(f"draw needs a file path such as 'circuit.png', got {str(path)!r}")
    graph = graph_of(model)
    _check_circuit(model, thing)
    subject = subject_of(thing, graph, scores, max_edges, n_pos, positions)
    if note is not None:
        subject = replace(subject, note=note)
    fig, lay = _figure(graph, subject, title, collapse, "c")
    base.parent.mkdir(parents=True, exist_ok=True)
    svg, png = base.with_name(base.name + ".svg"), base.with_name(base.name + ".png")
    plt = pyplot()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "pathpatch"}):
        fig.savefig(svg, metadata={"Date": None})
    fig.savefig(png, dpi=150)
    plt.close(fig)
    return Drawing(svg, png, tuple(b.label for b in lay.boxes), subject.edges)


def circuit_svg(
    model: GraphSource,
    thing: Any,
    prefix: str,
    scores: Mapping[Edge | str, float] | None = None,
    title: str | None = None,
    max_edges: int = 300,
) -> tuple[str, Subject]:
    """The diagram as SVG text to inline in HTML (ids start with ``prefix``), and its subject."""
    graph = graph_of(model)
    _check_circuit(model, thing)
    subject = subject_of(thing, graph, scores, max_edges)
    fig, _ = _figure(graph, subject, title, None, prefix)
    buf = io.StringIO()
    plt = pyplot()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": prefix}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    return inline_svg(buf.getvalue(), prefix), subject


def inline_svg(text: str, prefix: str) -> str:
    """SVG file text made fit to inline in HTML: no XML prolog, DOCTYPE or metadata, and every id
    (and reference to one) prefixed with ``prefix`` unless it already starts with it."""
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)

    def fix(name: str) -> str:
        return name if name.startswith(prefix + ":") else f"{prefix}-{name}"

    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{fix(m.group(1))}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{fix(m.group(1))})", text)
    return re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{fix(m.group(1))}"', text)
