"""Circuits and edge scores in MIB's circuit-submission format (the importance-score JSON).

MIB's circuit track (Mueller et al. 2025) reads one JSON object per task and model, as its
``Graph.from_json`` loads it:

- ``"cfg"``: ``n_layers``, ``n_heads``, ``parallel_attn_mlp`` and ``d_model``, from which MIB
  rebuilds the graph;
- ``"nodes"``: ``{name: {"in_graph": bool}}`` for every node: ``"input"`` (the token and position
  embeddings), heads ``"a{layer}.h{head}"``, MLPs ``"m{layer}"`` and ``"logits"`` (always in the graph);
- ``"edges"``: ``{name: {"score": float, "in_graph": bool}}`` for every edge, named
  ``"{sender}->{receiver}"``, with the channel for a head receiver: ``"a0.h1->a1.h2<q>"``,
  ``"input->m0"``, ``"m11->logits"``. Without ``"score"`` it is the multiple-circuits format (one file
  per circuit size, membership only).

The names map one to one onto pathpatch's graph (``embed`` ↔ ``input``, ``a0.1`` ↔ ``a0.h1``,
``m0`` ↔ ``m0``, ``out`` ↔ ``logits``, ``a1.2.q`` ↔ ``a1.h2<q>``), and the edges are the same
(GPT-2 small: 32,491, as in MIB's example file ``circuits/ioi-eap-ig.json``), written in MIB's
order, but for the inputs: MIB's one ``input`` node is the sum of the token and position
embeddings, pathpatch's graph has ``embed`` and ``pos``. An edge ``input->X`` stands for both
``embed -> X`` and ``pos -> X``: its score is the sum of theirs (what attribution gives the summed
embedding: EAP's estimate is linear in the sender's change, and under resampling the positions do
not change), and it is in the graph when either is. An attention-only model is written with the
edges it has (MIB's loader would add MLP nodes with no scores).

Scores keep pathpatch's sign (positive: removing the edge hurts the behaviour). MIB's own EAP
scores are (corrupted − clean activation) · ∇(−m), its metric negated into a loss
(``run_attribution.py``), so theirs are positive in the same case, and its signed ranking puts the
same edges first. A node is ``in_graph`` when an in-graph edge
touches it; ``logits`` always is. A path-level circuit is written as its edges (MIB evaluates edge
sets: the subgraph of those edges holds more paths than the path set itself).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import numpy as np

from ..errors import InputError
from ..graph import CHANNELS, Edge, Graph, GraphSource, Node, Port, graph_of
from .circuit import Circuit, edges_in_order
from .eap import EdgeScores

__all__ = [
    "mib_node_name",
    "mib_edge_name",
    "parse_mib_node",
    "parse_mib_edge",
    "mib_edges",
    "to_mib",
    "write_mib",
    "read_mib",
    "MibFile",
]

_NODE = re.compile(r"^(input|logits|a(\d+)\.h(\d+)|m(\d+))$")
_EDGE = re.compile(r"^([^<>]+)->([^<>]+?)(?:<([qkv])>)?$")


def mib_node_name(node: Node) -> str:
    """MIB's name of a pathpatch node (``embed`` → ``input``, ``a0.1`` → ``a0.h1``, ``out`` → ``logits``)."""
    if node.kind == "embed":
        return "input"
    if node.kind == "out":
        return "logits"
    if node.kind == "head":
        return f"a{node.layer}.h{node.head}"
    if node.kind == "mlp":
        return f"m{node.layer}"
    raise InputError(
        f"node {node.name} has no name of its own in MIB's graph, whose one input node holds the embeddings"
    )


def mib_edge_name(edge: Edge) -> str:
    """MIB's name of a pathpatch edge: ``a0.1 -> a1.2.q`` → ``a0.h1->a1.h2<q>``."""
    sender, receiver = mib_node_name(edge.sender), mib_node_name(edge.receiver.node)
    return f"{sender}->{receiver}" + (f"<{edge.receiver.channel}>" if edge.receiver.channel else "")


