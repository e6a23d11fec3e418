"""Node and edge scans: the same numbers as scoring each hypothesis on its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pathpatch as pp
from conftest import tiny_model
from pathpatch.graph import Edge, Node, Path
from pathpatch.render import plot_head_scan
from pathpatch.scans import (
    ScanKind,
    ScanTable,
    edge_scan,
    node_scan,
    path_scan,
    row_subject,
    sender_scan,
)
from tolerance import REDUCTION, approx, close

pytestmark = pytest.mark.numeric


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    model = tiny_model("shortformer", 12, seed=2)
    tokens = torch.randint(0, 11, (16, 6), generator=torch.Generator().manual_seed(0))
    return model, pp.pair_derangement(pp.Dataset.next_token(tokens), seed=0)


def test_node_scan_equals_individual_scores(setup) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup
    table = node_scan(model, pairs, n_boot=50, progress=False)
    assert [n for n, _ in table.rows] == ["a0.0", "a0.1", "m0", "a1.0", "a1.1", "m1"]
    alone = pp.score(model, {"a1.0": pp.through("a1.0")}, pairs, n_boot=50, progress=False)
    assert table["a1.0"].value == approx(alone["a1.0"].metrics["proportion_explained"].value, steps=REDUCTION)
    ablate = node_scan(model, pairs, nodes=["a1.0"], mode="ablate", n_boot=50, progress=False)
    by_hand = pp.score(model, {"x": ~pp.through("a1.0")}, pairs, n_boot=50, progress=False)
    assert ablate["a1.0"].value == approx(by_hand["x"].metrics["proportion_explained"].value, steps=REDUCTION)
    assert "restore scan" in str(table) and table.top(2)[0][1].value >= table.top(2)[1][1].value


def test_restoring_out_or_embed_is_everything(setup) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup
    table = node_scan(model, pairs, nodes=["out", "embed"], n_boot=50, progress=False)
    assert table["out"].value == approx(1.0, steps=REDUCTION)  # every path passes through out
    # every path starting at embed: with pos equal in both runs, that is every path that matters
    assert table["embed"].value == approx(1.0, steps=REDUCTION)


def test_edge_scan_into_a_receiver(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup
    table = edge_scan(model, pairs, receiver="a1.0.k", n_boot=50, progress=False)
    senders = [s.name for s in model.graph.senders(model.graph.port("a1.0.k"))]
    assert [n for n, _ in table.rows] == [f"{s} -> a1.0.k" for s in senders]
    # each row by hand: KL of the clean logits to pp.evaluate's logits with that edge removed
    ref, new, mask = pairs.ref.tokens, pairs.new_tokens, pairs.ref.target_mask
    clean = model(ref)
    ate = _kl(clean, model(new), mask).mean()
    for s in senders:
        aue = _kl(clean, pp.evaluate(model, ~pp.through_edge(s, "a1.0.k"), ref, new), mask).mean()
        assert table[f"{s} -> a1.0.k"].value == approx(1 - aue / ate, steps=REDUCTION), s
    assert min(e.value for _, e in table.rows) < 0.999  # some edge into a1.0.k matters
    plot = plot_head_scan(model, node_scan(model, pairs, n_boot=20, progress=False), tmp_path / "heads.png")
    assert plot.stat().st_size > 0
    with pytest.raises(pp.InputError, match="no edges"):
        edge_scan(model, pairs, edges=[])
    with pytest.raises(pp.InputError, match="mode must be"):
        node_scan(model, pairs, mode="swap")  # type: ignore[arg-type]


def test_rows_keep_what_they_scanned(setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Each row keeps its Node, Edge or Path (None for a row named by a pattern) and the table its
    kind; the names stay as given, for display and the files written."""
    model, pairs = setup
    graph, kw = model.graph, {"n_boot": 50, "progress": False}
    nodes = node_scan(model, pairs, nodes=["a0.0", graph.node("m1"), "a1.*"], **kw)
    assert nodes.kind is ScanKind.NODES and [n for n, _ in nodes.rows] == ["a0.0", "m1", "a1.*"]
    assert nodes.subjects == (graph.node("a0.0"), graph.node("m1"), None)
    assert plot_head_scan(model, nodes, tmp_path / "heads.png").stat().st_size > 0  # the pattern row is no head
    port = graph.port("a1.0.k")
    edges = edge_scan(model, pairs, receiver="a1.0.k", **kw)
    assert edges.kind is ScanKind.EDGES and edges.subjects == tuple(Edge(s, port) for s in graph.senders(port))
    senders = sender_scan(model, pairs, "a1.0", senders=["m0", "embed"], **kw)
    assert senders.kind is ScanKind.SENDERS and senders.subjects == (graph.node("m0"), graph.node("embed"))
    paths = path_scan(model, pairs, paths=["embed -> out", "embed -> a1.*.v -> out"], **kw)
    assert paths.kind is ScanKind.PATHS and paths.subjects == (Path.parse("embed -> out"), None)
    every = path_scan(model, pairs, **kw)
    assert every.subjects == tuple(graph.iter_paths()) and [n for n, _ in every.rows] == [
        p.name for p in every.subjects
    ]


