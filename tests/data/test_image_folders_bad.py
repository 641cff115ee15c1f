"""``data=images``: every bad folder or setting is an error naming the file or key and the fix; no cache is left."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tuner.config import compose, validate
from tuner.data import load_dataset, load_images
from tuner.data.folders import check_memory
from tuner.errors import ConfigError, DataError

from ..imagefolders import write_class_folders
from .test_bad import refused as refused_by


def images_data(root: Path, *overrides: str):
    return compose(["data=images", f"data.path={root}", *overrides]).data


def refused(root: Path, tmp_path: Path, *needles: str) -> str:
    return refused_by("images", "folders", root, tmp_path, *needles)


@pytest.fixture
def photos(tmp_path) -> Path:
    return write_class_folders(tmp_path / "photos", per_class=6)


def png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose header claims ``width`` x ``height`` pixels (what a decompression bomb looks like)."""
    import io

    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, format="PNG")
    raw = bytearray(out.getvalue())
    ihdr = raw[12:29]  # b"IHDR" + 13 bytes of data
    ihdr[4:12] = struct.pack(">II", width, height)
    raw[12:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(raw)


def test_a_class_folder_without_images(photos, tmp_path):
    (photos / "emu").mkdir()
    (photos / "emu" / "readme.txt").write_text("no images yet")
    refused(photos, tmp_path, str(photos / "emu"), "a class folder with no images", "add images or remove")


def test_only_one_class(tmp_path):
    root = write_class_folders(tmp_path / "photos", classes=("cat",), per_class=4)
    refused(root, tmp_path, "1 class folder (cat)", "at least two")


def test_a_class_with_a_single_image_cannot_be_stratified(photos, tmp_path):
    (photos / "yak").mkdir()
    Image.new("RGB", (8, 8)).save(photos / "yak" / "only.png")
    with pytest.raises(DataError, match="class 'yak' has a single image left for the test split .* needs at least "
                                        "two of each class to stratify; add images of that class"):
        load_dataset(images_data(photos, f"data.cache_dir={tmp_path / 'cache'}"), seed=0)


@pytest.mark.parametrize("kind, needle", [
    ("text", "not a readable image"), ("truncated", "not a readable image"), ("zero", "empty (0 bytes)"),
    ("bomb", "decompression bomb"), ("warned-bomb", "decompression bomb"),
])
def test_bad_image_files_are_named(photos, tmp_path, kind, needle):
    path = photos / "dog" / "bad.jpg"
    if kind == "text":
        path.write_text("this is not a JPEG")
    elif kind == "truncated":
        Image.effect_noise((64, 64), 50).convert("RGB").save(path, format="JPEG")
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "zero":
        path.write_bytes(b"")
    else:
        path = path.with_suffix(".png")
        side = 20000 if kind == "bomb" else 10000  # 2x Pillow's limit raises; between 1x and 2x it only warns
        path.write_bytes(png_claiming(side, side))
    refused(photos, tmp_path, str(path), needle, "replace it")


def test_a_symlink_that_leaves_the_folder_is_refused(photos, tmp_path):
    outside = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8)).save(outside)
    (photos / "cat" / "linked.png").symlink_to(outside)
    refused(photos, tmp_path, str(photos / "cat" / "linked.png"), "leads outside", "copy the file")


def test_a_symlinked_folder_that_leaves_is_refused(photos, tmp_path):
    (tmp_path / "more").mkdir()
    (photos / "owl" / "extra").symlink_to(tmp_path / "more", target_is_directory=True)
    refused(photos, tmp_path, str(photos / "owl" / "extra"), "leads outside")


def test_test_images_both_in_class_folders_and_loose(tmp_path):
    root = write_class_folders(tmp_path / "photos", per_class=6, test="labelled")
    Image.new("RGB", (8, 8)).save(root / "test" / "stray.png")
    refused(root, tmp_path, str(root / "test"), "both class folders", "stray.png")


def test_a_test_class_that_train_lacks(tmp_path):
    root = write_class_folders(tmp_path / "photos", per_class=6, test="labelled")
    (root / "test" / "cow").mkdir()
    Image.new("RGB", (8, 8)).save(root / "test" / "cow" / "1.png")
    refused(root, tmp_path, str(root / "test" / "cow"), "train classes: cat, dog, owl")


@pytest.mark.parametrize("override, needle", [
    ("data.image_size=[0,32]", "data.image_size=[0, 32]: give [height, width]"),
    ("data.image_size=[32,-4]", "data.image_size=[32, -4]"),
    ("data.image_size=[32]", "data.image_size=[32]"),
    ("data.color_mode=sepia", "unknown data.color_mode 'sepia'; choose one of: rgb, grayscale"),
])
def test_bad_settings_stop_before_any_data_is_read(tmp_path, override, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        validate(compose(["data=images", f"data.path={tmp_path / 'nowhere'}", override]))


def test_a_non_integer_image_size_is_refused_when_composed(tmp_path):
    with pytest.raises(ConfigError, match=r"data.image_size=\[1.5,32\]"):
        compose(["data=images", "data.image_size=[1.5,32]"])


def test_arrays_that_would_not_fit_in_memory_name_a_size_that_would(photos, tmp_path):
    with pytest.raises(DataError, match=r"set data.image_size=\[(\d+),\1\] or smaller") as err:
        check_memory(100_000, (512, 512), "rgb", available=8 * 2**30)
    side = int(str(err.value).split("set data.image_size=[")[-1].split(",")[0])
    assert 0 < side < 512
    assert check_memory(100_000, (side, side), "rgb", available=8 * 2**30) <= 4 * 2**30  # the size named fits
    # checked before decoding: 18 real images at a size no machine holds
    with pytest.raises(DataError, match=r"18 images at data.image_size=\[100000, 100000\] \(rgb\) need about .* "
                                        r"or smaller"):
        load_images(images_data(photos, "data.image_size=[100000,100000]"), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
