"""Fuzzing the public API: every call either succeeds with finite, consistent results or raises a
:class:`~pathpatch.errors.PathPatchError` / :class:`TypeError` with a message, never anything else.

Inputs are drawn at random (hypothesis, derandomised so the suite is reproducible): malformed
patterns, edges and positions; token tensors of any shape, dtype and range; scoring arguments
(budgets, devices, dtypes, n_boot, levels, deltas); corrupted model directories; command lines.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pathpatch as pp
from conftest import tiny_model
from pathpatch.cli import cli
from pathpatch.errors import PathPatchError
from tolerance import FORWARD, REDUCTION, close

pytestmark = pytest.mark.numeric

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CHEAP = settings(FUZZ, max_examples=40)
COSTLY = settings(
    FUZZ, max_examples=20
)  # each example runs the engine or scores  # calls that stop at argument checks or touch no model

MODELS = {"absolute+mlp": tiny_model("absolute", 12), "shortformer": tiny_model("shortformer", None)}
VOCAB, N_CTX = 11, 6


def outcome(call: Callable[[], Any]) -> Any:
    """The call's value, or None if it raised a typed error with a message; anything else fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call()
    except (PathPatchError, TypeError) as err:
        assert str(err).strip(), f"{type(err).__name__} without a message"
        return None


def _tokens(b: int, t: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (b, t), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- patterns, edges, positions

PIECES = [
    "embed",
    "pos",
    "out",
    "a0",
    "a1",
    "a2",
    "a9",
    "m0",
    "m1",
    "m5",
    ".0",
    ".1",
    ".7",
    ".q",
    ".k",
    ".v",
    ".x",
    ".*",
    "*",
    "{0,1}",
    "{1-0}",
    "{",
    "}",
    "@",
    "@0",
    "@-1",
    "@5",
    "@9",
    "@END",
    "@{0,2}",
    "@*",
    " -> ",
    " -> ",
    " -> ",
    "...",
    "->",
    "-",
    ",",
    " ",
    "#",
    "a",
    "m",
    "1",
    "",
]

patterns = st.lists(st.sampled_from(PIECES), max_size=9).map("".join)
node_texts = st.sampled_from(
    [
        "embed",
        "pos",
        "out",
        "a0.0",
        "a0.1",
        "a1.0",
        "a1.1",
        "a2.0",
        "m0",
        "m1",
        "a1",
        "a0.0@2",
        "a0.1@5",
        "embed@-1",
        "a1.*",
        "",
        "->",
        7,
    ]
)
port_texts = st.sampled_from(
    [
        "a0.0.q",
        "a0.1.k",
        "a1.0.v",
        "a1.1.k@2",
        "a1.0.q@3",
        "a1.0.k@0",
        "m0",
        "m1@4",
        "out",
        "out@-1",
        "a1.0",
        "embed",
        "a5.0.k",
        "a1.0.z",
        "",
        None,
    ]
)


@st.composite
def hypotheses(draw: st.DrawFn) -> pp.Hypothesis | None:
    kind = draw(st.sampled_from(["paths", "through", "edge", "subgraph"]))
    if kind == "paths":
        return outcome(lambda: pp.paths(draw(st.one_of(patterns, st.lists(patterns, max_size=2)))))
    if kind == "through":
        return outcome(lambda: pp.through(draw(node_texts)))
    if kind == "edge":
        return outcome(lambda: pp.through_edge(draw(node_texts), draw(port_texts)))
    edges = draw(st.lists(st.tuples(node_texts, port_texts).map(lambda e: f"{e[0]} -> {e[1]}"), max_size=3))
    return outcome(lambda: pp.subgraph(edges))


@COSTLY
@given(name=st.sampled_from(sorted(MODELS)), hyp=hypotheses(), invert=st.booleans(), n_pos=st.integers(1, N_CTX))
def test_fuzz_hypotheses(name: str, hyp: pp.Hypothesis | None, invert: bool, n_pos: int) -> None:
    if hyp is None:
        return
    model = MODELS[name]
    hyp = ~hyp if invert else hyp
    kw = {"n_pos": n_pos} if hyp.positional else {}
    n = outcome(lambda: hyp.count(model, **kw))
    if n is not None:
        assert isinstance(n, int) and n >= 0
    ref, new = _tokens(2, n_pos, 1), _tokens(2, n_pos, 2)
    logits = outcome(lambda: pp.evaluate(model, hyp, ref, new))
    if logits is not None:
        assert logits.shape == (2, n_pos, VOCAB) and torch.isfinite(logits).all()
        if n == 0:  # no path: the patched run is x_new's run
            close(logits, model(new), steps=FORWARD)


# ---------------------------------------------------------------- tokens

DTYPES = [torch.long, torch.int32, torch.int8, torch.uint8, torch.float32, torch.bool, torch.float64]


@st.composite
def token_inputs(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["valid", "valid", "valid", "tensor", "tensor", "list", "other"]))
    if kind == "valid":
        b, t = draw(st.integers(1, 3)), draw(st.integers(1, N_CTX))
        return _tokens(b, t, draw(st.integers(0, 9))).to(draw(st.sampled_from([torch.long, torch.long, torch.int32])))
    if kind == "other":
        return draw(st.sampled_from([None, "tokens", 3, 2.5, {"a": 1}]))
    shape = draw(st.lists(st.integers(0, N_CTX + 2), min_size=0, max_size=3))
    if kind == "list":
        return draw(st.lists(st.lists(st.integers(-2, VOCAB + 2), min_size=1, max_size=4), max_size=3))
    values = torch.randint(
        -2, VOCAB + 3, tuple(shape), generator=torch.Generator().manual_seed(draw(st.integers(0, 9)))
    )
    if draw(st.booleans()):
        values = values.clamp(0, VOCAB - 1)
    return values.to(draw(st.sampled_from(DTYPES)))


