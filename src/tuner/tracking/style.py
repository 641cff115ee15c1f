"""Plot settings, in one place: every figure tuner draws is a file (matplotlib's Agg backend, no screen)
at the same resolution.

Example::

    from tuner.tracking.style import DPI, pyplot
    plt = pyplot()
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: a worker or CI machine has no display

DPI = 100


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend."""
    import matplotlib.pyplot as plt

    return plt
