"""The data stage: each task's sources (``data.sources`` in conf/data/), decoded once, cached on disk, split seeded.

Example::

    from tuner.data import load_dataset
    ds = load_dataset(cfg.data, seed=0)
    digest(ds)  # a sha256 of its arrays: the same data gives the same digest on every machine
"""

from __future__ import annotations

from tuner.data.dataset import (
    Dataset,
    check_source,
    load_dataset,
    load_images,
    source_of,
    train_share,
)
from tuner.data.digest import digest
from tuner.data.images import Images
from tuner.data.sources import Source

__all__ = ["Dataset", "Images", "Source", "check_source", "digest", "load_dataset", "load_images", "source_of", "train_share"]