def parse_mib_node(name: str) -> Node:
    m = _NODE.match(name)
    if not m:
        raise InputError(f"{name!r} is not a MIB node name (input, aL.hH, mL or logits)")
    if name == "input":
        return Node("embed")
    if name == "logits":
        return Node("out")
    if m.group(2) is not None:
        return Node("head", int(m.group(2)), int(m.group(3)))
    return Node("mlp", int(m.group(4)))


def parse_mib_edge(name: str) -> Edge:
    """The pathpatch edge of a MIB edge name (``"a0.h1->a1.h2<q>"``)."""
    m = _EDGE.match(name)
    if not m:
        raise InputError(f"{name!r} is not a MIB edge name (sender->receiver, with <q>, <k> or <v> into a head)")
    sender, receiver, channel = parse_mib_node(m.group(1)), parse_mib_node(m.group(2)), m.group(3)
    if (receiver.kind == "head") != (channel is not None) or sender.kind == "out" or receiver.kind == "embed":
        raise InputError(f"{name!r} is not a MIB edge: a head is entered through <q>, <k> or <v>, nothing else is")
    return Edge(sender, Port(receiver, channel))


def mib_edges(model_or_graph: GraphSource) -> tuple[tuple[str, tuple[Edge, ...]], ...]:
    """MIB's edges of the graph, in the order MIB builds them (layer by layer: each head's q, k and
    v from every earlier writer, then the MLP from every earlier writer and its layer's heads; last
    ``logits`` from every writer), each with the pathpatch edges it stands for: one, or for an edge
    from ``input`` the edges from ``embed`` and from ``pos`` (MIB's one input node holds both)."""
    graph = graph_of(model_or_graph)
    cfg = graph.config
    inputs = [n for n in (Node("embed"), Node("pos")) if n in graph.inputs]
    written: list[Node] = [Node("embed")]
    order: list[Port] = []
    senders: list[list[Node]] = []
    for layer in range(cfg.n_layers):
        heads = [Node("head", layer, h) for h in range(cfg.n_heads)]
        mlp = [Node("mlp", layer)] if cfg.d_mlp is not None else []
        for u in written:
            for h in heads:
                order += [Port(h, c) for c in CHANNELS]
                senders += [[u]] * len(CHANNELS)
        if cfg.parallel:
            order += [Port(m) for u in written for m in mlp]
            senders += [[u] for u in written for _ in mlp]
            written += heads + mlp
        else:
            written += heads
            order += [Port(m) for u in written for m in mlp]
            senders += [[u] for u in written for _ in mlp]
            written += mlp
    order += [Port(Node("out")) for _ in written]
    senders += [[u] for u in written]
    out: list[tuple[str, tuple[Edge, ...]]] = []
    for port, (u,) in zip(order, senders):
        group = inputs if u == Node("embed") else [u]
        edges = tuple(Edge(v, port) for v in group if Edge(v, port) in graph.edge_set)
        out.append((mib_edge_name(edges[0]), edges))
    covered = [e for _, group in out for e in group]
    if set(covered) != graph.edge_set or len(covered) != len(graph.edge_set):
        raise InputError(f"the graph of {graph.config} does not have MIB's edges; export a GPT-2-style model")
    return tuple(out)


def _cfg(graph: Graph) -> dict[str, Any]:
    cfg = graph.config
    return {"n_layers": cfg.n_layers, "n_heads": cfg.n_heads, "parallel_attn_mlp": cfg.parallel, "d_model": cfg.d_model}


