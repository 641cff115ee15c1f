"""``python -m tuner.export +experiment=<name>``: see ``tuner.cli.export``.

Imported, this module is callable as ``tuner.export(overrides)`` (the Python API), so ``import tuner.export``
cannot hide that function.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from tuner import export as _export

if TYPE_CHECKING:
    from tuner.submission.export import Submission


class _Callable(types.ModuleType):
    def __call__(self, overrides: list[str] | None = None) -> Submission:
        return _export(overrides)


sys.modules[__name__].__class__ = _Callable

if __name__ == "__main__":
    from tuner.cli.export import main

    main()
