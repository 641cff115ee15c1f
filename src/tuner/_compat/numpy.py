"""NumPy's private array reconstructor, which pickled arrays (CIFAR-10's batches) refer to by name.

Checked against NumPy 2.x, where it lives in ``numpy._core.multiarray`` (``numpy.core`` before 2.0).
"""

from __future__ import annotations

from numpy._core.multiarray import _reconstruct as reconstruct

# the names a pickle may give it: NumPy 1.x wrote numpy.core, 2.x writes numpy._core
RECONSTRUCT_NAMES = (("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"))

__all__ = ["RECONSTRUCT_NAMES", "reconstruct"]