@FUZZ
@given(
    ref=token_inputs(),
    new=st.one_of(token_inputs(), st.none()),
    same=st.sampled_from([True, True, False]),
    ablation=st.sampled_from(["resample", "resample", "mean", "zero", "gauss", 3]),
)
def test_fuzz_tokens(ref: Any, new: Any, same: bool, ablation: Any) -> None:
    model = MODELS["absolute+mlp"]
    if same and isinstance(ref, torch.Tensor) and ref.ndim >= 1:
        new = ref.flip(0)
    logits = outcome(lambda: pp.evaluate_many(model, [pp.all_paths(), pp.no_paths()], ref, new, ablation))
    if logits is not None:
        clean = model(ref.long())
        assert logits.shape == (2, *ref.shape, VOCAB) and torch.isfinite(logits).all()
        close(logits[0], clean, steps=FORWARD)  # all paths: the clean run
        if ablation == "resample":
            close(logits[1], model(new.long()), steps=FORWARD)  # none: x_new's run
    data = outcome(lambda: pp.Dataset.next_token(ref))
    if data is not None:
        assert data.tokens.shape == ref.shape and ref.dtype == torch.long
        assert torch.equal(data.target_tokens[:, :-1], ref[:, 1:]) and not data.target_mask[:, -1].any()


# ---------------------------------------------------------------- scoring arguments

GOOD_ARGS: dict[str, list[Any]] = {
    "n_boot": [40, 60],
    "level": [0.95, 0.9],
    "batch_size": [1, 3, 32],
    "max_memory": [None, "1GB", 10**9],
    "device": [None, "cpu", torch.device("cpu")],
    "dtype": [None, torch.float32, torch.float64, torch.bfloat16],
    "delta": ["kl", "loss"],
    "ablation": ["resample", "mean", "zero"],
    "seed": [0, 7],
    "progress": [False],
}
BAD_ARGS: dict[str, list[Any]] = {
    "n_boot": [1, 0, -3, 2.5, "40", None, True],
    "level": [0.0, 1.0, 1.5, float("nan"), "0.95"],
    "batch_size": [0, -1, 2.5, None],
    "max_memory": ["bogus", -5, 0, float("inf"), float("nan"), "1e40GB", [1], "64B"],
    "device": ["tpu", "cuda:7", "meta", 3, ""],
    "dtype": [torch.int64, "float16", 3],
    "delta": ["logit_diff", "bogus", 3, None],
    "ablation": ["noise", 0],
    "seed": [-1, 1.5, "0"],
    "progress": ["no"],
}


