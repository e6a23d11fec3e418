"""ACDC: automatic circuit discovery by greedy edge removal (Conmy et al. 2023, arXiv 2304.14997).

Start from the full graph H and test every edge once, receivers in reverse topological order:

- **Order.** The reverse of ``model.graph.edges``: receivers from ``out`` back to layer 0 (``out``,
  the last MLP, the last layer's heads from the highest index down, ...), a head's ports v, k, q,
  and within a port the senders nearest first. :attr:`AcdcResult.tested` lists what was tested.
- **Test.** For edge e, effect(e) = m(H \\ {e}) − m(H), where m(H) is the mean over the pairs of
  ``delta(clean logits, logits of subgraph(H))`` (KL(clean ‖ H) for ``"kl"``); removed edges carry
  the ablated value (treeified edge patching, exactly ``pathpatch.subgraph``). If effect(e) <
  ``threshold``, H := H \\ {e}. Decisions are sequential: later tests see earlier removals.
- **Disconnected receivers.** A receiver with no kept edge left towards ``out`` is skipped and all
  of its incoming edges are removed untested, as ACDC's own code does. auto-circuit tests those
  edges too, but their effect is exactly 0 (no path through them is left), so it removes them for
  every threshold > 0 — the same circuit; at a threshold <= 0 ACDC's rule is kept.

Per-edge scores (:attr:`AcdcResult.scores`, for :func:`~pathpatch.discovery.roc.roc_auc`) are the
effects when tested (0.0, their exact effect, for edges removed untested). With a threshold > 0,
every kept edge scores >= ``threshold`` and every removed one less: the circuit cuts the ranking.

**Batching with speculation, exact.** A receiver's incoming edges (with the next receivers of
the same stage while they fit :data:`WINDOW`) form a window of candidates c_1..c_n. One engine
pass (:class:`~.cached.CachedScorer` over many ``subgraph`` hypotheses, sharing the cached runs and
every common copy) evaluates H \\ S for the sets S a guess of the outcomes implies: the chain H,
H\\{c_1}, H\\{c_1, c_2}, ... (c_k removed or kept as guessed; "removed" before anything is measured),
plus, in a window's first pass, every single removal H\\{c_k}. Then the sequential rule is
replayed on the measured values: c_k is decided while both m(H_{k-1}) and m(H_{k-1} \\ {c_k}) were
measured, so decisions stop at the latest just after the first wrong guess, and the next pass
starts there, guessing from the effects this pass measured. Wrong guesses cost passes, never exactness: every decision
compares the same two hypotheses as the one-at-a-time algorithm, measured in one pass.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from tqdm.auto import tqdm

from ..data import Pairs, check_pairs
from ..errors import ArgumentError
from ..graph import Edge, Node
from ..lang.hypothesis import Subgraph
from ..metrics import Delta
from ..model.residual import ResidualModel, check_model
from ..options import Ablation, Intervals, Options, will_score
from ..scoring import check_data, score_with
from .cached import CachedScorer
from .circuit import SEARCH_EXAMPLES, Circuit, edges_in_order, provenance

__all__ = ["acdc", "acdc_search", "AcdcResult"]

WINDOW = 64  # most candidates one pass speculates over: whole receivers of one stage (a larger one alone)

Removed = frozenset[Edge]


@dataclass(frozen=True)
class AcdcResult:
    """What :func:`acdc_search` found.

    Attributes:
        circuit: the kept edges as a :class:`Circuit` (scored unless ``score=False``).
        scores: every edge's effect when tested, m(H \\ {e}) − m(H) (0.0 for edges removed untested
            because their receiver no longer reached ``out``); larger means more important.
        tested: the edges tested, in the order they were tested.
    """

    circuit: Circuit
    scores: dict[Edge, float]
    tested: tuple[Edge, ...]


def _check_threshold(threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(
            f"threshold must be a number (the smallest metric increase that keeps an edge, "
            f"e.g. 0.01), got {type(threshold).__name__}"
        )
    if math.isnan(threshold):
        raise ArgumentError(
            "threshold is NaN; pass a number such as 0.01 (an edge is kept when removing it "
            "raises the metric by at least this much)"
        )
    if threshold < 0:
        raise ArgumentError(
            f"threshold must be >= 0, got {threshold:g}: a negative threshold keeps every edge (removing "
            "an edge never lowers the metric by more than nothing); pass e.g. 0.01, as `pathpatch discover "
            "acdc --threshold` does"
        )
    return float(threshold)


def _stages(edges: list[Edge], stage_of: Callable[[Node], int]) -> list[list[list[Edge]]]:
    """Per stage, from ``out`` back: the receivers' incoming edges, one list per receiver node."""
    stages: list[list[list[Edge]]] = []
    for e in edges:
        node = e.receiver.node
        if not stages or stage_of(stages[-1][-1][0].receiver.node) != stage_of(node):
            stages.append([[e]])
        elif stages[-1][-1][0].receiver.node != node:
            stages[-1].append([e])
        else:
            stages[-1][-1].append(e)
    return stages


