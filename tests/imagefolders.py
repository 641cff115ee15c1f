"""Class folders of real images that tests write themselves: several formats, sizes and modes per class.

Each class has its own colour (and brightness, so grayscale keeps them apart), plus noise, so a tiny model
learns them in an epoch or two.

Example::

    root = write_class_folders(tmp_path / "photos", test="unlabelled")  # photos/train/<class>/*, photos/test/*
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "owl")
# (Pillow format, extension, mode): every format and mode the images task promises
KINDS = (("PNG", ".png", "RGB"), ("JPEG", ".jpg", "RGB"), ("BMP", ".bmp", "RGB"), ("GIF", ".gif", "P"),
         ("WEBP", ".webp", "RGB"), ("PNG", ".png", "RGBA"), ("PNG", ".png", "L"), ("JPEG", ".jpeg", "L"),
         ("PNG", ".png", "P"))
SIZES = ((32, 32), (48, 40), (20, 28), (64, 64), (37, 53))
COLOURS = {0: (200, 40, 40), 1: (40, 140, 40), 2: (60, 60, 240)}  # distinct in RGB and in luminance


def class_image(label: int, index: int, size: tuple[int, int] | None = None) -> Image.Image:
    """An RGB image of class ``label``: its colour, some noise, one of ``SIZES`` (width, height)."""
    width, height = size or SIZES[index % len(SIZES)]
    rng = np.random.RandomState(1000 * label + index)
    pixels = np.clip(np.array(COLOURS[label % 3]) + rng.randint(-25, 26, (height, width, 3)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def save(image: Image.Image, path: Path, index: int) -> Path:
    """``image`` saved as the ``index``-th of ``KINDS`` (its format, its mode), extension replaced."""
    fmt, ext, mode = KINDS[index % len(KINDS)]
    path = path.with_suffix(ext)
    path.parent.mkdir(parents=True, exist_ok=True)
    converted = image.convert(mode) if mode != "P" else image.convert("P", palette=Image.Palette.ADAPTIVE)
    converted.save(path, format=fmt)
    return path


def write_class(folder: Path, label: int, n: int, start: int = 0) -> list[Path]:
    """``n`` images of class ``label`` in ``folder``, mixed formats, sizes and modes; one in a nested folder."""
    paths = []
    for i in range(start, start + n):
        sub = folder / "more" if i == start + 1 else folder
        paths.append(save(class_image(label, i), sub / f"{label}-{i:03d}", i))
    return paths


def write_class_folders(root: Path, classes: tuple[str, ...] = CLASSES, per_class: int = 12, test: str | None = None,
                        n_test: int = 4) -> Path:
    """``root/<class>/*`` (``test=None`` and flat) or ``root/train/<class>/*`` with ``test`` = ``"labelled"``
    (``root/test/<class>/*``) or ``"unlabelled"`` (``root/test/*``); ``test="none"``: ``train/`` only."""
    train = root if test is None else root / "train"
    for label, name in enumerate(classes):
        write_class(train / name, label, per_class)
    if test == "labelled":
        for label, name in enumerate(classes):
            write_class(root / "test" / name, label, n_test, start=500)
    elif test == "unlabelled":
        for label in range(len(classes)):
            for i in range(n_test):
                save(class_image(label, 500 + i), root / "test" / f"new-{label}-{i}", i)
    return root
