"""Tasks (digits, fashion, cifar10) and their sources, decoded once, cached on disk, split seeded.

Example::

    from tuner.data import load_dataset
    ds = load_dataset(cfg.data, seed=0)
"""

from __future__ import annotations

from tuner.data.dataset import Dataset, check_source, load_dataset, load_images
from tuner.data.images import Images
from tuner.data.sources import SOURCES

__all__ = ["Dataset", "Images", "SOURCES", "check_source", "load_dataset", "load_images"]
