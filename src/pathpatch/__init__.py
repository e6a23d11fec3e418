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

from .data import Dataset, Pairs, pair_derangement, pair_from_pool
from .engine.api import Engine, evaluate, evaluate_many
from .engine.soft import EdgeMasks, masked_forward
from .errors import (
    ConfigError,
    EmptyDatasetError,
    InputError,
    ModelLoadError,
    PathPatchError,
    PatternError,
    SequenceTooLongError,
    ShapeMismatchError,
    TokenOutOfRangeError,
    UnknownNodeError,
)
from .estimates import Estimate
from .graph import Edge, Graph, Node, Path, Port
from .lang.hypothesis import Hypothesis, all_paths, no_paths, paths, subgraph, through, through_edge
from .model.config import ModelConfig, NativeConfig
from .model.hf import from_hf
from .model.native import load_model_dir, native_model, save_model
from .model.tlens import from_transformer_lens
from .model.residual import ResidualModel
from .report import HypothesisScore, Report
from .scans import ScanTable, edge_scan, node_scan, path_scan, sender_scan
from .scoring import per_example, score
from .zoo import bundle, load

__version__ = "0.1.0"

__all__ = [
    # models
    "ModelConfig", "NativeConfig", "ResidualModel", "native_model", "save_model", "load_model_dir", "from_hf",
    "from_transformer_lens",
    "load", "bundle",
    # graph
    "Graph", "Node", "Port", "Edge", "Path",
    # hypotheses
    "Hypothesis", "paths", "all_paths", "no_paths", "through", "through_edge", "subgraph",
    # engine
    "evaluate", "evaluate_many", "Engine", "EdgeMasks", "masked_forward",
    # data, metrics, reports
    "Dataset", "Pairs", "pair_derangement", "pair_from_pool", "score", "per_example",
    "node_scan", "edge_scan", "sender_scan", "path_scan", "ScanTable",
    "Estimate", "HypothesisScore", "Report",
    # errors
    "PathPatchError", "PatternError", "UnknownNodeError", "InputError", "ShapeMismatchError",
    "TokenOutOfRangeError", "SequenceTooLongError", "EmptyDatasetError", "ConfigError", "ModelLoadError",
]
