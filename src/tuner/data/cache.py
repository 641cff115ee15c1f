"""Decoded arrays on disk, keyed by the identity of the files they came from.

The key hashes each source file's path, size and modification time, so an
edited, added or removed file gives a new key and the source is decoded again.
Cache files are plain ``.npz`` archives read with ``allow_pickle=False``; one
that cannot be read or does not hold a consistent set of arrays is decoded
again and overwritten, never trusted.

Where: ``data.cache_dir`` if set, else ``$TUNER_CACHE_DIR``, else
``$XDG_CACHE_HOME/tuner``, else ``~/.cache/tuner``.

Example::

    key = source_key("digits", "folder", Path("data/digits"), files)
    images = read(cache_dir(None), key) or decode()
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

from tuner.data.images import Images

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the decoded layout changes: every older cache file is then ignored
ENV = "TUNER_CACHE_DIR"


def cache_dir(configured: str | None) -> Path:
    """The folder that holds cache files (see the module docstring for the order)."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tuner"


def source_key(task: str, source: str, root: Path, files: Iterable[str | Path], settings: str = "") -> str:
    """A file name for the decoded arrays of ``files`` (each stat'ed: path, size, mtime) decoded with the
    source's ``settings`` (an image size and colour mode; empty for sources without any)."""
    parts = [FORMAT, task, source, str(root)] + ([settings] if settings else [])
    digest = hashlib.sha256(json.dumps(parts).encode())
    for path in files:
        st = os.stat(path)
        digest.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return f"{task}-{source}-{digest.hexdigest()[:20]}.npz"


def read(folder: Path, key: str) -> Images | None:
    """The cached arrays, or None when there are none or the file is corrupt (it is then removed)."""
    path = folder / key
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            images = Images(**{name: archive[name] for name in archive.files})
        _check(images)
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning("cache file %s is unreadable (%s); decoding the source again", path, err)
        path.unlink(missing_ok=True)
        return None
    return images


def write(folder: Path, key: str, images: Images) -> Path:
    """Store ``images`` atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **images.arrays())
        os.replace(tmp, folder / key)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return folder / key


def _check(images: Images) -> None:
    if images.x.dtype != np.uint8 or images.x.ndim != 4 or not len(images.x) == len(images.y) == len(images.ids):
        raise ValueError("inconsistent arrays")
    if images.has_test:
        if images.test_x.dtype != np.uint8 or images.test_x.shape[1:] != images.x.shape[1:]:
            raise ValueError("inconsistent test arrays")
        if images.test_ids is None or len(images.test_ids) != len(images.test_x):
            raise ValueError("inconsistent test ids")
    if images.class_names is not None and (images.class_names.ndim != 1 or not len(images.class_names)
                                           or images.class_names.dtype.kind != "U"):
        raise ValueError("inconsistent class names")
