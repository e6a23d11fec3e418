"""The default of each setting that more than one entry point shares, as plain values (no torch).

- :data:`DEFAULT_DELTA`: the dissimilarity δ every public function and every command uses unless
  told otherwise: ``"kl"``, KL(clean ‖ patched) over the whole next-token distribution at the
  target positions (it needs no target or distractor token). The studies that report |Δ loss|
  (the induction demo, the number study, their study files) pass ``delta="loss"`` explicitly.
- :data:`DELTA_NAMES`: the built-in δ's, as the commands' ``--delta`` offers them.

``tests/test_defaults.py`` checks that every public function's and command's default is this one.
"""

from __future__ import annotations

__all__ = ["DEFAULT_DELTA", "DELTA_NAMES"]

DEFAULT_DELTA = "kl"
DELTA_NAMES = ("kl", "loss", "logit_diff")
