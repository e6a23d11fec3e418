"""pathpatch: path patching for transformers (Goldowsky-Dill et al. 2023).

Say "this behaviour flows through these paths", get a number with error bars:

>>> import pathpatch as pp
>>> model = pp.native_model(pp.NativeConfig(n_layers=2, n_heads=4, d_model=32, d_head=8,
...                                         d_vocab=50, n_ctx=16, positions="shortformer"))
>>> h = pp.paths("embed -> a1.*.v -> out") | pp.paths("embed -> out")
>>> h.count(model)
5

Plotting and optional backends are imported lazily; importing pathpatch has no side effects.
"""

from typing import TYPE_CHECKING

from .lazy import lazy_names

# Public names and the module each lives in: imported on first use, so that `import pathpatch`
# (and the `pathpatch --help` command line) does not pay for torch until something needs it.
_HOMES = {
    "Dataset": "data",
    "Pairs": "data",
    "pair_derangement": "data",
    "pair_from_pool": "data",
    "Engine": "engine.api",
    "evaluate": "engine.api",
    "evaluate_many": "engine.api",
    "EdgeMasks": "engine.soft",
    "masked_forward": "engine.soft",
    "ConfigError": "errors",
    "EmptyDatasetError": "errors",
    "InputError": "errors",
    "ModelLoadError": "errors",
    "PathPatchError": "errors",
    "PatternError": "errors",
    "SequenceTooLongError": "errors",
    "ShapeMismatchError": "errors",
    "TokenOutOfRangeError": "errors",
    "UnknownNodeError": "errors",
    "ArgumentError": "errors",
    "DeviceError": "errors",
    "EmptyPathSetError": "errors",
    "UnreliableIntervalWarning": "errors",
    "Estimate": "estimates",
    "Edge": "graph",
    "Graph": "graph",
    "Node": "graph",
    "Path": "graph",
    "Port": "graph",
    "Hypothesis": "lang.hypothesis",
    "all_paths": "lang.hypothesis",
    "no_paths": "lang.hypothesis",
    "paths": "lang.hypothesis",
    "subgraph": "lang.hypothesis",
    "through": "lang.hypothesis",
    "through_edge": "lang.hypothesis",
    "only_at": "lang.cut",
    "residual_at": "lang.cut",
    "causal_trace": "tracing",
    "ModelConfig": "model.config",
    "NativeConfig": "model.config",
    "from_hf": "model.hf",
    "load_model_dir": "model.native",
    "native_model": "model.native",
    "save_model": "model.native",
    "from_transformer_lens": "model.tlens",
    "ResidualModel": "model.residual",
    "HypothesisScore": "report",
    "Report": "report",
    "ScanTable": "scans",
    "edge_scan": "scans",
    "node_scan": "scans",
    "path_scan": "scans",
    "sender_scan": "scans",
    "per_example": "scoring",
    "score": "scoring",
    "bundle": "zoo",
    "load": "zoo",
    "Circuit": "discovery.circuit",
    "acdc": "discovery.acdc",
    "eap": "discovery.eap",
    "EdgeScores": "discovery.eap",
    "faithfulness": "discovery.curves",
    "discover_paths": "discovery.paths",
    "planted": "discovery.planted",
    "roc_auc": "discovery.roc",
    "from_tracr": "model.tracr",
    "draw": "render.drawing",
    "Study": "study.run",
    "StudyRun": "study.run",
    "reproduce": "study.reproduction",
    "StudyFileError": "errors",
    "ReproductionError": "errors",
    "WorkerLostError": "errors",
    "CircuitFileError": "errors",
    "ModelMismatchError": "errors",
    "model_identity": "model.identity",
    "induction_pairs": "shipped",
    "number_prompts": "shipped",
}

