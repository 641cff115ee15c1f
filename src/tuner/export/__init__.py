"""The export stage: the best model's predictions as a submission CSV, ensembles, refits, insight figures.

``python -m tuner.export +experiment=<name>`` runs it from the command line.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuner.export.submission import Submission


class _CallablePackage(types.ModuleType):
    """``tuner.export(overrides)`` is the Python API's export, while ``tuner.export`` stays this package (the
    name ``python -m tuner.export`` runs): a package attribute and a function cannot share the name otherwise."""

    def __call__(self, overrides: list[str] | None = None) -> Submission:
        """Write the submission of the study the overrides describe, as ``python -m tuner.export <overrides>``."""
        from tuner import _export

        return _export(overrides)


sys.modules[__name__].__class__ = _CallablePackage