@st.composite
def score_args(draw: st.DrawFn) -> dict[str, Any]:
    """Good values everywhere but (mostly) one bad argument."""
    bad = draw(st.sampled_from([None] * 8 + [*sorted(BAD_ARGS), "metric", "pairs"]))
    args = {k: draw(st.sampled_from(BAD_ARGS[k] if k == bad else GOOD_ARGS[k])) for k in GOOD_ARGS}
    args["metric"] = draw(st.sampled_from(["bogus", 0] if bad == "metric" else ["aue", "proportion_explained"]))
    args["pairs"] = draw(st.sampled_from(["dataset", "tensor"] if bad == "pairs" else ["pairs"]))
    return args


@COSTLY
@given(args=score_args(), which=st.sampled_from(["score", "node_scan", "edge_scan"]))
def test_fuzz_score_arguments(args: dict[str, Any], which: str) -> None:
    metric, pairs_kind = args.pop("metric"), args.pop("pairs")
    model = MODELS["shortformer"]
    data = pp.Dataset.next_token(_tokens(4, 4, 3))
    pairs = {"pairs": pp.pair_derangement(data), "dataset": data, "tensor": data.tokens}[pairs_kind]
    if which == "score":
        report = outcome(lambda: pp.score(model, {"h": pp.through("a1.0")}, pairs, **args))
        estimates = [] if report is None else list(report["h"].metrics.values())
    else:
        scan = getattr(pp, which)
        extra = {"edges": ["a0.0 -> a1.0.k"]} if which == "edge_scan" else {"nodes": ["a1.0"]}
        table = outcome(lambda: scan(model, pairs, metric=metric, **extra, **args))
        estimates = [] if table is None else [e for _, e in table.rows]
        if table is not None:
            assert metric in ("aue", "proportion_explained") and len(table.rows) == 1
    for e in estimates:
        assert all(math.isfinite(x) for x in (e.value, e.low, e.high)) and e.low <= e.high
    if which == "score" and estimates:
        m = report["h"].metrics  # type: ignore[union-attr]
        assert m["aue"].value >= 0 and m["ate"].value > 0  # kl and |Δ loss| are non-negative
        # the same float64 means, divided: float64 rounding, relative to the proportion's size
        pe = m["proportion_explained"].value
        close(pe, 1 - m["aue"].value / m["ate"].value, steps=REDUCTION, dtype=torch.float64, scale=max(abs(pe), 1.0))


# ---------------------------------------------------------------- model directories

CONFIG_VALUES = [None, -1, 0, 1, 2, 3, 8, 1e-3, 1e9, "two", "absolute", "none", "rotary", True, [], {}, float("inf")]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pp.save_model(MODELS["absolute+mlp"], tmp_path_factory.mktemp("fuzz") / "model")


