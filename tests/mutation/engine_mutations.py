"""Hand-made engine-level mutations: plausible ways to write a wrong engine.

Each entry replaces one exact snippet (it must occur once in the file) by a wrong variant. An
entry with ``equivalent`` set is provably harmless and is reported apart (a control: the
harness must not count it as a missing test).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Mutation", "MUTATIONS"]

E = "src/pathpatch/engine/"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    description: str
    equivalent: str | None = None


MUTATIONS = [
    # --- the core engine bugs the mutation tests were first written for ---
    Mutation(
        "swap-ref-new-v",
        E + "schedule.py",
        "sources.append(CachedInput(NEW if row.label == NEW else REF, port, row_span, row.t))",
        'sources.append(CachedInput((REF if row.label == NEW else NEW) if channel == "v" else NEW if row.label '
        "== NEW else REF, port, row_span, row.t))",
        "a v channel that reads one run's cached input reads the other run's",
    ),
    Mutation(
        "swap-ref-new-pos-k",
        E + "schedule.py",
        "sources.append(CachedInput(NEW if row.label == NEW else REF, port, row_span, row.t))",
        'sources.append(CachedInput((REF if row.label == NEW else NEW) if channel == "k" and row.t is not None '
        "else NEW if row.label == NEW else REF, port, row_span, row.t))",
        "position-resolved: a cached k row reads the other run's input",
    ),
    Mutation(
        "drop-sender-delta",
        E + "schedule.py",
        "            for child in children:\n                if isinstance(child, Mixed):",
        "            for child in children[1:]:\n                if isinstance(child, Mixed):",
        "a summed row leaves out its first summed sender's delta (embed's, or the first of its tail)",
    ),
    Mutation(
        "drop-sender-delta-pos",
        E + "schedule.py",
        "children = row.children[start:]",
        "children = row.children[start + 1:] if row.t is not None else row.children[start:]",
        "position-resolved: a summed row leaves out its first summed sender's delta",
    ),
    Mutation(
        "prefix-parent-base-kept",
        E + "execute.py",
        "total[here] += earlier - inputs.at([e.base for e in group.extend])",
        "total[here] += earlier",
        "a row that extends an earlier row counts the earlier row's base input twice",
    ),
    Mutation(
        "kv-wrong-position",
        E + "plan.py",
        "channels = tuple(tuple(row(p, u, q) for u in _positions(p, t)) for p, q in zip(ports, steps))",
        'channels = tuple(tuple(row(p, t if p.channel == "v" else u, q) for u in _positions(p, t)) '
        "for p, q in zip(ports, steps))",
        "a v channel reads its senders at the query position, not at each key position",
    ),
    Mutation(
        "copy-shared-across-states",
        E + "plan.py",
        "key = (node, t, state)",
        "key = (node, t)",
        "copies memoised on the node and position alone: one copy reused for different automaton states",
    ),
    Mutation(
        "steps-from-start",
        E + "plan.py",
        "steps = tuple(dfa.step(state, letter(p, t)) for p in ports)",
        "steps = tuple(dfa.step(dfa.start, letter(p, t)) for p in ports)",
        "a copy's ports stepped from the start state instead of the copy's own state",
    ),
    Mutation(
        "dead-at-too-strict",
        E + "../lang/automata.py",
        "stage = stages[k - 1] - 1",
        "stage = stages[k - 1] - 3",
        "the stage pruning declares a pattern dead although its letters can still occur below",
    ),
    Mutation(
        "subgraph-inputs-new",
        E + "edgeplan.py",
        "copy[node] = Cached(BOTH if node in both else on, node)",
        "copy[node] = Cached(BOTH if node in both else off, node)",
        "the one-pass subgraph planner reads kept inputs from x_new",
    ),
    Mutation(
        "subgraph-alive-ignores-kept",
        E + "edgeplan.py",
        "alive.update(u for u, k in zip(graph.senders(p), kept[p]) if k)",
        "alive.update(u for u, k in zip(graph.senders(p), kept[p]) if k and u.kind != 'mlp')",
        "the one-pass subgraph planner forgets that MLPs on kept edges need copies",
    ),
    Mutation(
        "dropped-cut-kept",
        E + "edgeplan.py",
        "row[index[u]] = Cached(BOTH if u in both else off, u)",
        "row[index[u]] = Cached(BOTH if u in both else on, u)",
        "the dropped-edge planner reads a dropped edge's sender from the clean run",
    ),
    Mutation(
        "dropped-rows-shared-across-ports",
        E + "edgeplan.py",
        "key = _RowKey(graph.sender_group(port), port if port in into else None)",
        "key = _RowKey(graph.sender_group(port), None)",
        "the dropped-edge planner shares a receiver's row with every port of its sender group",
    ),
    Mutation(
        "dropped-complement-unswapped",
        E + "edgeplan.py",
        "    on, off = (NEW, REF) if dfa.negated else (REF, NEW)\n    dropped",
        "    on, off = (REF, NEW)\n    dropped",
        "the dropped-edge planner forgets that a complement swaps REF and NEW",
    ),
    Mutation(
        "edge-lowest-stage-off-by-one",
        E + "../lang/edges.py",
        "return state in (_OK, None) and self._lowest > stage",
        "return state in (_OK, None) and self._lowest >= stage",
        "edge automaton: declared decided at the stage of a dropped edge's receiver",
    ),
    Mutation(
        "row-shared-across-states",
        E + "plan.py",
        "key = (graph.sender_group(port), t, fixed or q)",
        "key = (graph.sender_group(port), t, fixed)",
        "rows memoised without the automaton state",
    ),
    Mutation(
        "forget-reader-bias",
        E + "cache.py",
        "        if not cfg.has_mlp or cfg.parallel:\n            resid = resid + model.b_O[layer]",
        "        if not cfg.has_mlp or cfg.parallel:\n            pass",
        "the attention output bias b_O is not added to later readers (attention-only / parallel models)",
    ),
    Mutation(
        "forget-reader-bias-mlp",
        E + "cache.py",
        "                resid = resid + model.b_O[layer]\n",
        "",
        "b_O not added before a sequential MLP reads the residual",
    ),
    # --- more plausible engine bugs ---
    Mutation(
        "pattern-from-wrong-run",
        E + "copies.py",
        "return REF if qk <= {REF} else NEW if qk == {NEW} else None",
        "return NEW if qk <= {REF} else REF if qk == {NEW} else None",
        "a head whose q and k are cached reuses the other run's attention pattern",
    ),
    Mutation(
        "pattern-reuse-ignores-k",
        E + "copies.py",
        "qk = {self.labels[0], self.labels[1]} - {BOTH}",
        "qk = {self.labels[0]} - {BOTH}",
        "a head reuses a cached pattern when only its q is cached (its k is mixed)",
    ),
    Mutation(
        "exec-pattern-run-swapped",
        E + "execute.py",
        "run = ablated if label == NEW else clean",
        "run = clean if label == NEW else ablated",
        "a cached attention pattern read from the other run",
    ),
    Mutation(
        "pos-pattern-run-swapped",
        E + "execute.py",
        "run = ablated if label == NEW else clean",
        "run = (clean if label == NEW else ablated) if copy.t is not None else ablated if label == NEW else clean",
        "position-resolved copies: a cached attention row read from the other run",
    ),
    Mutation(
        "mixed-from-clean-sign",
        E + "schedule.py",
        "ref.add(r, self.column(copy.node, copy.t), -1.0)",
        "ref.add(r, self.column(copy.node, copy.t), 1.0)",
        "clean-based rows add the (clean - ablated) delta of a mixed child instead of subtracting it",
    ),
    Mutation(
        "from-clean-flipped",
        E + "schedule.py",
        "from_clean = kinds.count(NEW) + 2 * n_m < kinds.count(REF) + n_m",
        "from_clean = kinds.count(NEW) + 2 * n_m > kinds.count(REF) + n_m",
        "rows take the other of the two equal forms of the sum",
        equivalent="both forms are the same sum (ablated + Σ_REF Δ + Σ_M Δ_M = clean - Σ_NEW Δ + Σ_M (Δ_M - Δ)); "
        "only float rounding and speed differ",
    ),
    Mutation(
        "shortformer-k-without-pos",
        "src/pathpatch/graph.py",
        'if port.channel in ("q", "k"):',
        'if port.channel in ("q",):',
        "shortformer: the graph (so the cached k input) lacks the edge pos -> k",
    ),
    Mutation(
        "port-input-memo-by-stage",
        E + "execute.py",
        "key = (run, self.graph.sender_group(port), span)",
        "key = (run, self.graph.stage_of(port.node), span)",
        "shortformer: cached q/k inputs (with pos) and v inputs (without) share one memo entry",
    ),
    Mutation(
        "k-read-at-rows-only",
        E + "schedule.py",
        'if not (narrow[i] and channel not in ("k", "v")):',
        'if not (narrow[i] and channel not in ("v",)):',
        "targets: copies read through k by row-only heads are computed at the target rows only",
    ),
    Mutation(
        "causal-mask-diagonal",
        "src/pathpatch/model/residual.py",
        "after = torch.arange(n_k, device=q.device) > q_pos[..., None]",
        "after = torch.arange(n_k, device=q.device) >= q_pos[..., None]",
        "a query cannot attend to its own position",
    ),
    Mutation(
        "gqa-key-head",
        E + "heads.py",
        "_project(model.W_K[layer], model.b_K[layer], norm(k), t, kv_heads[t])",
        "_project(model.W_K[layer], model.b_K[layer], norm(k), t, heads[t] % model.W_K.shape[1])",
        "grouped-query attention: keys projected with the query head's index, not its key/value head's",
    ),
    Mutation(
        "negative-position-kept",
        "src/pathpatch/positions.py",
        "out[name] = t.long().cpu() % n_pos",
        "out[name] = t.long().cpu().clamp(min=0)",
        "named positions counted from the end are not converted",
    ),
    Mutation(
        "inputs-both-always",
        E + "api.py",
        "if resample and torch.equal(clean.outputs[n], ablated.outputs[n])",
        "if resample",
        "every input is taken as equal in both runs under resampling",
    ),
    Mutation(
        "mean-over-ref",
        E + "api.py",
        "means = mean_outputs(model, new_tokens if new_tokens is not None else ref_tokens)",
        "means = mean_outputs(model, ref_tokens)",
        "mean ablation averages over x_ref instead of x_new",
    ),
    Mutation(
        "delta-base-clean",
        E + "execute.py",
        "x = self.runs[NEW].outputs[node]",
        "x = self.runs[REF].outputs[node]",
        "a mixed copy's delta is taken against the clean output instead of the ablated one",
    ),
    Mutation(
        "pos-pattern-wrong-query",
        E + "heads.py",
        "return pattern[:, t : t + 1, :width]",
        "return pattern[:, width - 1 : width, :width]",
        "position-resolved: a cached attention row taken at the stage's last query position",
    ),
    Mutation(
        "delta-base-clean-pos",
        E + "execute.py",
        "base = torch.stack([ablated.outputs[n].transpose(0, 1) for n in senders])",
        "base = torch.stack([clean.outputs[n].transpose(0, 1) for n in senders])",
        "position-resolved: a mixed copy's delta is taken against the clean output",
    ),
    Mutation(
        "point-delta-wrong-position",
        E + "execute.py",
        "at = [self.row_of[c.node] * self.n_pos + _position(c.t) for c in copies]",
        "at = [self.row_of[c.node] * self.n_pos + (_position(c.t) + 1) % self.n_pos for c in copies]",
        "position-resolved: a copy's delta is taken against its node's ablated output at the next position",
    ),
    Mutation(
        "point-query-last-position",
        E + "heads.py",
        "return self.t[chosen][:, None, None] if self.t is not None else None",
        "return self.t[chosen].max().expand(len(chosen))[:, None, None] if self.t is not None else None",
        "position-resolved: every head copy of a stage queries from the stage's last position",
    ),
    Mutation(
        "key-pairs-decoded-wrong",
        E + "heads.py",
        "out = per_head(x[pairs % len(x)], w, pairs // len(x))[inverse]",
        "out = per_head(x[pairs // len(x) % len(x)], w, pairs % w.shape[0])[inverse]",
        "deduplicated (head, input) pairs decoded into the wrong head and input",
    ),
    Mutation(
        "keys-unpadded-at-zero",
        E + "execute.py",
        "+ [blank] * (width - len(sources))",
        "+ [0] * (width - len(sources))",
        "key positions after a copy's own read row 0 instead of the blank row",
        equivalent="those key positions come after the query and are masked (weight exactly 0)",
    ),
]

from cut_mutations import CUT_MUTATIONS  # noqa: E402  (they use Mutation, defined above)

MUTATIONS += CUT_MUTATIONS
