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
    # --- node and receiver cuts run as patched forwards (engine/cuts.py, cutforward.py, lang/nodecut.py) ---
    Mutation(
        "cut-unchanged-recomputed",
        E + "cutforward.py",
        "x = torch.where(self.changed[:, None, :, None], x, off)",
        "x = x",
        "a cut's forward recomputes positions nothing changed instead of keeping the base run's values",
    ),
    Mutation(
        "cut-full-recomputed",
        E + "cutforward.py",
        "full[j, t - p0] = below <= nodes",
        "full[j, t - p0] = False",
        "a cut's forward recomputes a node whose whole input is the other run's (mean, zero ablation)",
    ),
    Mutation(
        "cut-keys-not-spread",
        E + "cutforward.py",
        "return Masks(self.changed.cummax(1).values, heads_full, self.pos_on)",
        "return Masks(self.changed, heads_full, self.pos_on)",
        "after a layer's heads, a change at t is taken to stay at t (later queries read it as a key)",
    ),
    Mutation(
        "cut-window-rotated-from-zero",
        E + "cutforward.py",
        "k = model._rotate(k, torch.arange(start, start + x.shape[2], device=x.device))",
        "k = model._rotate(k, torch.arange(0, x.shape[2], device=x.device))",
        "rotary keys of a window that starts at p0 rotated as if it started at 0",
    ),
    Mutation(
        "cut-prefix-keys-from-other-run",
        E + "cutforward.py",
        "k0, v0 = runs.keys(off, layer)",
        "k0, v0 = runs.keys(runs.runs[False][0], layer)",
        "keys and values before a cut's window taken from the clean run whatever the base run",
    ),
    Mutation(
        "cut-residual-at-embedding",
        E + "cuts.py",
        "x[j, :, t - p0] += on.stage_inputs[first][:, t] - off.stage_inputs[first][:, t]",
        "x[j, :, t - p0] += on.stage_inputs[0][:, t] - off.stage_inputs[0][:, t]",
        "a residual cut restores the residual at the embedding instead of after its block",
    ),
    Mutation(
        "receiver-dropped-sign",
        E + "cuts.py",
        "x[j] += other.outputs[e.sender] - base.outputs[e.sender]",
        "x[j] -= other.outputs[e.sender] - base.outputs[e.sender]",
        "a receiver cut subtracts the dropped sender's difference with the wrong sign",
    ),
    Mutation(
        "receiver-all-dropped-recomputed",
        E + "cuts.py",
        "out[j] = other.outputs[receiver]",
        "pass",
        "a receiver whose every input is dropped is recomputed instead of taking the other run's value",
    ),
    Mutation(
        "cut-of-a-port",
        E + "../lang/automata.py",
        "if any(not n.is_input and any(Port(n, c) not in matched for c in n.channels) for n in nodes):",
        "if False:",
        "a pattern naming one port of a head (a1.2.k@3) taken for a cut of the whole head",
    ),
    Mutation(
        "cut-difference-as-union",
        E + "../lang/nodecut.py",
        'y_neg, op = not y_neg, "&"',
        'op = "|"',
        "the difference of two cuts taken as their union",
    ),
    Mutation(
        "cut-union-with-complement-reversed",
        E + "../lang/nodecut.py",
        "return drop - keep, True",
        "return keep - drop, True",
        "A | ~B taken as ~(A - B) instead of ~(B - A)",
    ),
    # --- edge cuts: positional edges into one receiver (lang/automata.py, lang/nodecut.py, engine/edgecut.py) ---
    Mutation(
        "edge-cut-through-a-gap",
        E + "../lang/automata.py",
        "if len(core) != 2 or not all(isinstance(el, LetterSet) for el in core):",
        "core = [el for el in core if isinstance(el, LetterSet)]\n            if len(core) != 2:",
        "a pattern with a gap between sender and receiver (a0.1 -> ... -> a1.2.k@3) taken for one edge",
    ),
    Mutation(
        "edge-cut-of-a-sender-port",
        E + "../lang/automata.py",
        "if not all(n.is_input or all(Port(n, c) in matched for c in n.channels) for n in nodes):",
        "if False:",
        "a sender named by one port (a0.1.v -> a1.2.k@3), a longer path, taken for the sender's edges",
    ),
    Mutation(
        "edge-cut-several-receivers",
        E + "../lang/nodecut.py",
        "if len({p.node for p in chosen}) != 1:",
        "if not chosen:",
        "edges into the ports of several heads taken for one receiver's cut",
    ),
    Mutation(
        "edge-cut-sender-positions-ignored",
        E + "../lang/nodecut.py",
        "        if s in at\n",
        "        if s >= 0\n",
        "the sender's positions of an edge pattern (a0.1@0 -> a1.1.k@1) ignored",
    ),
    Mutation(
        "edge-cut-keys-at-one-position",
        E + "../lang/nodecut.py",
        "for s in graph.sender_positions(p, t)",
        "for s in (t,)",
        "an edge into k or v taken to come only from the receiver's own position",
    ),
    Mutation(
        "edge-sender-delta-sign",
        E + "edgecut.py",
        "delta = (on.outputs[sender][:, key] - off.outputs[sender][:, key]).transpose(0, 1)",
        "delta = (off.outputs[sender][:, key] - on.outputs[sender][:, key]).transpose(0, 1)",
        "an edge cut's receiver reads the sender's difference with the wrong sign",
    ),
    Mutation(
        "edge-every-input-recomputed",
        E + "edgecut.py",
        "new = torch.where(every[:, None, None], on.outputs[receiver][:, at].transpose(0, 1), new)",
        "new = new",
        "a receiver copy whose every input is the on run's recomputed (mean, zero ablation)",
    ),
    Mutation(
        "edge-unchanged-positions-recomputed",
        E + "edgecut.py",
        "changed[hyp, at - p0] = True",
        "changed[:] = True",
        "an edge cut's forward recomputes positions whose receiver did not change",
    ),
    Mutation(
        "edge-receiver-delta-at-window-start",
        E + "edgecut.py",
        "x[hyp, :, at - p0] += delta",
        "x[hyp, :, at * 0] += delta",
        "the receiver's change added at the window's first position instead of its own",
    ),
    Mutation(
        "edge-query-at-last-key",
        E + "edgecut.py",
        "pattern = model.attend(q, k, at.view(n, 1, 1))",
        "pattern = model.attend(q, k)",
        "a receiver head's query taken at the longest cell's position, not its own",
    ),
    Mutation(
        "edge-keys-not-patched",
        E + "edgecut.py",
        "            x[cell, :, key] += delta\n",
        "            x[cell, :, key] += 0 * delta\n",
        "an edge into k or v does not change the receiver's keys or values",
    ),
    Mutation(
        "edge-out-delta-dropped",
        E + "edgecut.py",
        "x[hyp, :, at - p0] += (on.outputs[sender][:, at] - off.outputs[sender][:, at]).transpose(0, 1)",
        "x[hyp, :, at - p0] += 0",
        "an edge cut into out leaves out's input unchanged",
    ),
    Mutation(
        "edge-cut-count-suffix-at-sender",
        E + "../lang/nodecut.py",
        "counts.suffix[cut.receiver][e.receiver_at]",
        "counts.suffix[cut.receiver][e.sender_at]",
        "an edge cut's paths counted with the receiver's suffixes at the sender's position",
    ),
    Mutation(
        "walk-decided-copy-as-ref",
        E + "plan.py",
        "shared = by_steps[(node, t, steps)] = Cached(fixed.pop(), node, t)",
        "shared = by_steps[(node, t, steps)] = Cached(REF, node, t)",
        "a copy whose every row is fixed to one run is taken as the clean run's value",
    ),
    Mutation(
        "walk-decided-copy-ignores-both",
        E + "plan.py",
        "if len(fixed) == 1 and MIXED not in fixed and all(_not_both(p) for p in ports):",
        "if len(fixed) == 1 and MIXED not in fixed:",
        "a copy reading only inputs equal in both runs labelled by its rows' run instead of BOTH",
        equivalent="the clean or ablated value of such a copy is the value BOTH names; a parent row may then be "
        "MIXED where it could be NEW, computed exactly",
    ),
    Mutation(
        "edge-cut-walked-statistics",
        E + "cuts.py",
        "return cells + above * (n_pos - first)",
        "return above * n_pos",
        "an edge cut's computed copies counted over every position and without its receiver",
    ),
    Mutation(
        "cut-count-keys-one-position",
        E + "../lang/nodecut.py",
        'total = _add(total, _prefix(group_sums[g]) if c in ("k", "v") else group_sums[g])',
        "total = _add(total, group_sums[g])",
        "a cut's path count forgets that k and v read every earlier position",
    ),
]
