"""Tasks and their data: decode once (cached on disk), split stratified and seeded.

Images stay uint8 (0-255) in memory, held once; models scale them in-graph.

Example::

    ds = load_dataset(cfg.data, seed=0)
    ds.x_train.shape, ds.x_train.dtype  # (3500, 28, 28, 1), uint8
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from tuner.config import instantiate, plain
from tuner.data import cache
from tuner.data.images import Images, default_class_names
from tuner.data.sources import Source
from tuner.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dataset:
    """Train, validation and test splits; pixels are uint8 0-255 (the model scales them).

    ``class_names[i]`` is the name of label ``i``, what a submission writes: the folder names of ``data=images``,
    ``"0".."n-1"`` (the default) for tasks whose labels are digits or class numbers.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray | None
    test_ids: tuple[str, ...]
    n_classes: int
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.class_names:
            object.__setattr__(self, "class_names", default_class_names(self.n_classes))
        elif len(self.class_names) != self.n_classes:
            raise DataError(f"{len(self.class_names)} class names for {self.n_classes} classes; check data.n_classes")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @functools.cached_property
    def pixel_mean(self) -> np.ndarray:
        """The training split's mean of each pixel (H, W, C), for ``preprocess=center``."""
        return self.x_train.mean(axis=0, dtype=np.float64).astype(np.float32)


def check_source(data: Any) -> None:
    """Raise a ConfigError naming the allowed values if ``data.source`` is not in the task's ``data.sources``."""
    if data.source not in data.sources:
        raise ConfigError(f"unknown source '{data.source}' at data.source for task {data.name}; choose one of: "
                          f"{', '.join(data.sources)}")


def source_of(data: Any) -> Source:
    """The source ``data.source`` names, built from its entry in ``data.sources``."""
    check_source(data)
    return instantiate(data.sources[data.source], f"data.sources.{data.source}")


def load_dataset(data: Any, seed: int) -> Dataset:
    """Load, subsample and split the task that ``data`` (the ``data`` section) names."""
    check_source(data)
    entry = json.dumps(plain(data.sources[data.source]), sort_keys=True, default=str)
    return _load(
        entry, data.name, data.source, data.path, None if data.n_classes is None else int(data.n_classes), float(data.val_fraction),
        float(data.test_fraction), data.max_samples, int(seed), str(cache.cache_dir(data.cache_dir)),
    )


def load_images(data: Any, cache_dir: Path | None = None) -> Images:
    """The decoded source of the ``data`` section, before any split: from the disk cache (``cache_dir``, default
    ``data.cache_dir``'s) when its files are unchanged, else decoded and cached."""
    folder = cache_dir if cache_dir is not None else cache.cache_dir(data.cache_dir)
    n_classes = None if data.n_classes is None else int(data.n_classes)
    return _decode(source_of(data), data.name, data.source, data.path, n_classes, folder)


def _decode(src: Source, name: str, source: str, path: str | None, n_classes: int | None, cache_dir: Path) -> Images:
    if src.files is None:
        return src.load(None, _known(n_classes, name))
    if not path:
        raise DataError(f"data.path is not set for data.source={source} (task {name}): {src.missing}")
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"{root} (data.path): no such folder; {src.missing}")
    key = cache.source_key(name, source, root, src.files(root), src.key)
    images = cache.read(cache_dir, key)
    if images is None:
        images = src.load(root, n_classes if src.names_classes else _known(n_classes, name))
        try:
            log.info("decoded %s/%s from %s; cached in %s", name, source, root, cache.write(cache_dir, key, images))
        except OSError as err:
            log.warning("cannot write the data cache in %s (%s): the next run decodes %s again; point data.cache_dir "
                        "(or $%s) at a writable folder", cache_dir, err, root, cache.ENV)
    return images



def _known(n_classes: int | None, name: str) -> int:
    if n_classes is None:
        raise ConfigError(f"data.n_classes is null for task {name}, whose source does not name its classes; "
                          "set data.n_classes to the number of classes")
    return n_classes