if TYPE_CHECKING:  # for type checkers and IDEs: the eager imports
    from .data import Dataset, Pairs, pair_derangement, pair_from_pool
    from .discovery.acdc import acdc
    from .discovery.circuit import Circuit
    from .discovery.curves import faithfulness
    from .discovery.eap import EdgeScores, eap
    from .discovery.paths import discover_paths
    from .discovery.planted import planted
    from .discovery.roc import roc_auc
    from .engine.api import Engine, evaluate, evaluate_many
    from .engine.soft import EdgeMasks, masked_forward
    from .errors import (
        ArgumentError,
        CircuitFileError,
        ConfigError,
        DeviceError,
        EmptyDatasetError,
        EmptyPathSetError,
        InputError,
        ModelLoadError,
        ModelMismatchError,
        PathPatchError,
        PatternError,
        ReproductionError,
        SequenceTooLongError,
        ShapeMismatchError,
        StudyFileError,
        TokenOutOfRangeError,
        UnknownNodeError,
        UnreliableIntervalWarning,
        WorkerLostError,
    )
    from .estimates import Estimate
    from .graph import Edge, Graph, Node, Path, Port
    from .lang.cut import only_at, residual_at
    from .lang.hypothesis import Hypothesis, all_paths, no_paths, paths, subgraph, through, through_edge
    from .model.config import ModelConfig, NativeConfig
    from .model.hf import from_hf
    from .model.identity import model_identity
    from .model.native import load_model_dir, native_model, save_model
    from .model.residual import ResidualModel
    from .model.tlens import from_transformer_lens
    from .model.tracr import from_tracr
    from .render.drawing import draw
    from .report import HypothesisScore, Report
    from .scans import ScanTable, edge_scan, node_scan, path_scan, sender_scan
    from .scoring import per_example, score
    from .shipped import induction_pairs, number_prompts
    from .study.reproduction import reproduce
    from .study.run import Study, StudyRun
    from .tracing import causal_trace
    from .zoo import bundle, load


__getattr__ = lazy_names(__name__, _HOMES, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__version__ = "0.1.0"

__all__ = [
    # models
    "ModelConfig",
    "NativeConfig",
    "ResidualModel",
    "native_model",
    "save_model",
    "load_model_dir",
    "from_hf",
    "from_transformer_lens",
    "from_tracr",
    "load",
    "bundle",
    "model_identity",
    # graph
    "Graph",
    "Node",
    "Port",
    "Edge",
    "Path",
    # hypotheses
    "Hypothesis",
    "paths",
    "all_paths",
    "no_paths",
    "through",
    "through_edge",
    "subgraph",
    "only_at",
    "residual_at",
    # engine
    "evaluate",
    "evaluate_many",
    "Engine",
    "EdgeMasks",
    "masked_forward",
    # data, metrics, reports
    "Dataset",
    "Pairs",
    "pair_derangement",
    "pair_from_pool",
    "induction_pairs",
    "number_prompts",
    "score",
    "per_example",
    "node_scan",
    "edge_scan",
    "sender_scan",
    "path_scan",
    "ScanTable",
    "causal_trace",
    "Estimate",
    "HypothesisScore",
    "Report",
    "draw",
    # circuit discovery
    "acdc",
    "eap",
    "discover_paths",
    "faithfulness",
    "Circuit",
    "EdgeScores",
    "planted",
    "roc_auc",
    # studies as files
    "Study",
    "StudyRun",
    "reproduce",
    # errors
    "PathPatchError",
    "PatternError",
    "UnknownNodeError",
    "InputError",
    "ShapeMismatchError",
    "TokenOutOfRangeError",
    "SequenceTooLongError",
    "EmptyDatasetError",
    "ConfigError",
    "ModelLoadError",
    "ArgumentError",
    "DeviceError",
    "EmptyPathSetError",
    "StudyFileError",
    "ReproductionError",
    "WorkerLostError",
    "CircuitFileError",
    "ModelMismatchError",
    "UnreliableIntervalWarning",
]
