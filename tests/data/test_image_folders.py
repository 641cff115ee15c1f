"""``data=images``: the three layouts of class folders, decoded (every format, size and mode) and cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuner.config import compose
from tuner.data import load_dataset, load_images
from tuner.data.decode import decode_image
from tuner.data.folders import scan
from tuner.errors import DataError

from ..imagefolders import CLASSES, KINDS, write_class_folders


def images_data(root, *overrides: str):
    return compose(["data=images", f"data.path={root}", *overrides]).data


def test_flat_layout_names_classes_by_folder_and_carves_a_stratified_test_split(tmp_path):
    root = write_class_folders(tmp_path / "photos")
    (root / "cat" / ".DS_Store").write_bytes(b"\0\1")
    (root / "dog" / "notes.txt").write_text("not an image")
    layout = scan(root)
    assert layout.class_names == CLASSES and layout.skipped == 2 and layout.test is None
    assert "cat/more/0-001.jpg" in layout.train_ids  # a nested folder counts for its class
    ds = load_dataset(images_data(root), seed=0)
    assert ds.class_names == CLASSES and ds.n_classes == 3
    assert ds.x_train.shape[1:] == (32, 32, 3) and ds.x_train.dtype == np.uint8
    assert len(ds.y_train) + len(ds.y_val) + len(ds.x_test) == 36
    assert set(np.unique(ds.y_test)) == {0, 1, 2}  # stratified: every class in the test split
    assert all(i.split("/")[0] in CLASSES for i in ds.test_ids)


@pytest.mark.parametrize("test", ["labelled", "unlabelled"])
def test_train_and_test_folders(tmp_path, test):
    root = write_class_folders(tmp_path / "photos", test=test)
    images = load_images(images_data(root, "data.image_size=[16,24]", "data.color_mode=grayscale"),
                         tmp_path / "cache")
    assert images.x.shape == (36, 16, 24, 1) and images.test_x.shape == (12, 16, 24, 1)
    assert list(images.class_names) == list(CLASSES)
    if test == "labelled":
        assert images.test_ids[0] == "cat/0-500.png" and list(images.test_y) == [0] * 4 + [1] * 4 + [2] * 4
    else:
        assert images.test_y is None and images.test_ids[0] == "new-0-0.png"  # relative to DIR/test/


def test_every_format_and_mode_decodes_to_the_colour_it_holds(tmp_path):
    root = write_class_folders(tmp_path / "photos", per_class=len(KINDS))
    images = load_images(images_data(root), tmp_path / "cache")
    formats = {Image.open(p).format for p, _ in scan(root).train}
    assert formats == {"PNG", "JPEG", "BMP", "GIF", "WEBP"}
    for x, label, name in zip(images.x, images.y, images.ids):
        mean = x.reshape(-1, 3).mean(axis=0)
        if KINDS[int(Path(name).stem.split("-")[-1]) % len(KINDS)][2] == "L":
            assert mean[0] == mean[1] == mean[2]  # a grayscale file: the same value in every channel
        else:
            assert np.argmax(mean) == label, (name, mean)


def test_exif_orientation_is_honoured(tmp_path):
    wide = Image.new("RGB", (40, 20), (255, 255, 255))
    wide.paste((0, 0, 0), (0, 0, 20, 20))  # left half black
    exif = wide.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    wide.save(path, format="JPEG", exif=exif.tobytes(), quality=95)
    x = decode_image(str(path), (40, 20), "grayscale")  # displayed as 20 wide, 40 high
    assert x[:15].mean() < 60 and x[25:].mean() > 200  # the black half is now on top


def test_the_cache_holds_the_decode_and_a_new_image_size_decodes_again(tmp_path):
    root = write_class_folders(tmp_path / "photos", test="labelled")
    cache = tmp_path / "cache"
    first = load_images(images_data(root), cache)
    assert len(list(cache.iterdir())) == 1
    again = load_images(images_data(root), cache)
    np.testing.assert_array_equal(first.x, again.x)
    assert list(again.class_names) == list(CLASSES)
    other = load_images(images_data(root, "data.image_size=[8,8]"), cache)
    assert other.x.shape[1:] == (8, 8, 3) and len(list(cache.iterdir())) == 2


@pytest.mark.slow  # decodes in worker processes
def test_the_parallel_decode_gives_what_one_core_gives_and_names_a_bad_file(tmp_path, monkeypatch):
    from tuner.data import decode

    root = write_class_folders(tmp_path / "photos", per_class=len(KINDS))
    paths = [p for p, _ in scan(root).train]
    monkeypatch.setattr(decode, "PARALLEL_FROM", 4)
    monkeypatch.setattr(decode, "CHUNK", 5)  # several chunks, in several worker processes
    np.testing.assert_array_equal(decode.decode_images(paths, (16, 16), "rgb", workers=2),
                                  decode.decode_images(paths, (16, 16), "rgb", workers=1))
    Path(paths[13]).write_bytes(b"not an image")
    with pytest.raises(DataError, match=f"{paths[13]}: not a readable image"):
        decode.decode_images(paths, (16, 16), "rgb", workers=2)


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    red, blue = Image.new("RGB", (10, 10), (255, 0, 0)), Image.new("RGB", (10, 10), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100)
    assert Image.open(tmp_path / "anim.gif").n_frames == 2
    x = decode_image(str(tmp_path / "anim.gif"), (4, 4), "rgb")
    assert x[..., 0].min() > 200 and x[..., 2].max() < 50
