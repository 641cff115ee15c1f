"""What every source decodes to: uint8 images, integer labels, stable ids and the classes' names.

Example::

    images = Images(x=np.zeros((2, 28, 28, 1), np.uint8), y=np.array([0, 1]), ids=np.array(["a", "b"]))
    images.has_test  # False: the split is drawn from x
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Images:
    """A decoded source: images (N, H, W, C) as uint8, labels, stable ids, and a fixed test split if it has one.

    ``test_y`` is None when the test labels are unknown (a leaderboard's ``test.csv``). ``class_names[i]`` names
    label ``i`` (a folder of class subfolders); None for sources whose labels are their own names, ``0..n-1``.
    """

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    test_ids: np.ndarray | None = None
    class_names: np.ndarray | None = None

    @property
    def has_test(self) -> bool:
        return self.test_x is not None

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields that are set, by name (what the disk cache stores)."""
        return {k: v for k, v in vars(self).items() if v is not None}


def index_ids(prefix: str, n: int) -> np.ndarray:
    """Stable ids ``<prefix>-00000``… for images that come without file names."""
    return np.array([f"{prefix}-{i:05d}" for i in range(n)])


def default_class_names(n_classes: int) -> tuple[str, ...]:
    """The names of labels that name themselves: ``("0", "1", ..., str(n_classes - 1))``."""
    return tuple(str(i) for i in range(n_classes))
