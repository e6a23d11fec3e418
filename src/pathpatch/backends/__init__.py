"""Where a study's cells run: in this process (:mod:`.local`, the default) or on a Ray cluster
(:mod:`.ray`, extra ``pathpatch[ray]``). A backend takes cells and yields each one's file as it
finishes; the driver (:meth:`pathpatch.study.Study.run`) writes the files, resumes, and combines.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names

_HOMES = {
    "Backend": "base",
    "Finished": "base",
    "LocalBackend": "local",
    "RayBackend": "ray",
    "backend_named": "choose",
}

if TYPE_CHECKING:
    from .base import Backend, Finished
    from .choose import backend_named
    from .local import LocalBackend
    from .ray import RayBackend

__getattr__ = lazy_names(__name__, _HOMES, globals())

__all__ = ["Backend", "Finished", "LocalBackend", "RayBackend", "backend_named"]
