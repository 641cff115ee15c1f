"""CIFAR-10's python batches, unpickled without running any code they name.

The batches are pickled dicts of lists, bytes and one numpy array. Pickle can
name any importable callable; :class:`SafeUnpickler` resolves only the handful
that rebuild a numpy array (and latin-1 bytes, as Python 3's protocol 2
writes them) and refuses every other name before it is called. Arrays come
back checked: ``uint8``, one row of 3,072 pixels per label.

Example::

    images = load_batches(Path("data/cifar-10-batches-py"))
    images.x.shape, images.test_x.shape  # (50000, 32, 32, 3), (10000, 32, 32, 3)
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tuner._compat.numpy import RECONSTRUCT_NAMES, reconstruct
from tuner.data.images import Images, index_ids
from tuner.errors import DataError

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
SIDE, CHANNELS = 32, 3
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
HOW_TO_GET = (
    f"download {URL}, extract it (tar xzf cifar-10-python.tar.gz) and set data.path to the "
    "cifar-10-batches-py folder it creates (data_batch_1..5, test_batch); or use data.source=keras where "
    "the network allows"
)


def _latin1(text: str, encoding: str = "latin1") -> bytes:
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


ALLOWED: dict[tuple[str, str], Callable[..., Any] | type] = {
    **{name: reconstruct for name in RECONSTRUCT_NAMES},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1,
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in ``ALLOWED``; any other raises before it can run."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: not a numpy array part") from None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file: images (N, 32, 32, 3) uint8 and labels (N,)."""
    try:
        with path.open("rb") as handle:
            batch = SafeUnpickler(handle, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError) as err:
        raise DataError(f"{path}: not a CIFAR-10 python batch, or it asks to run code ({err}); "
                        f"replace it with the original file ({URL})") from err
    if not isinstance(batch, dict):
        raise DataError(f"{path}: holds a {type(batch).__name__}, not a CIFAR-10 batch dict; replace it ({URL})")
    data, labels = batch.get(b"data", batch.get("data")), batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != SIDE * SIDE * CHANNELS:
        raise DataError(f"{path}: its 'data' is not a uint8 array of rows of {SIDE * SIDE * CHANNELS} pixels; "
                        f"replace it with the original file ({URL})")
    if not isinstance(labels, list) or len(labels) != len(data) or not all(type(v) is int for v in labels):
        raise DataError(f"{path}: its 'labels' is not a list of {len(data)} integers; replace it ({URL})")
    images = data.reshape(-1, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def batch_files(root: Path) -> list[Path]:
    """The six batch files under ``root``, in order (five train, then test)."""
    paths = [root / name for name in (*TRAIN_BATCHES, TEST_BATCH)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"no CIFAR-10 batches ({', '.join(missing)}) at {root} (data.path): {HOW_TO_GET}")
    return paths


def load_batches(root: Path) -> Images:
    """Train (the five data batches) and test (``test_batch``), test ids ``cifar10-test-00000``…"""
    parts = [read_batch(p) for p in batch_files(root)]
    x = np.concatenate([images for images, _ in parts[:-1]])
    y = np.concatenate([labels for _, labels in parts[:-1]])
    test_x, test_y = parts[-1]
    return Images(x=x, y=y, ids=index_ids("cifar10-train", len(y)),
                  test_x=test_x, test_y=test_y, test_ids=index_ids("cifar10-test", len(test_y)))