class _Search:
    """The sequential ACDC state (removed edges, scores) and its speculative, batched evaluation."""

    def __init__(self, model: ResidualModel, pairs: Pairs, threshold: float, options: Options) -> None:
        self.model, self.pairs, self.threshold = model, pairs, threshold
        self.scorer = CachedScorer(model, pairs, options)  # the clean and ablated runs, kept across passes
        self.all = frozenset(model.graph.edges)
        self.removed: set[Edge] = set()
        self.scores: dict[Edge, float] = {}
        self.tested: list[Edge] = []
        self.passes = self.hypotheses = 0

    def measure(self, keys: list[Removed]) -> dict[Removed, float]:
        """m(H \\ S) for every removed set S in ``keys``, all in one engine pass."""
        hyps = {str(i): Subgraph(self.all - k) for i, k in enumerate(keys)}  # = subgraph(kept)
        values = self.scorer.aue(hyps)
        self.passes += 1
        self.hypotheses += len(keys)
        return {k: values[str(i)] for i, k in enumerate(keys)}

    def live(self, node: Node) -> bool:
        """Whether ``node`` still sends a kept edge (then, by induction, it reaches ``out``)."""
        graph = self.model.graph
        return node.kind == "out" or any(Edge(node, p) not in self.removed for p in graph.receivers[node])

    def window(self, candidates: list[Edge]) -> None:
        """Decide ``candidates`` (in order) exactly as the sequential algorithm, batched."""
        guess: dict[Edge, float] = {}  # an estimated effect per undecided edge; none yet: guess "remove"
        first = True
        while candidates:
            base = frozenset(self.removed)
            keys, chain, cur = {base: None}, {}, base
            for e in candidates:  # the chain the guesses imply
                chain[e] = (cur, cur | {e})
                keys[cur | {e}] = None
                if guess.get(e, -math.inf) < self.threshold:
                    cur = cur | {e}
            if first:  # single removals: the guesses past the first wrong one
                keys.update((base | {e}, None) for e in candidates)
            m = self.measure(list(keys))
            cur, done = base, 0
            for e in candidates:  # replay the sequential rule while the measured values allow it
                if cur | {e} not in m:
                    break
                effect = m[cur | {e}] - m[cur]
                self.scores[e] = effect
                self.tested.append(e)
                if effect < self.threshold:
                    cur = cur | {e}
                    self.removed.add(e)
                done += 1
            candidates = candidates[done:]
            # next guesses: the effects measured in this pass, relative to the base in a first pass,
            # else along the guessed chain (the context nearest to the true one)
            spans = {e: (base, base | {e}) for e in candidates} if first else {e: chain[e] for e in candidates}
            guess = {e: m[after] - m[before] for e, (before, after) in spans.items()}
            first = False


