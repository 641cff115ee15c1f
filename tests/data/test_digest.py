"""The data digest: the same images give the same digest wherever they were read; other data gives another."""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np

from tuner.config import compose
from tuner.data import digest, load_dataset
from tuner.data.digest import _compute

from ..datafiles import FASHION_DIR, write_idx_folder


def idx_data(path, *overrides: str):
    return compose(["data.source=idx", f"data.path={path}", *overrides]).data


def test_two_copies_in_different_folders_give_the_same_digest(tmp_path):
    a = write_idx_folder(tmp_path / "machine_a" / "mnist")
    b = write_idx_folder(tmp_path / "elsewhere" / "copy")
    for f in b.iterdir():
        os.utime(f, (1_000_000_000, 1_000_000_000))  # another copy, other times: the cache keys differ
    first, second = load_dataset(idx_data(a), seed=0), load_dataset(idx_data(b), seed=0)
    assert first is not second  # decoded twice, from two folders
    assert len(digest(first)) == 64 and digest(first) == digest(second)


def test_other_images_labels_or_splits_give_another_digest(tmp_path):
    ds = load_dataset(idx_data(write_idx_folder(tmp_path / "mnist")), seed=0)
    pixel = ds.x_train.copy()
    pixel[0, 0, 0, 0] ^= 1
    label = ds.y_val.copy()
    label[0] = (label[0] + 1) % ds.n_classes
    changed = [dataclasses.replace(ds, x_train=pixel), dataclasses.replace(ds, y_val=label),
               dataclasses.replace(ds, test_ids=("other",) + ds.test_ids[1:]),
               dataclasses.replace(ds, y_test=None), dataclasses.replace(ds, n_classes=11, class_names=()),
               dataclasses.replace(ds, class_names=tuple("abcdefghij")),
               load_dataset(idx_data(tmp_path / "mnist"), seed=1),
               load_dataset(idx_data(tmp_path / "mnist", "data.val_fraction=0.2"), seed=0)]
    digests = {digest(ds)} | {digest(other) for other in changed}
    assert len(digests) == 1 + len(changed)


def test_the_same_bytes_in_another_shape_or_dtype_differ():
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    y = np.array([0, 1])
    ds = load_dataset(compose(["data.max_samples=100"]).data, seed=0)
    base = dataclasses.replace(ds, x_train=x, y_train=y)
    reshaped = dataclasses.replace(base, x_train=x.reshape(2, 2, 8, 1))
    retyped = dataclasses.replace(base, y_train=y.astype(np.int32))
    assert len({digest(base), digest(reshaped), digest(retyped)}) == 3


def test_hashing_fashion_takes_well_under_a_second():
    ds = load_dataset(compose(["data=fashion", f"data.path={FASHION_DIR}"]).data, seed=0)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 70_000
    start = time.perf_counter()
    first = _compute(ds)
    took = time.perf_counter() - start
    assert took < 1.0, f"{took:.2f} s to hash fashion's 70,000 images"
    assert digest(ds) == first and digest(ds) is digest(ds)  # hashed once, then remembered
