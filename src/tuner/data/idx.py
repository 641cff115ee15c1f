"""MNIST-style IDX files (``train-images-idx3-ubyte[.gz]`` and friends), raw or gzipped.

An IDX file is two zero bytes, a type byte (0x08: unsigned bytes), the number
of dimensions, one big-endian uint32 per dimension, then the data. Both the
magic number and the length are checked before anything is returned.

Example::

    images = load_idx_folder(Path("/usr/share/datasets/fashion-mnist"), "fashion")
    images.x.shape, images.test_x.shape  # (60000, 28, 28, 1), (10000, 28, 28, 1)
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from tuner.data.images import Images, index_ids
from tuner.errors import DataError

UBYTE = 0x08
# each part of the data set, and the number of dimensions its file holds
PARTS = {"train-images": 3, "train-labels": 1, "t10k-images": 3, "t10k-labels": 1}


def idx_files(root: Path) -> list[Path]:
    """The four files in ``root`` (``train-images-idx3-ubyte`` or ``train-images.idx3-ubyte``, either ``.gz``)."""
    found = []
    for part, ndim in PARTS.items():
        names = [f"{part}{sep}idx{ndim}-ubyte{ext}" for sep in ("-", ".") for ext in (".gz", "")]
        path = next((root / n for n in names if (root / n).is_file()), None)
        if path is None:
            raise DataError(
                f"{root}: no {names[0]} (or {names[1]}) in data.path; put the four IDX files "
                f"({', '.join(f'{p}-idx{n}-ubyte.gz' for p, n in PARTS.items())}) in one folder and set data.path to it"
            )
        found.append(path)
    return found


def load_idx_folder(root: Path, prefix: str) -> Images:
    """Train and test images and labels from the IDX files in ``root``; test ids ``<prefix>-test-00000``…"""
    train_x, train_y, test_x, test_y = (read_idx(p, ndim) for p, ndim in zip(idx_files(root), PARTS.values()))
    for images, labels, part in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if len(images) != len(labels):
            raise DataError(f"{root}: {part} has {len(images)} images but {len(labels)} labels; "
                            "the files come from different data sets: replace them with a matching set")
    return Images(
        x=train_x[..., None], y=train_y.astype(np.int64), ids=index_ids(f"{prefix}-train", len(train_y)),
        test_x=test_x[..., None], test_y=test_y.astype(np.int64), test_ids=index_ids(f"{prefix}-test", len(test_y)),
    )


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """One IDX file of unsigned bytes with ``ndim`` dimensions, checked against its header."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot be read or decompressed ({err}); download the file again") from err
    header = 4 + 4 * ndim
    if len(raw) < header or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE or raw[3] != ndim:
        magic = raw[:4].hex() if len(raw) >= 4 else "none"
        raise DataError(f"{path}: not an IDX file of {ndim} dimension(s) of unsigned bytes (magic number {magic}, "
                        f"expected 0000080{ndim}); check that this is the right file")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(f"{path}: its header promises {shape} = {expected} bytes of data but it holds "
                        f"{len(raw) - header}; the file is truncated or corrupt: download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
