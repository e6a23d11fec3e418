"""The classic IOI path-patching analysis (Wang et al. 2022), on any model, from the data alone.

Every row is a position-resolved path-patching experiment on IOI pairs (x_new: the ABC
counterfactual), scored as the proportion of the logit difference IO − S that is *lost* when
x_new flows along the named paths only (1 − proportion explained of "every other path"):

1. **Direct effects at END**: each head's direct path ``aL.H@END -> out``. The heads that matter
   most are the candidates for Wang et al.'s *name movers* (heads at END that write the name).
2. **Senders into the name movers at END**, by channel: for each earlier node u and channel c in
   q, k, v, the edges ``u -> NM.c@END`` into every name mover at once. Wang et al. found the
   *S-inhibition* heads in the queries (they tell the name movers which name not to copy); what
   enters keys and values says where the name movers read the names from.
3. **Senders into the strongest query senders** at END, by channel, as in 2: in GPT-2 small the
   S-inhibition heads' values come from *induction* and *duplicate-token* heads at S2.

Roles are named by where a head's effect enters, never by a label fixed in advance: the README
compares what is found with Wang et al.'s GPT-2 circuit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..data import Pairs
from ..graph import Graph
from ..lang.hypothesis import Hypothesis, all_paths, paths, through_edge
from ..model.residual import ResidualModel
from ..scoring import score

__all__ = ["ioi_roles", "direct_effects", "sender_effects", "CHANNELS"]

CHANNELS = ("q", "k", "v")


def _lost(
    model: ResidualModel, rows: dict[str, Hypothesis], pairs: Pairs, n_boot: int, batch_size: int
) -> dict[str, Any]:
    """For each row, the share of the effect lost when x_new flows along its paths only."""
    named = {name: all_paths() - h for name, h in rows.items()}
    report = score(model, named, pairs, delta="logit_diff", n_boot=n_boot, batch_size=batch_size, progress=False)
    out = {}
    for name in rows:
        pe = report[name].metrics["proportion_explained"]
        out[name] = {"lost": 1 - pe.value, "low": 1 - pe.high, "high": 1 - pe.low}
    return out


def _layer(graph: Graph, head: str) -> int:
    layer = graph.node(head).layer
    assert layer is not None, f"{head} is a head"
    return layer


def _heads(graph: Graph) -> list[str]:
    return [n.name for n in graph.nodes if n.name.startswith("a")]


def _ranked(effects: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(effects.items(), key=lambda kv: -kv[1]["lost"])


def direct_effects(model: ResidualModel, pairs: Pairs, n_boot: int = 200, batch_size: int = 48) -> dict[str, Any]:
    """Step 1 (module docs): each head's direct path at END, by head name."""
    rows = {h: paths(f"{h}@END -> out") for h in _heads(model.graph)}
    return _lost(model, rows, pairs, n_boot, batch_size)


def sender_effects(
    model: ResidualModel, pairs: Pairs, receivers: list[str], n_boot: int = 200, batch_size: int = 48
) -> dict[str, dict[str, Any]]:
    """Steps 2 and 3 (module docs): channel -> sender -> the effect of its edges into every
    receiver head's channel at END (senders: every node before the first receiver's layer)."""
    graph = model.graph
    first = min(_layer(graph, r) for r in receivers)
    senders = [n.name for n in graph.nodes if n.name not in ("out",) and (n.layer is None or n.layer < first)]
    rows: dict[str, Hypothesis] = {}
    for channel in CHANNELS:
        for u in senders:
            hyp = None
            for r in receivers:
                edge = through_edge(u, f"{r}.{channel}@END")
                hyp = edge if hyp is None else hyp | edge
            assert hyp is not None
            rows[f"{channel} {u}"] = hyp
    lost = _lost(model, rows, pairs, n_boot, batch_size)  # one engine call: the rows share their copies
    return {c: {u: lost[f"{c} {u}"] for u in senders} for c in CHANNELS}


def _top(effects: dict[str, Any], k: int, at_least: float) -> list[str]:
    return [name for name, e in _ranked(effects)[:k] if e["lost"] >= at_least]


def ioi_roles(
    model: ResidualModel,
    pairs: Pairs,
    n_boot: int = 200,
    batch_size: int = 48,
    top: int = 3,
    at_least: float = 0.05,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Steps 1 to 3 (module docs) on IOI ``pairs``: the effects, and the heads chosen at each step
    (the ``top`` largest losses of at least ``at_least``)."""
    direct = direct_effects(model, pairs, n_boot, batch_size)
    movers = _top(direct, top, at_least)
    result: dict[str, Any] = {"direct": direct, "name_movers": movers}
    echo("  IOI, direct paths at END: " + ", ".join(f"{h} {e['lost']:.2f}" for h, e in _ranked(direct)[:5]))
    if not movers:
        return result
    into_movers = sender_effects(model, pairs, movers, n_boot, batch_size)
    result["into_movers"] = into_movers
    heads = {c: {u: e for u, e in eff.items() if u.startswith("a")} for c, eff in into_movers.items()}
    inhibitors = _top(heads["q"], top, at_least)
    result["query_senders"] = inhibitors
    for c in CHANNELS:
        echo(
            f"  IOI, into {'/'.join(movers)}.{c}@END: "
            + ", ".join(f"{u} {e['lost']:.2f}" for u, e in _ranked(into_movers[c])[:4])
        )
    if inhibitors and min(_layer(model.graph, h) for h in inhibitors) > 0:
        into_senders = sender_effects(model, pairs, inhibitors, n_boot, batch_size)
        result["into_query_senders"] = into_senders
        for c in CHANNELS:
            echo(
                f"  IOI, into {'/'.join(inhibitors)}.{c}@END: "
                + ", ".join(f"{u} {e['lost']:.2f}" for u, e in _ranked(into_senders[c])[:4])
            )
    return result
