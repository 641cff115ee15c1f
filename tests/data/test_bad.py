"""Bad input files: each refused with an error that names the file (or row) and the fix; nothing is cached."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuner.config import compose
from tuner.data import load_images
from tuner.errors import DataError

from ..datafiles import (
    cifar_batch,
    idx_bytes,
    write_cifar_folder,
    write_digits_folder,
    write_idx_folder,
)


def load(task: str, source: str, root: Path, cache: Path):
    return load_images(compose([f"data={task}", f"data.source={source}", f"data.path={root}"]).data, cache)


def refused(task: str, source: str, root: Path, tmp_path: Path, *needles: str) -> str:
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        load(task, source, root, cache)
    message = str(err.value)
    for needle in needles:
        assert needle in message, message
    assert not cache.exists() or not any(cache.iterdir()), "a failed decode must not leave a cache file"
    return message


@pytest.fixture
def digits(tmp_path) -> Path:
    return write_digits_folder(tmp_path / "digits")


def set_train_row(root: Path, row: int, text: str) -> None:
    lines = (root / "train.csv").read_text().splitlines()
    lines[row] = text
    (root / "train.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "../test/100.png"])
def test_filenames_that_escape_the_image_folder(digits, tmp_path, name):
    set_train_row(digits, 1, f"{name},0")
    refused("digits", "folder", digits, tmp_path, str(digits / "train.csv"), repr(name), "not a plain name")


def test_a_symlink_that_points_outside(digits, tmp_path):
    outside = tmp_path / "secret.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(outside)
    (digits / "Images/train/link.png").symlink_to(outside)
    set_train_row(digits, 1, "link.png,0")
    refused("digits", "folder", digits, tmp_path, "'link.png' leads outside", str(outside))


def test_a_symlink_inside_the_folder_is_fine(digits, tmp_path):
    (digits / "Images/train/alias.png").symlink_to(digits / "Images/train/1.png")
    set_train_row(digits, 1, "alias.png,1")
    assert load("digits", "folder", digits, tmp_path / "cache").x.shape == (100, 28, 28, 1)


def test_missing_image(digits, tmp_path):
    (digits / "Images/train/5.png").unlink()
    refused("digits", "folder", digits, tmp_path, str(digits / "Images/train/5.png"), "missing", "remove its row")


def write_bad_image(path: Path, kind: str) -> None:
    good = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "not-an-image":
        path.write_text("just some text")


@pytest.mark.parametrize("kind, needle", [
    ("truncated", "not a readable image"), ("zero-byte", "empty (0 bytes)"), ("not-an-image", "not a readable image"),
])
def test_bad_images_are_named(digits, tmp_path, kind, needle):
    path = digits / "Images/test/107.png"
    write_bad_image(path, kind)
    refused("digits", "folder", digits, tmp_path, str(path), needle, "replace it")


def test_any_format_size_and_mode_is_resized_to_28x28_grayscale(digits, tmp_path):
    """The "Identify the Digits" folder takes what the images task takes: here a 40x56 RGB JPEG under a .png name
    and a palette GIF, each resized to 28x28 and converted to one channel."""
    white = Image.new("RGB", (56, 40), (255, 255, 255))
    white.save(digits / "Images/train/3.png", format="JPEG")
    Image.new("P", (10, 10), 0).save(digits / "Images/train/4.png", format="GIF")
    images = load("digits", "folder", digits, tmp_path / "cache")
    assert images.x.shape == (100, 28, 28, 1)
    row = {name: i for i, name in enumerate(images.ids)}
    assert images.x[row["3.png"]].min() >= 250 and images.x[row["4.png"]].max() == 0


@pytest.mark.parametrize("content, needle", [
    ("", "empty"),
    ("filename,label\n", "has a header but no rows"),
    ("file,label\n0.png,0\n", "no column 'filename'"),
    ("filename\n0.png\n", "no column 'label'"),
    ("filename,label\n0.png,0\n1.png,1\n0.png,0\n", "line 4: filename '0.png' appears twice"),
    ("filename,label\n0.png,0\n1.png,12\n", "label 12 of 1.png lies outside the task's labels 0..9"),
    ("filename,label\n0.png,0\n\n1.png,one\n", "line 4: label 'one' is not a whole number"),
])
def test_bad_train_csv(digits, tmp_path, content, needle):
    (digits / "train.csv").write_text(content)
    refused("digits", "folder", digits, tmp_path, str(digits / "train.csv"), needle)


def test_missing_csv_names_the_layout(digits, tmp_path):
    (digits / "test.csv").unlink()
    refused("digits", "folder", digits, tmp_path, str(digits / "test.csv"), "Images/test/*.png")


@pytest.mark.parametrize("damage, needle", [
    (lambda raw: b"\x00\x00\x08\x01" + raw[4:], "magic number 00000801"),
    (lambda raw: raw[:-28], "truncated or corrupt"),
    (lambda raw: raw + b"\x00", "truncated or corrupt"),
])
def test_bad_idx_files(tmp_path, damage, needle):
    root = write_idx_folder(tmp_path / "idx", gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    refused("digits", "idx", root, tmp_path, str(path), needle)


def test_idx_images_and_labels_must_agree(tmp_path):
    root = write_idx_folder(tmp_path / "idx")
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(7, np.uint8))))
    refused("digits", "idx", root, tmp_path, "t10k has 20 images but 7 labels")


def test_idx_truncated_gzip(tmp_path):
    root = write_idx_folder(tmp_path / "idx")
    path = root / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    refused("digits", "idx", root, tmp_path, str(path), "download the file again")


def test_idx_missing_file_names_what_to_put_where(tmp_path):
    root = write_idx_folder(tmp_path / "idx")
    (root / "t10k-images-idx3-ubyte.gz").unlink()
    refused("digits", "idx", root, tmp_path, str(root), "t10k-images-idx3-ubyte.gz", "data.path")


class Payload:
    """Unpickling this object runs ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


