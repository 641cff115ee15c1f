"""``data=images``: any folder of class subfolders, the layout Keras' ``image_dataset_from_directory`` reads.

Layouts (``DIR`` is ``data.path``):

- ``DIR/train/<class>/*`` with an optional ``DIR/test/``: labelled (``DIR/test/<class>/*``) or unlabelled
  (image files directly in ``DIR/test/``); the submission's filenames are relative to ``DIR/test/``.
- ``DIR/<class>/*``: no fixed test split; it is carved out of the images, stratified and seeded.

Class names are the folder names, sorted; images in folders nested inside a class folder count for that
class. Files whose extension is not an image's (``.DS_Store``, ``.txt``) and hidden folders are skipped and
counted in the log; a symlink that leads outside ``DIR`` is refused. Before decoding, the arrays' size is
checked against the memory available (``check_memory``).

Example::

    layout = scan(Path("photos"))
    layout.class_names, len(layout.train)  # ('cat', 'dog'), 240
    images = load_image_folder(Path("photos"), None, size=(32, 32), color_mode="rgb")
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.data.decode import channels, decode_images, is_image
from tuner.data.images import Images
from tuner.errors import DataError

log = logging.getLogger(__name__)
LAYOUT = "DIR/train/<class>/<images> (with an optional DIR/test/), or DIR/<class>/<images>"
MEMORY_SHARE = 0.5  # the decoded arrays may take this share of the memory available now
COPIES = 2  # the decoded arrays, and the train/validation/test splits copied out of them
FIX = "replace it with an image Pillow reads (PNG, JPEG, BMP, GIF, WebP) or remove it"


@dataclass(frozen=True)
class Layout:
    """A scanned folder: sorted class names, ``(path, label)`` of each training image, the fixed test split's
    paths (``test_labels`` None when unlabelled; ``test`` None without ``DIR/test/``) and ids, and the files
    skipped."""

    root: Path
    class_names: tuple[str, ...]
    train: list[tuple[str, int]]
    train_ids: list[str]
    test: list[str] | None
    test_labels: list[int] | None
    test_ids: list[str]
    skipped: int

    def files(self) -> list[str]:
        """Every image path, training then test."""
        return [p for p, _ in self.train] + (self.test or [])


class _Walker:
    """Lists the images under folders of ``root``, refusing symlinks that leave it, counting skipped files."""

    def __init__(self, root: Path) -> None:
        self.root, self.real = root, os.path.realpath(root)
        self.skipped = 0

    def inside(self, path: str) -> str:
        target = os.path.realpath(path)
        if os.path.commonpath([self.real, target]) != self.real:
            raise DataError(f"{path}: a symlink that leads outside {self.root} (to {target}); copy the file or "
                            "folder into data.path instead of linking to it")
        return target

    def images(self, folder: str, recursive: bool = True) -> list[str]:
        """Sorted image paths under ``folder`` (its subfolders too when ``recursive``)."""
        found, seen = [], set()
        stack = [folder]
        while stack:
            current = stack.pop()
            real = self.inside(current)
            if real in seen:
                continue
            seen.add(real)
            with os.scandir(current) as entries:
                for entry in entries:
                    path = os.path.join(current, entry.name)
                    if entry.is_dir():
                        self.inside(path)
                        if entry.name.startswith("."):
                            self.skipped += sum(len(f) for _, _, f in os.walk(path))
                        elif recursive:
                            stack.append(path)
                    elif entry.is_file() and is_image(entry.name):
                        self.inside(path)
                        found.append(path)
                    elif entry.is_symlink() and not entry.is_dir() and not entry.is_file():
                        raise DataError(f"{path}: a broken symlink; remove it or point it at a file inside data.path")
                    else:
                        self.skipped += 1
        return sorted(found)

    def classes(self, folder: Path) -> dict[str, list[str]]:
        """``{class name: its images}`` for each non-hidden subfolder of ``folder``, sorted by name."""
        names = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
        found = {name: self.images(str(folder / name)) for name in names}
        for name, paths in found.items():
            if not paths:
                raise DataError(f"{folder / name}: a class folder with no images (PNG, JPEG, BMP, GIF, WebP); add "
                                "images or remove the folder")
        return found


def scan(root: Path) -> Layout:
    """Check the layout of ``root`` and list its images, without decoding any."""
    walker = _Walker(root)
    train_dir = root / "train" if (root / "train").is_dir() else root
    loose = walker.images(str(train_dir), recursive=False)
    if loose:
        raise DataError(f"{loose[0]}: an image outside any class folder ({len(loose)} such files in {train_dir}); "
                        f"move each into the folder of its class ({LAYOUT})")
    classes = walker.classes(train_dir)
    if len(classes) < 2:
        raise DataError(f"{train_dir}: {len(classes)} class folder{'s' if len(classes) != 1 else ''} "
                        f"({', '.join(classes) or 'none'}); a classifier needs at least two ({LAYOUT})")
    names = tuple(classes)
    train = [(path, label) for label, name in enumerate(names) for path in classes[name]]
    train_ids = [os.path.relpath(path, train_dir) for path, _ in train]
    test, test_labels, test_ids = _test(walker, root / "test", names) if train_dir != root else (None, None, [])
    if walker.skipped:
        log.info("%s: skipped %d files that are not images (by extension) or lie in hidden folders",
                 root, walker.skipped)
    return Layout(root, names, train, train_ids, test, test_labels, test_ids, walker.skipped)


def _test(walker: _Walker, folder: Path, names: tuple[str, ...]) -> tuple[list[str] | None, list[int] | None,
                                                                           list[str]]:
    if not folder.is_dir():
        return None, None, []
    loose = walker.images(str(folder), recursive=False)
    labelled = walker.classes(folder)
    if loose and labelled:
        raise DataError(f"{folder}: holds both class folders ({', '.join(labelled)}) and images directly "
                        f"(e.g. {os.path.basename(loose[0])}); put every test image in its class folder (labelled) "
                        "or every one directly in test/ (unlabelled)")
    if labelled:
        unknown = [name for name in labelled if name not in names]
        if unknown:
            raise DataError(f"{folder / unknown[0]}: a test class that train/ does not have (train classes: "
                            f"{', '.join(names)}); rename or remove it")
        paths = [path for name in labelled for path in labelled[name]]
        labels = [names.index(name) for name in labelled for _ in labelled[name]]
        return paths, labels, [os.path.relpath(p, folder) for p in paths]
    if not loose:
        raise DataError(f"{folder}: no test images; put them in test/ (or test/<class>/) or remove the folder")
    return loose, None, [os.path.relpath(p, folder) for p in loose]


def list_images(folder: Path) -> tuple[list[str], int]:
    """Every image under ``folder`` (walked recursively, hidden folders left out, no symlink leaving it), sorted,
    and how many other files were skipped.

    Example::

        paths, skipped = list_images(Path("new_photos"))
    """
    walker = _Walker(folder)
    return walker.images(str(folder)), walker.skipped


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (Linux's MemAvailable; else the free pages)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(n_images: int, size: tuple[int, int], color_mode: str, available: int | None = None) -> int:
    """The bytes the decoded arrays will need; a DataError naming a ``data.image_size`` that fits when they
    exceed ``MEMORY_SHARE`` of ``available`` (default: ``available_memory()``).

    Example::

        check_memory(10_000, (32, 32), "rgb")  # 61440000
    """
    per_image = size[0] * size[1] * channels(color_mode)
    needed = COPIES * n_images * per_image
    budget = int(MEMORY_SHARE * (available if available is not None else available_memory()))
    if needed > budget:
        scale = math.sqrt(budget / needed)
        fits = [max(1, int(side * scale)) for side in size]
        raise DataError(f"{n_images} images at data.image_size=[{size[0]}, {size[1]}] ({color_mode}) need about "
                        f"{needed / 2**30:.1f} GiB, more than the {budget / 2**30:.1f} GiB memory they may take; "
                        f"set data.image_size=[{fits[0]},{fits[1]}] or smaller")
    return needed


def image_folder_files(root: Path) -> list[str]:
    """Every image of ``root``'s layout: what identifies its contents for the disk cache."""
    return scan(root).files()


def load_image_folder(root: Path, n_classes: int | None, size: tuple[int, int], color_mode: str) -> Images:
    """Decode ``root`` (a layout of class folders) at ``size`` in ``color_mode``."""
    layout = scan(root)
    if n_classes is not None and n_classes != len(layout.class_names):
        raise DataError(f"data.n_classes={n_classes}, but {root} has {len(layout.class_names)} class folders "
                        f"({', '.join(layout.class_names)}); set data.n_classes=null to count them")
    check_memory(len(layout.files()), size, color_mode)
    x = decode_images([p for p, _ in layout.train], size, color_mode, FIX)
    y = np.array([label for _, label in layout.train], dtype=np.int64)
    names = np.array(layout.class_names)
    if layout.test is None:
        return Images(x, y, np.array(layout.train_ids), class_names=names)
    test_y = None if layout.test_labels is None else np.array(layout.test_labels, dtype=np.int64)
    return Images(x, y, np.array(layout.train_ids), test_x=decode_images(layout.test, size, color_mode, FIX),
                  test_y=test_y, test_ids=np.array(layout.test_ids), class_names=names)
