"""What every source decodes to: uint8 images, integer labels and stable ids.

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

    ``test_y`` is None when the test labels are unknown (a leaderboard's ``test.csv``).
    """

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    test_ids: np.ndarray | None = None

    @property
    def has_test(self) -> bool:
        return self.test_x is not None

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields that are set, by name (what the disk cache stores)."""
        return {k: v for k, v in vars(self).items() if v is not None}


def index_ids(prefix: str, n: int) -> np.ndarray:
    """Stable ids ``<prefix>-00000``… for images that come without file names."""
    return np.array([f"{prefix}-{i:05d}" for i in range(n)])