def to_mib(
    model_or_graph: GraphSource,
    scores: EdgeScores | None = None,
    circuit: Circuit | Iterable[Edge] | None = None,
) -> dict[str, Any]:
    """The MIB JSON object (module docs) of ``scores`` (every edge's score; None writes the
    membership-only format) and ``circuit`` (the edges ``in_graph``; None: no edge)."""
    graph = graph_of(model_or_graph)
    groups = mib_edges(graph)
    if scores is not None and (set(scores.edges) != graph.edge_set or len(scores.edges) != len(graph.edge_set)):
        raise InputError(
            f"the scores rank {len(scores.edges)} edges, not the {len(graph.edge_set)} of this model's graph; "
            "score this model's edges (eap(model, ...))"
        )
    kept = set(circuit.edges if isinstance(circuit, Circuit) else circuit or ())
    if kept - graph.edge_set:
        raise InputError(
            f"the circuit holds edges this model lacks: {sorted(e.name for e in kept - graph.edge_set)[:3]}"
        )
    score = scores.as_dict() if scores is not None else {}
    edges: dict[str, dict[str, Any]] = {}
    for name, group in groups:
        entry: dict[str, Any] = {"score": sum(score[e] for e in group)} if scores is not None else {}
        entry["in_graph"] = any(e in kept for e in group)
        edges[name] = entry
    touched = {e.sender for e in kept} | {e.receiver.node for e in kept} | {Node("out")}
    touched |= {Node("embed")} if Node("pos") in touched else set()
    nodes = {mib_node_name(n): {"in_graph": n in touched} for n in graph.nodes if n.kind != "pos"}
    return {"cfg": _cfg(graph), "nodes": nodes, "edges": edges}


def write_mib(
    path: str | FilePath,
    model_or_graph: GraphSource,
    scores: EdgeScores | None = None,
    circuit: Circuit | Iterable[Edge] | None = None,
) -> FilePath:
    """Write :func:`to_mib` to ``path`` (MIB expects ``<task>_<model>/importances.json``)."""
    path = FilePath(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_mib(model_or_graph, scores, circuit)))
    return path


@dataclass(frozen=True)
class MibFile:
    """A MIB circuit file read back: its ``cfg``, every edge's score (None in the membership-only
    format) and the edges ``in_graph`` as an edge-level :class:`Circuit`."""

    cfg: dict[str, Any]
    scores: EdgeScores | None
    circuit: Circuit


def read_mib(source: str | FilePath | dict[str, Any], model_or_graph: GraphSource | None = None) -> MibFile:
    """Read a MIB circuit file (a path or the parsed object). Without a model, its edges are read as
    named (``input`` as ``embed``). With ``model_or_graph``, they must be that graph's MIB edges; the
    scores come in the graph's edge order, an ``input`` edge's score on its ``embed`` edge (0 on the
    ``pos`` edge), and an ``input`` edge in the circuit keeps both."""
    data = json.loads(FilePath(source).read_text()) if not isinstance(source, dict) else source
    if not isinstance(data, dict) or not {"cfg", "nodes", "edges"} <= set(data):
        raise InputError("not a MIB circuit file: it needs the keys 'cfg', 'nodes' and 'edges' (MIB's Graph.to_json)")
    entries: dict[str, dict[str, Any]] = data["edges"]
    for name in data["nodes"]:
        parse_mib_node(name)
    has_scores = all("score" in v for v in entries.values())
    for name, v in entries.items():
        if "in_graph" not in v or (has_scores and not math.isfinite(float(v["score"]))):
            raise InputError(f"MIB edge {name!r} needs 'in_graph' (and a finite 'score' in the importance format)")
    groups: tuple[tuple[str, tuple[Edge, ...]], ...]
    if model_or_graph is None:
        groups = tuple((name, (parse_mib_edge(name),)) for name in entries)
    else:
        groups = mib_edges(model_or_graph)
        if {name for name, _ in groups} != set(entries):
            raise InputError(
                f"the file has {len(entries)} edges, this model's graph {len(groups)} MIB edges; "
                f"cfg {data['cfg']} against {graph_of(model_or_graph).config}"
            )
    order = tuple(e for _, group in groups for e in group)
    if model_or_graph is not None:
        order = graph_of(model_or_graph).edges
    score: dict[Edge, float] = {}
    kept: set[Edge] = set()
    for name, group in groups:
        entry = entries[name]
        for i, e in enumerate(group):
            score[e] = float(entry["score"]) if has_scores and i == 0 else 0.0
            if bool(entry["in_graph"]):
                kept.add(e)
    scores = None
    if has_scores:
        values = np.array([score[e] for e in order])
        scores = EdgeScores(order, values, {"algorithm": "mib file", "format": "MIB importance scores"})
    return MibFile(dict(data["cfg"]), scores, Circuit(edges_in_order(kept, order), found_by={"algorithm": "mib file"}))
