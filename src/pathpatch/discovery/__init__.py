"""Circuit discovery: find the edges or paths that carry a behaviour (one module per algorithm).

- :mod:`.circuit`: :class:`Circuit`, what every algorithm returns (edges or path patterns, score,
  how it was found), saved to and loaded from JSON;
- :mod:`.roc`: ROC curves and their area against a known edge set;
- :mod:`.acdc`: ACDC (Conmy et al. 2023), exact treeified edge patching, one engine pass per receiver;
- :mod:`.eap`: edge attribution patching, EAP and EAP-IG (Syed et al. 2023; Hanna et al. 2024);
- :mod:`.paths`: search at the level of paths, grown backwards from ``out``;
- :mod:`.planted`: small models whose weights plant a known circuit (ground truth for tests).
"""

from .circuit import Circuit
from .planted import PLANTED, PlantedTask, planted
from .roc import roc_auc, roc_curve

__all__ = ["Circuit", "PLANTED", "PlantedTask", "planted", "roc_auc", "roc_curve"]