PAYLOADS = {
    "os.system": lambda s: Payload(os.system, f"touch {s}"),
    "subprocess.call": lambda s: Payload(subprocess.call, ["touch", str(s)]),
    "builtins.exec": lambda s: Payload(exec, f"open({str(s)!r}, 'w').close()"),
}


@pytest.mark.parametrize("where", ["top", "inside labels"])
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_a_cifar_pickle_that_would_run_code_is_refused_without_running_it(tmp_path, name, where):
    root = write_cifar_folder(tmp_path / "cifar")
    proof, sentinel = tmp_path / "proof", tmp_path / "sentinel"
    pickle.loads(pickle.dumps(PAYLOADS[name](proof), protocol=2))  # plain pickle runs it: the payload is real
    assert proof.exists()
    batch = cifar_batch(40, 0)
    if where == "top":
        batch = PAYLOADS[name](sentinel)
    else:
        batch[b"labels"] = [PAYLOADS[name](sentinel), *batch[b"labels"][1:]]
    (root / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))
    refused("cifar10", "batches", root, tmp_path, str(root / "data_batch_3"), "refusing to load", "replace it")
    assert not sentinel.exists()


def test_a_cifar_batch_of_the_wrong_shape(tmp_path):
    root = write_cifar_folder(tmp_path / "cifar")
    batch = cifar_batch(40, 0)
    batch[b"data"] = batch[b"data"][:, :1000]
    (root / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    refused("cifar10", "batches", root, tmp_path, str(root / "test_batch"), "rows of 3072 pixels")


def test_a_cifar_batch_that_is_not_a_pickle(tmp_path):
    root = write_cifar_folder(tmp_path / "cifar")
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    (root / "data_batch_1").write_bytes(buffer.getvalue())
    refused("cifar10", "batches", root, tmp_path, str(root / "data_batch_1"), "not a CIFAR-10 python batch")
