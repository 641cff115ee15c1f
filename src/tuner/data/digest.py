"""What a dataset holds, as one hash: the same images and labels give the same digest on any machine.

The digest covers the decoded arrays of every split (bytes, shape and dtype), the test ids, the number of
classes and their names (only where they are not the default ``"0".."n-1"``, so that the digests recorded before
names existed still hold); never where the files lie or when they were written, so two copies of the same data in different
folders (or on different machines) agree. It is what a study records as the data it was trained on, and
the MLflow dataset inputs' digest.

Example::

    digest(load_dataset(cfg.data, seed=0))  # "3f1c…" (64 hex digits)
"""

from __future__ import annotations

import hashlib
import weakref

import numpy as np

from tuner.data.dataset import Dataset
from tuner.data.images import default_class_names

FORMAT = 1  # bump when what is hashed changes: every recorded digest then differs
_known: dict[int, str] = {}  # id(dataset) -> its digest, while that dataset lives: hashed once per load


def digest(dataset: Dataset) -> str:
    """The sha256 (hex) of ``dataset``'s splits (x/y of train, validation and test: bytes, shape, dtype),
    its test ids, its number of classes and their names. Computed once per loaded dataset.

    Example::

        digest(a) == digest(b)  # True for the same images, labels and split, wherever each copy was read
    """
    key = id(dataset)
    if key not in _known:
        _known[key] = _compute(dataset)
        weakref.finalize(dataset, _known.pop, key, None)
    return _known[key]


def _compute(dataset: Dataset) -> str:
    h = hashlib.sha256(f"tuner-dataset-v{FORMAT}\0n_classes={dataset.n_classes}".encode())
    arrays = {"x_train": dataset.x_train, "y_train": dataset.y_train, "x_val": dataset.x_val,
              "y_val": dataset.y_val, "x_test": dataset.x_test, "y_test": dataset.y_test}
    for name, array in arrays.items():
        if array is None:
            h.update(f"\0{name}=none".encode())
            continue
        a = np.ascontiguousarray(array)
        h.update(f"\0{name}:{a.dtype.str}:{a.shape}\0".encode())
        h.update(a.reshape(-1).view(np.uint8))
    h.update(b"\0test_ids")
    for test_id in dataset.test_ids:
        h.update(test_id.encode() + b"\0")
    if dataset.class_names != default_class_names(dataset.n_classes):
        h.update(b"\0class_names")
        for name in dataset.class_names:
            h.update(name.encode() + b"\0")
    return h.hexdigest()