def class_names_of(images: Images, n_classes: int | None, name: str) -> tuple[str, ...]:
    """The names of ``images``' labels: its own (a folder's class subfolders) or ``"0".."n-1"``; ``n_classes``,
    when set, must agree with a source that names its classes."""
    if images.class_names is None:
        return default_class_names(_known(n_classes, name))
    names = tuple(str(c) for c in images.class_names)
    if n_classes is not None and n_classes != len(names):
        raise ConfigError(f"data.n_classes={n_classes}, but the data of task {name} has {len(names)} classes "
                          f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''}); set data.n_classes=null "
                          "to count them from the data")
    return names


def _check_stratifiable(y: np.ndarray, class_names: tuple[str, ...], what: str, split: str) -> None:
    """A DataError naming the class when a stratified split of ``y`` cannot keep every class on both sides."""
    counts = np.bincount(y, minlength=len(class_names))
    thin = [i for i, c in enumerate(counts) if c == 1]
    if thin:
        raise DataError(f"{what}: class '{class_names[thin[0]]}' has a single image left for {split}, which needs at "
                        f"least two of each class to stratify; add images of that class, or remove its folder")


@functools.lru_cache(maxsize=4)
def _load(entry: str, name: str, source: str, path: str | None, n_classes: int | None, val_fraction: float,
          test_fraction: float, max_samples: int | None, seed: int, cache_dir: str) -> Dataset:
    src = instantiate(json.loads(entry), f"data.sources.{source}")
    images = _decode(src, name, source, path, n_classes, Path(cache_dir))
    class_names = class_names_of(images, n_classes, name)
    n_classes = len(class_names)
    for labels, split in ((images.y, "training"), (images.test_y, "test")):
        if labels is not None and len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise DataError(f"{name}/{source}: {split} labels outside 0..{n_classes - 1}; check data.n_classes")
    x, y, ids = images.x, images.y, images.ids
    rng = np.random.RandomState(seed)
    if max_samples is not None and max_samples < len(y):
        _check_stratifiable(y, class_names, f"{name}/{source}", "data.max_samples")
        keep = np.sort(train_test_split(np.arange(len(y)), train_size=max_samples, stratify=y, random_state=rng)[0])
        x, y, ids = x[keep], y[keep], ids[keep]
    index = np.arange(len(y))
    if images.has_test:
        rest, val_size = index, val_fraction
        x_test, y_test, test_ids = images.test_x, images.test_y, images.test_ids
    else:
        _check_stratifiable(y, class_names, f"{name}/{source}", "the test split (data.test_fraction)")
        rest, test = train_test_split(index, test_size=test_fraction, stratify=y, random_state=rng)
        test, val_size = np.sort(test), val_fraction / (1.0 - test_fraction)
        x_test, y_test, test_ids = x[test], y[test], ids[test]
    _check_stratifiable(y[rest], class_names, f"{name}/{source}", "the validation split (data.val_fraction)")
    train, val = train_test_split(rest, test_size=val_size, stratify=y[rest], random_state=rng)
    return Dataset(
        x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val],
        x_test=x_test, y_test=y_test, test_ids=tuple(str(i) for i in test_ids), n_classes=n_classes,
        class_names=class_names,
    )


def train_share(data: Dataset, fraction: float, seed: int) -> Dataset:
    """``data`` with ``fraction`` of its training images (each class's share, rounded up), the same images for
    the same seed; validation and test unchanged. A cheaper fidelity of the same task (``sampler=priorband``)."""
    if fraction >= 1.0:
        return data
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(data.y_train == c))[:math.ceil(fraction * np.sum(data.y_train == c))]
            for c in range(data.n_classes)]
    pick = np.sort(np.concatenate(keep))
    share = dataclasses.replace(data, x_train=data.x_train[pick], y_train=data.y_train[pick])
    object.__setattr__(share, "pixel_mean", data.pixel_mean)  # the model's centring stays the full split's
    return share
