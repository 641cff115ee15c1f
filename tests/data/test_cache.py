"""The disk cache: a second load reads no image, a changed source is decoded again, a corrupt cache is rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from tuner.config import compose
from tuner.data import load_images

from ..datafiles import write_cifar_folder, write_digits_folder


def load(root: Path, cache: Path, task: str = "digits", source: str = "folder"):
    return load_images(compose([f"data={task}", f"data.source={source}", f"data.path={root}"]).data, cache)


def only_file(cache: Path) -> Path:
    files = list(cache.iterdir())
    assert len(files) == 1, files
    return files[0]


def replace_keeping_identity(path: Path, pixels: np.ndarray) -> None:
    """Rewrite an uncompressed image with other pixels, same size and modification time (what the key sees)."""
    stat = path.stat()
    Image.fromarray(pixels).save(path, compress_level=0)
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_second_load_reads_the_cache_not_the_images(tmp_path):
    root, cache = write_digits_folder(tmp_path / "digits"), tmp_path / "cache"
    path = root / "Images/train/3.png"
    Image.open(path).convert("L").save(path, compress_level=0)
    first = load(root, cache)
    assert only_file(cache).name.startswith("digits-folder-")
    replace_keeping_identity(path, 255 - first.x[3, ..., 0])
    second = load(root, cache)
    np.testing.assert_array_equal(second.x, first.x)  # the edit is invisible: nothing was decoded
    fresh = load(root, tmp_path / "other-cache")
    np.testing.assert_array_equal(fresh.x[3, ..., 0], 255 - first.x[3, ..., 0])  # a decode would have seen it
    np.testing.assert_array_equal(second.test_ids, first.test_ids)


def test_a_changed_source_is_decoded_again(tmp_path):
    root, cache = write_digits_folder(tmp_path / "digits"), tmp_path / "cache"
    first = load(root, cache)
    inverted = 255 - first.x[3, ..., 0]
    Image.fromarray(inverted).save(root / "Images/train/3.png")
    os.utime(root / "Images/train/3.png", ns=(1, 1))
    np.testing.assert_array_equal(load(root, cache).x[3, ..., 0], inverted)
    lines = (root / "train.csv").read_text().splitlines()
    (root / "train.csv").write_text("\n".join(lines[:-1]) + "\n")  # one row fewer
    assert len(load(root, cache).y) == 99
    assert len(list(cache.iterdir())) == 3  # one file per distinct source identity


def test_a_corrupt_cache_file_is_rebuilt_not_trusted(tmp_path):
    root, cache = write_digits_folder(tmp_path / "digits"), tmp_path / "cache"
    good = load(root, cache)
    path = only_file(cache)
    size = path.stat().st_size
    for damage in (lambda raw: raw[: len(raw) // 2], lambda raw: b"garbage" * 10, lambda raw: b""):
        path.write_bytes(damage(path.read_bytes()))
        again = load(root, cache)
        np.testing.assert_array_equal(again.x, good.x)
        assert only_file(cache) == path and path.stat().st_size == size  # rewritten whole


def test_a_cache_file_holding_pickled_objects_is_never_unpickled(tmp_path):
    root, cache = write_digits_folder(tmp_path / "digits"), tmp_path / "cache"
    good = load(root, cache)
    path = only_file(cache)
    with path.open("wb") as handle:  # an object array would need pickle to load
        np.savez(handle, x=np.array([os.system], dtype=object), y=good.y, ids=good.ids)
    np.testing.assert_array_equal(load(root, cache).x, good.x)


def test_a_cache_file_with_inconsistent_arrays_is_rebuilt(tmp_path):
    root, cache = write_cifar_folder(tmp_path / "cifar"), tmp_path / "cache"
    good = load(root, cache, "cifar10", "batches")
    path = only_file(cache)
    with path.open("wb") as handle:
        np.savez(handle, **{**good.arrays(), "y": good.y[:5]})
    np.testing.assert_array_equal(load(root, cache, "cifar10", "batches").y, good.y)


def test_an_unwritable_cache_location_only_warns(tmp_path, caplog):
    root, blocked = write_digits_folder(tmp_path / "digits"), tmp_path / "a-file"
    blocked.write_text("not a folder")
    images = load(root, blocked / "cache")
    assert images.x.shape == (100, 28, 28, 1)
    assert "cannot write the data cache" in caplog.text and "data.cache_dir" in caplog.text
