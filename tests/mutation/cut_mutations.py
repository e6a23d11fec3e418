"""Hand-made mutations of the cut routes: node, receiver and edge cuts run as patched forwards
(engine/cuts.py, cutforward.py, edgecut.py, lang/nodecut.py and the cut recognisers of
lang/automata.py), and the walk's shortcut for copies decided for one run (engine/plan.py).
Each replaces one exact snippet, like those of :mod:`engine_mutations`, which appends them."""

from __future__ import annotations

from engine_mutations import E, Mutation

__all__ = ["CUT_MUTATIONS"]

CUT_MUTATIONS = [
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
