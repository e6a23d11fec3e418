"""Graph entities and hypotheses pickled in one process work in another (string hashes differ
between processes, so a cached hash must never travel): what a worker of a cluster receives."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pathpatch as pp

CHECK = """
import pickle, sys
import pathpatch as pp
edge, hyp, table = pickle.loads(sys.stdin.buffer.read())
fresh = pp.Edge.parse("a0.1 -> a1.0.k")
assert hash(edge) == hash(fresh) and edge == fresh
assert table[fresh] == 1 and fresh.sender in {edge.sender} and fresh.receiver in {edge.receiver}
model = pp.native_model(pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8))
assert hyp.count(model) == pp.paths(["embed -> a1.*.v -> out", "embed -> out"]).count(model) == 3
print("ok")
"""


def test_entities_and_hypotheses_unpickle_in_a_process_with_other_string_hashes() -> None:
    edge = pp.Edge.parse("a0.1 -> a1.0.k")
    hyp = pp.paths(["embed -> a1.*.v -> out", "embed -> out"])
    model = pp.native_model(pp.NativeConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_vocab=20, n_ctx=8))
    hyp.count(model)  # compiled and cached on this side
    data = pickle.dumps((edge, hyp, {edge: 1}))
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", CHECK], input=data, capture_output=True, env=env, timeout=120)
        assert out.returncode == 0 and out.stdout.strip() == b"ok", out.stderr.decode()[-2000:]