def test_row_subjects_read_from_names_and_tables_built_by_hand() -> None:
    assert row_subject(ScanKind.NODES, "a1.0") == Node("head", 1, 0)
    assert row_subject(ScanKind.SENDERS, "embed") == Node("embed")
    assert row_subject(ScanKind.EDGES, "a0.1 -> a1.0.k") == Edge.parse("a0.1 -> a1.0.k")
    assert row_subject(ScanKind.PATHS, "embed@0 -> out@0") == Path.parse("embed@0 -> out@0")
    assert row_subject(ScanKind.NODES, "a1.*") is None and row_subject(ScanKind.PATHS, "embed -> ... -> out") is None
    table = _table("restore", {"a0.0": 0.3, "m0": 0.9})
    assert table.kind is None and table.subjects == (None, None)
    with pytest.raises(pp.InputError, match="one subject per row, got 1 for 2"):
        ScanTable("restore", "proportion_explained", table.rows, table.report, ScanKind.NODES, (Node("mlp", 0),))


def _kl(ref_logits: torch.Tensor, patched_logits: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """Per-example KL(clean ‖ patched) averaged over the target positions, in float64 by hand."""
    log_p = ref_logits.double().log_softmax(-1)
    log_q = patched_logits.double().log_softmax(-1)
    per_pos = (log_p.exp() * (log_p - log_q)).sum(-1)
    return ((per_pos * mask).sum(1) / mask.sum(1)).numpy()


def _table(mode: str, values: dict[str, float]) -> ScanTable:
    rows = tuple((n, pp.Estimate(v, v - 0.1, v + 0.1)) for n, v in values.items())
    return ScanTable(mode, "proportion_explained", rows, pp.Report(()))


def test_top_and_most_important_literal() -> None:
    values = {"a0.0": 0.3, "a0.1": -0.2, "m0": 0.9, "a1.0": 0.5, "a1.1": 0.1}
    restore, ablate = _table("restore", values), _table("ablate", values)
    assert [n for n, _ in restore.top(2)] == ["m0", "a1.0"]
    assert [n for n, _ in restore.by_value(3, largest=False)] == ["a0.1", "a1.1", "a0.0"]
    assert [e.value for _, e in restore.by_value(2, largest=False)] == [-0.2, 0.1]
    assert ablate.top(2) == ablate.most_important(2)
    assert [n for n, _ in restore.most_important(2)] == ["m0", "a1.0"]  # restoring: largest matter most
    assert [n for n, _ in ablate.most_important(2)] == ["a0.1", "a1.1"]  # ablating: smallest matter most
    assert [n for n, _ in ablate.most_important(10)] == ["a0.1", "a1.1", "a0.0", "a1.0", "m0"]
    assert ablate["a1.0"] == pp.Estimate(0.5, 0.4, 0.6)
    with pytest.raises(KeyError, match="no row 'a9.9'"):
        ablate["a9.9"]


def test_most_important_on_an_ablate_scan(setup) -> None:  # type: ignore[no-untyped-def]
    """On a real ablate scan, most_important is the rows sorted by value, smallest first."""
    model, pairs = setup
    table = node_scan(model, pairs, mode="ablate", n_boot=20, progress=False)
    by_value = sorted(table.rows, key=lambda r: r[1].value)
    assert [n for n, _ in table.most_important(3)] == [n for n, _ in by_value[:3]]
    assert table.most_important(3) == table.top(3) == table.by_value(3, largest=False)
    assert table.top(1)[0][1].value < table.by_value(1)[0][1].value


def _one_at_a_time(model, pairs, named, **kw):  # type: ignore[no-untyped-def]
    """Each hypothesis scored by its own engine, nothing shared."""
    return {n: pp.score(model, {n: h}, pairs, n_boot=20, progress=False, **kw)[n].metrics for n, h in named.items()}


@pytest.mark.parametrize("kind", ["edges", "paths", "senders"])
def test_scans_equal_one_at_a_time(setup, kind) -> None:  # type: ignore[no-untyped-def]
    """Every row of a batched scan equals scoring its hypothesis alone (every edge removed, every
    single path restored, the sender sweep into both channels of two receivers)."""
    model, pairs = setup
    graph = model.graph
    if kind == "edges":
        table = edge_scan(model, pairs, n_boot=20, progress=False)
        assert len(table.rows) == len(graph.edges)
        named = {e.name: ~pp.through_edge(e.sender, e.receiver) for e in graph.edges}
    elif kind == "paths":
        table = path_scan(model, pairs, n_boot=20, progress=False)
        assert len(table.rows) == graph.count_paths()
        named = {p.name: pp.paths(p.name) for p in graph.iter_paths()}
    else:
        table = sender_scan(model, pairs, ["a1.0", "m1"], n_boot=20, progress=False)
        assert [n for n, _ in table.rows] == ["embed", "pos", "a0.0", "a0.1", "m0", "a1.0", "a1.1"]
        named = {}
        for name, _ in table.rows:
            kept = [
                pp.through_edge(name, p)
                for p in ("a1.0.q", "a1.0.k", "a1.0.v", "m1")
                if graph.node(name) in graph.senders(graph.port(p))
            ]
            hyp = kept[0]
            for h in kept[1:]:
                hyp = hyp | h
            named[name] = ~hyp
    rows = table.rows[:: max(1, len(table.rows) // 12)]  # a spread of rows, each scored on its own
    alone = _one_at_a_time(model, pairs, {n: named[n] for n, _ in rows})
    for name, estimate in rows:
        for metric in ("proportion_explained", "aue", "loss_recovered"):
            want = alone[name][metric].value
            got = table.report[name].metrics[metric].value
            assert got == approx(want, steps=REDUCTION), (name, metric)
        assert estimate.value == table.report[name].metrics["proportion_explained"].value


def test_memory_bound_gives_the_same_numbers(setup) -> None:  # type: ignore[no-untyped-def]
    """max_memory splits examples and hypotheses into chunks; the numbers do not change."""
    from pathpatch.engine.budget import chunk_work
    from pathpatch.scoring import per_example
    from pathpatch.validate import parse_bytes

    model, pairs = setup
    named = {p.name: pp.paths(p.name) for p in list(model.graph.iter_paths())[:30]}
    free = per_example(model, named, pairs, "loss", progress=False)
    hyps = list(named.values())
    one = pp.Engine(model, hyps)
    from pathpatch.engine.budget import example_bytes

    rows = int(pairs.ref.target_mask.sum(1).max())
    small = example_bytes(model, pp.Engine(model, hyps[:4]), pairs.ref.n_pos, rows)  # a few hypotheses per group
    assert small < example_bytes(model, one, pairs.ref.n_pos, rows)
    chunks = chunk_work(model, pp.Engine(model, hyps), pairs.ref.n_pos, rows, small, 32)
    assert len(chunks) > 1 and sorted(i for c in chunks for i in c.indices) == list(range(len(hyps)))
    assert all(c.bytes_per_example * c.batch_size <= small for c in chunks)
    bounded = per_example(model, named, pairs, "loss", progress=False, max_memory=small)
    for name in named:
        for col in ("delta_h", "loss_h", "delta_empty", "loss_new"):
            close(bounded[name][col], free[name][col], steps=REDUCTION, msg=f"{name} {col}")  # float32 rounding
    assert parse_bytes("2GB") == 2 << 30 and parse_bytes("512 MiB") == 512 << 20 and parse_bytes(1000) == 1000
    with pytest.raises(pp.InputError, match="max_memory must be"):
        parse_bytes("lots")
    with pytest.raises(pp.InputError, match="below the"):
        per_example(model, named, pairs, "loss", progress=False, max_memory=1000)


def test_dtype_and_device_are_honoured(setup) -> None:  # type: ignore[no-untyped-def]
    """bf16 / fp16 evaluation on a copy of the model, metrics in float64; the model is untouched."""
    model, pairs = setup
    hyps = {"a1.0": pp.through("a1.0"), "m0": pp.through("m0")}
    want = pp.score(model, hyps, pairs, n_boot=20, progress=False)
    for dtype in (torch.bfloat16, torch.float16):
        got = pp.score(model, hyps, pairs, n_boot=20, progress=False, device="cpu", dtype=dtype)
        assert got.meta["dtype"] == str(dtype).replace("torch.", "")
        for name in hyps:
            # the forward in dtype (bfloat16: eps 7.8e-3, float16: 9.8e-4), the metrics in float64
            assert got[name].metrics["aue"].value == approx(want[name].metrics["aue"].value, steps=8, dtype=dtype)
    assert model.dtype == torch.float32 and model.placed("cpu", torch.float32) is model
    assert model.placed(dtype=torch.bfloat16).W_E.dtype == torch.bfloat16 and model.W_E.dtype == torch.float32
    with pytest.raises(pp.InputError, match="floating-point"):
        model.placed(dtype=torch.int64)
    if not torch.cuda.is_available():
        with pytest.raises(pp.InputError, match="no CUDA device"):
            model.placed("cuda")
    with pytest.raises(pp.InputError, match="device='gpu0' is not a device torch knows.*use 'cpu', 'cuda'"):
        pp.score(model, hyps, pairs, n_boot=20, progress=False, device="gpu0")


def test_sender_scan_errors(setup) -> None:  # type: ignore[no-untyped-def]
    model, pairs = setup
    with pytest.raises(pp.InputError, match="send to none"):
        sender_scan(model, pairs, "a0.1.q", senders=["a1.0"], progress=False)
    with pytest.raises(pp.PatternError):
        sender_scan(model, pairs, "a7.1.q", progress=False)
    with pytest.raises(pp.InputError, match="max_paths"):
        path_scan(model, pairs, max_paths=3, progress=False)
