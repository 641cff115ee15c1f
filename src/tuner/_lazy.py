"""Package attributes imported on first use, so that importing a light module of a package (a pure
helper) does not load the package's heavy ones (Keras, before the command has chosen its backend).

Example::

    __getattr__ = lazy(__name__, {"train": "tuner.training.fit", "predict": "tuner.training.predict"})
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports attribute ``name`` from module ``where[name]``."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name]), name)

    return __getattr__