def acdc_search(
    model: ResidualModel,
    pairs: Pairs,
    threshold: float,
    delta: str | Delta = "kl",
    ablation: Ablation = "resample",
    batch_size: int = 32,
    max_memory: int | str | None = None,
    progress: bool = True,
    score: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
) -> AcdcResult:
    """ACDC on ``pairs``: the circuit, every edge's effect when tested, and the test order.

    See :func:`acdc` for the arguments and the module docs for the algorithm.
    """
    options = Options(delta, ablation, batch_size, progress, max_memory)
    check_model(model, "acdc")
    check_pairs(pairs, "acdc")
    threshold = _check_threshold(threshold)
    intervals = Intervals(n_boot=n_boot, seed=seed) if will_score(score, seed) else None
    check_data(model, pairs, options)
    start = time.perf_counter()
    graph = model.graph
    search = _Search(model, pairs, threshold, options)
    stages = _stages(list(reversed(graph.edges)), graph.stage_of)
    with tqdm(
        total=sum(len(s) for s in stages),
        desc=f"ACDC τ={threshold:g}",
        unit="receiver",
        disable=not progress,
        leave=False,
    ) as bar:
        for stage in stages:
            live = []
            for edges in stage:
                if search.live(edges[0].receiver.node):
                    live.append(edges)
                else:  # no path through it is left: every incoming edge goes, effect exactly 0
                    search.removed.update(edges)
                    search.scores.update((e, 0.0) for e in edges)
                    bar.update()
            while live:  # whole receivers, up to WINDOW candidates per window
                take = 1
                while take < len(live) and sum(map(len, live[: take + 1])) <= WINDOW:
                    take += 1
                search.window([e for edges in live[:take] for e in edges])
                live = live[take:]
                bar.update(take)
                bar.set_postfix(kept=len(graph.edges) - len(search.removed), passes=search.passes)
    kept = edges_in_order(search.all - search.removed, graph.edges)
    found_by = {
        "algorithm": "acdc",
        "threshold": threshold,
        "delta": options.delta_name,
        "ablation": options.ablation,
        "examples": len(pairs),
        "seed": seed,
        **provenance(model, pairs),
        "order": "reverse graph edge order",
        "edges": len(graph.edges),
        "kept": len(kept),
        "tested": len(search.tested),
        "passes": search.passes,
        "hypotheses": search.hypotheses,
        "seconds": round(time.perf_counter() - start, 3),
    }
    circuit = Circuit(kept, found_by=found_by, weights={e: search.scores.get(e, 0.0) for e in kept})
    if intervals is not None:
        report = score_with(model, {"acdc": circuit.hypothesis}, pairs, options.replace(progress=False), intervals)
        circuit = replace(circuit, score=report["acdc"], found_by={**found_by, "scored_on": SEARCH_EXAMPLES})
    scores = {e: search.scores.get(e, 0.0) for e in graph.edges}
    return AcdcResult(circuit, scores, tuple(search.tested))


def acdc(
    model: ResidualModel,
    pairs: Pairs,
    threshold: float,
    delta: str | Delta = "kl",
    ablation: Ablation = "resample",
    batch_size: int = 32,
    max_memory: int | str | None = None,
    progress: bool = True,
    score: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
) -> Circuit:
    """The ACDC circuit (Conmy et al. 2023) of ``model`` on ``pairs`` at ``threshold``.

    An edge is removed when removing it raises the metric (the mean ``delta`` between the clean
    logits and the circuit's, ``"kl"``: KL(clean ‖ circuit)) by less than ``threshold``.
    ``ablation``: what removed edges carry (``"resample"``: x_new; ``"mean"``, ``"zero"``).
    ``batch_size``, ``max_memory``: as in :func:`pathpatch.score`. ``score``: score the circuit
    with :func:`pathpatch.score` (same delta and ablation; ``n_boot`` resamples, ``seed``) as
    ``circuit.score``. ``circuit.found_by`` records the parameters and the search's costs: engine
    ``passes``, ``hypotheses`` evaluated in them, edges ``tested`` and wall ``seconds`` (scoring
    not included). For per-edge
    scores (ROC curves) use :func:`acdc_search`, which returns them with the circuit.
    """
    return acdc_search(
        model, pairs, threshold, delta, ablation, batch_size, max_memory, progress, score, n_boot, seed
    ).circuit
