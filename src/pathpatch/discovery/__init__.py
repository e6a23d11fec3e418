"""Circuit discovery: find the edges or paths that carry a behaviour (one module per algorithm).

- :mod:`.circuit`: :class:`Circuit`, what every algorithm returns (edges or path patterns, score,
  how it was found), saved to and loaded from JSON;
- :mod:`.acdc`: ACDC (Conmy et al. 2023), exact treeified edge patching, batched per receiver;
- :mod:`.eap`: edge attribution patching, EAP and EAP-IG (Syed et al. 2023; Hanna et al. 2024);
- :mod:`.curves`: faithfulness curves (proportion explained against edges kept) and their areas;
- :mod:`.mib`: MIB's faithfulness f at its ten circuit sizes, CPR and CMD, for edge rankings
  and the path search's nested path sets; :mod:`.mib_format`: MIB's circuit files, written and read;
- :mod:`.paths`: search at the level of paths, grown backwards from ``out``;
- :mod:`.roc`: ROC curves and their area against a known edge set;
- :mod:`.planted`: small models whose weights plant a known circuit (ground truth, no extra needed);
- :mod:`.tracr_tasks`: compiled RASP programs with known circuits (extra ``tracr``);
- :mod:`.command`: ``pathpatch discover``.

Names are imported on first use (``pathpatch discover --help`` needs no torch). The functions named
like their modules are reached as ``pathpatch.acdc``, ``pathpatch.eap`` and ``pathpatch.planted``
(or ``pathpatch.discovery.acdc.acdc``, ...), so that ``pathpatch.discovery.acdc`` is always the module.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

_HOMES = {
    "Circuit": "circuit",
    "AcdcResult": "acdc",
    "acdc_search": "acdc",
    "EdgeScores": "eap",
    "FaithfulnessCurve": "curves",
    "faithfulness": "curves",
    "discover_paths": "paths",
    "MibCurve": "mib",
    "MibScores": "mib",
    "mib_curve": "mib",
    "mib_scores": "mib",
    "mib_path_curve": "mib",
    "acdc_scores": "mib",
    "MibFile": "mib_format",
    "to_mib": "mib_format",
    "write_mib": "mib_format",
    "read_mib": "mib_format",
    "PLANTED": "planted",
    "PlantedTask": "planted",
    "roc_auc": "roc",
    "roc_curve": "roc",
    "TracrTask": "tracr_tasks",
    "tracr_task": "tracr_tasks",
    "true_edges": "tracr_tasks",
}

if TYPE_CHECKING:
    from .acdc import AcdcResult, acdc_search
    from .circuit import Circuit
    from .curves import FaithfulnessCurve, faithfulness
    from .eap import EdgeScores
    from .mib import MibCurve, MibScores, acdc_scores, mib_curve, mib_path_curve, mib_scores
    from .mib_format import MibFile, read_mib, to_mib, write_mib
    from .paths import discover_paths
    from .planted import PLANTED, PlantedTask
    from .roc import roc_auc, roc_curve
    from .tracr_tasks import TracrTask, tracr_task, true_edges


__getattr__ = lazy_names(__name__, _HOMES, globals())


__all__ = sorted(_HOMES)
