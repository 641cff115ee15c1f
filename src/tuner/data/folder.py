"""The "Identify the Digits" folder: ``train.csv`` (filename,label), ``test.csv`` (filename)
and PNGs under ``Images/train/`` and ``Images/test/``.

Every filename must name a file inside its image folder: absolute paths, ``..``
and symlinks that lead outside are refused. Images may be any format Pillow
reads (PNG, JPEG, BMP, GIF, WebP), of any size and mode: each is resized to 28×28 and
converted to grayscale by the decoder ``data=images`` uses (``tuner.data.decode``);
a missing, empty, truncated or unreadable file is an error naming it. The test
split keeps ``test.csv``'s order and its filenames become the submission's.
A ``label`` column in ``test.csv`` is optional and only used to score an export.

Example::

    images = load_folder(Path("~/data/identify-the-digits").expanduser(), n_classes=10)
    images.test_ids[:2]  # array(['49000.png', '49001.png'])
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.data.decode import decode_images
from tuner.data.images import Images
from tuner.errors import DataError

SIDE = 28
LAYOUT = "train.csv (filename,label), test.csv (filename), Images/train/*.png, Images/test/*.png"
FIX = "replace it with a readable image (PNG, JPEG, BMP, GIF, WebP) or remove its CSV row"


@dataclass(frozen=True)
class Split:
    """One CSV of the folder, its rows checked: image paths in CSV order, their names, labels if given."""

    csv: Path
    paths: list[str]
    names: list[str]
    labels: np.ndarray | None


def folder_files(root: Path) -> list[str]:
    """The CSVs and every image they list (checked, not decoded): what identifies the folder's contents."""
    splits = [read_split(root, part, labelled) for part, labelled in (("train", True), ("test", False))]
    return [path for s in splits for path in (str(s.csv), *s.paths)]


def load_folder(root: Path, n_classes: int) -> Images:
    """Decode the whole folder; labels must lie in ``0..n_classes-1``."""
    train, test = read_split(root, "train", True), read_split(root, "test", False)
    for split in (train, test):
        if split.labels is not None and len(split.labels) and (split.labels.min() < 0 or split.labels.max() >= n_classes):
            row = int(np.argmax((split.labels < 0) | (split.labels >= n_classes)))
            raise DataError(f"{split.csv}: label {split.labels[row]} of {split.names[row]} lies outside the task's "
                            f"labels 0..{n_classes - 1}; correct the row or set data.n_classes")
    return Images(
        x=decode_all(train.paths), y=train.labels, ids=np.array(train.names),
        test_x=decode_all(test.paths), test_y=test.labels, test_ids=np.array(test.names),
    )


def read_split(root: Path, part: str, labelled: bool) -> Split:
    """Parse ``<part>.csv`` and resolve each filename inside ``Images/<part>/``."""
    path = root / f"{part}.csv"
    if not path.is_file():
        raise DataError(f"{path}: missing; data.path must point at a folder laid out as {LAYOUT}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        numbered = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    rows, lines = [row for _, row in numbered], [line for line, _ in numbered]  # blank lines skipped
    if not rows:
        raise DataError(f"{path}: empty; it needs a header row 'filename{',label' if labelled else ''}' and one row per image")
    header = [h.strip() for h in rows[0]]
    needed = ["filename", "label"] if labelled else ["filename"]
    missing = [c for c in needed if c not in header]
    if missing:
        raise DataError(f"{path}: no column {', '.join(repr(c) for c in missing)} (header is {rows[0]}); "
                        f"the header must be {','.join(needed)}")
    if len(rows) == 1:
        raise DataError(f"{path}: has a header but no rows; list one image per row")
    col = header.index("filename")
    names = [r[col].strip() if len(r) > col else "" for r in rows[1:]]
    seen: set[str] = set()
    for line, name in zip(lines[1:], names):
        if name in seen:
            raise DataError(f"{path}, line {line}: filename {name!r} appears twice; remove the duplicate row")
        seen.add(name)
    labels = _labels(path, rows, lines, header.index("label")) if "label" in header else None
    return Split(path, _resolve(path, root / "Images" / part, names), names, labels)


def _labels(path: Path, rows: list[list[str]], lines: list[int], col: int) -> np.ndarray:
    values = []
    for line, row in zip(lines[1:], rows[1:]):
        text = row[col].strip() if len(row) > col else ""
        try:
            values.append(int(text))
        except ValueError:
            raise DataError(f"{path}, line {line}: label {text!r} is not a whole number; correct the row") from None
    return np.array(values, dtype=np.int64)


def _resolve(csv_path: Path, folder: Path, names: list[str]) -> list[str]:
    """Each name as a path inside ``folder``; refuses escapes, reports missing files by name.

    Plain strings, not ``Path``s: this runs on every load, cached or not, for every image.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: missing; {csv_path.name} lists images that belong there ({LAYOUT})")
    base, real = str(folder), os.path.realpath(folder)
    with os.scandir(folder) as listing:
        entries = {e.name: e for e in listing}
    paths = []
    for name in names:
        norm = os.path.normpath(name) if name else ""
        if not name or os.path.isabs(name) or norm.split(os.sep)[0] == ".." or "\\" in name:
            raise DataError(f"{csv_path}: filename {name!r} is not a plain name inside {folder}; "
                            "list image files by their name relative to that folder")
        entry = entries.get(norm)
        if entry is None and os.sep not in norm:
            raise DataError(f"{folder / name}: missing (listed in {csv_path}); add the image or remove its row")
        if entry is None or entry.is_symlink():
            target = os.path.realpath(folder / norm)
            if os.path.commonpath([real, target]) != real:
                raise DataError(f"{csv_path}: {name!r} leads outside {folder} (to {target}); "
                                "copy the image into the folder instead of linking to it")
            if not os.path.isfile(target):
                raise DataError(f"{folder / name}: missing (listed in {csv_path}); add the image or remove its row")
        paths.append(os.path.join(base, norm))
    return paths


def decode_all(paths: list[str]) -> np.ndarray:
    """Every image as (N, 28, 28, 1) uint8, whatever its size and mode."""
    return decode_images(paths, (SIDE, SIDE), "grayscale", FIX)