@FUZZ
@given(
    damage=st.sampled_from(["key", "key", "drop", "text", "truncate", "garbage", "missing", "none"]),
    key=st.sampled_from(
        [
            "n_layers",
            "n_heads",
            "d_model",
            "d_head",
            "d_vocab",
            "n_ctx",
            "d_mlp",
            "positions",
            "norm",
            "act",
            "eps",
            "attn_scale",
            "gated",
            "parallel",
            "n_kv_heads",
            "rotary_dim",
            "seed",
            "init_std",
            "bogus",
        ]
    ),
    value=st.sampled_from(CONFIG_VALUES),
    cut=st.floats(0, 1),
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
)
def test_fuzz_model_directories(
    saved: Path, tmp_path_factory: pytest.TempPathFactory, damage: str, key: str, value: Any, cut: float, text: str
) -> None:
    d = tmp_path_factory.mktemp("dir") / "m"
    shutil.copytree(saved, d)
    config = json.loads((d / "config.json").read_text())
    weights = (d / "model.safetensors").read_bytes()
    if damage == "key":
        config[key] = value
        (d / "config.json").write_text(json.dumps(config))
    elif damage == "drop":
        config.pop(key, None)
        (d / "config.json").write_text(json.dumps(config))
    elif damage == "text":
        (d / "config.json").write_text(text)
    elif damage == "truncate":
        (d / "model.safetensors").write_bytes(weights[: int(cut * len(weights))])
    elif damage == "garbage":
        (d / "model.safetensors").write_bytes(text.encode() + weights[len(text.encode()) :])
    elif damage == "missing":
        (d / ("config.json" if cut < 0.5 else "model.safetensors")).unlink()
    model = outcome(lambda: pp.load(d))
    if model is not None:
        ref = _tokens(2, 4)
        out = outcome(lambda: pp.evaluate(model, pp.all_paths(), ref, ref))
        if out is not None:
            assert out.shape == (2, 4, model.config.d_vocab)
        if damage == "none":
            torch.testing.assert_close(model(ref), MODELS["absolute+mlp"](ref), atol=0, rtol=0)


# ---------------------------------------------------------------- the command line

CLI_VALUES = {
    "--layers": ["1", "2", "0", "-1", "x"],
    "--heads": ["1", "3", "0", "abc"],
    "--list": ["0", "3", "-2"],
    "--positions": ["absolute", "shortformer", "none", "rotary"],
}


@CHEAP
@given(
    pattern=patterns,
    opts=st.dictionaries(st.sampled_from(sorted(CLI_VALUES)), st.just(None), max_size=3),
    picks=st.lists(st.integers(0, 4), min_size=4, max_size=4),
    mlp=st.sampled_from([[], ["--mlp"], ["--no-mlp"]]),
)
def test_fuzz_cli_paths(pattern: str, opts: dict[str, None], picks: list[int], mlp: list[str]) -> None:
    args = ["paths", pattern, *mlp]
    for (flag, _), pick in zip(sorted(opts.items()), picks):
        values = CLI_VALUES[flag]
        args += [flag, values[pick % len(values)]]
    result = CliRunner().invoke(cli, args)
    if result.exit_code == 0:
        assert " paths (" in result.output
    else:
        assert result.exit_code == 2 or isinstance(result.exception, (PathPatchError, TypeError)), result.output


SCAN_BAD = [
    ["--examples", "-5"],
    ["--examples", "1"],
    ["--batch-size", "0"],
    ["--device", "tpu"],
    ["--max-memory", "lots"],
    ["--max-memory", "-1GB"],
    ["--dtype", "int8"],
    ["--top", "-1"],
    ["--seed", "-2"],
    ["--mode", "sideways"],
    ["--delta", "bogus"],
    ["--receivers", " , "],
]


@CHEAP
@given(
    kind=st.sampled_from(["nodes", "edges", "senders", "paths", "bogus"]),
    bad=st.sampled_from(SCAN_BAD),
    extra=st.sampled_from([[], ["--quiet"], ["--receivers", "a1.6, a1.7"]]),
)
def test_fuzz_cli_scan_refuses_bad_arguments_before_work(
    kind: str, bad: list[str], extra: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pathpatch.zoo

    monkeypatch.setattr(pathpatch.zoo, "bundle", lambda *a, **k: pytest.fail("loaded the model before checking"))
    if bad[0] == "--receivers" and kind != "senders":
        kind = "senders"
    args = (
        ["scan", kind, *extra, *bad] if "--receivers" not in extra or bad[0] != "--receivers" else ["scan", kind, *bad]
    )
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert result.exit_code == 2 or isinstance(result.exception, PathPatchError), (args, result.output)
