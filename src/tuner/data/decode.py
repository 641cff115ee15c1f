"""One image file to a uint8 array of a fixed size and colour mode, and many of them in parallel.

The same function decodes the training folders (``data=images``, the digits ``folder`` source) and the
images ``tuner.predict`` labels, so new images reach a model exactly as its training images did. Pillow
reads PNG, JPEG, BMP, GIF (its first frame) and WebP in any of its modes (L, RGB, RGBA, P, ...); the EXIF
orientation is applied, then the image is converted to ``L`` (grayscale) or ``RGB`` (any alpha dropped)
and resized with bilinear filtering. Pillow's decompression-bomb limit stays on and its warning is an
error. Large folders decode in worker processes, one per core: Pillow releases the GIL only inside its C
decoder, and the Python around it (opening, EXIF, conversion) took two thirds of the time, so threads
scaled no further than 1.05x on two cores (bench/decode_images.py).

Example::

    x = decode_image("cat/1.jpg", (32, 32), "rgb")           # (32, 32, 3) uint8
    xs = decode_images(["a.png", "b.webp"], (28, 28), "grayscale")  # (2, 28, 28, 1) uint8
"""

from __future__ import annotations

import os
import sys
import warnings
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tuner.config.backend import BACKENDS
from tuner.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
COLOR_MODES = {"rgb": ("RGB", 3), "grayscale": ("L", 1)}  # data.color_mode -> (Pillow mode, channels)
PROGRESS_FROM = 2000  # a folder of at least this many images shows a progress bar while it decodes
PARALLEL_FROM = 2000  # fewer images decode in this process: starting worker processes would cost more
CHUNK = 256  # images per task of a worker process
BACKEND_MODULES = tuple(BACKENDS.values())  # loaded, each makes forking unsafe


def is_image(name: str) -> bool:
    """Whether ``name`` has one of the image extensions tuner decodes (case-insensitive)."""
    return name.lower().endswith(EXTENSIONS)


def channels(color_mode: str) -> int:
    """3 for ``rgb``, 1 for ``grayscale``; a DataError names data.color_mode otherwise."""
    if color_mode not in COLOR_MODES:
        raise DataError(f"unknown data.color_mode {color_mode!r}; choose one of: {', '.join(COLOR_MODES)}")
    return COLOR_MODES[color_mode][1]


def decode_image(path: str, size: tuple[int, int], color_mode: str, fix: str = "replace or remove it") -> np.ndarray:
    """The image at ``path`` as ``(H, W, C)`` uint8, ``size = (H, W)``; a DataError names the file and ``fix``.

    Example::

        decode_image("photos/train/cat/1.jpg", (32, 32), "rgb").shape  # (32, 32, 3)
    """
    mode, _ = COLOR_MODES[color_mode] if color_mode in COLOR_MODES else (None, channels(color_mode))
    height, width = size
    if os.stat(path).st_size == 0:
        raise DataError(f"{path}: empty (0 bytes); {fix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format == "JPEG":
                    img.draft(mode, (width, height))  # decode at the smallest DCT scale that still covers size
                img.load()
                img = ImageOps.exif_transpose(img)
                img = img.convert(mode)
                if img.size != (width, height):
                    img = img.resize((width, height), Image.Resampling.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"{path}: refused as a possible decompression bomb ({err}); {fix}") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: not a readable image ({err}); {fix}") from err
    return array.reshape(height, width, -1)


def decode_images(paths: Sequence[str], size: tuple[int, int], color_mode: str, fix: str = "replace or remove it",
                  workers: int | None = None) -> np.ndarray:
    """Every image of ``paths`` as ``(N, H, W, C)`` uint8, decoded by ``workers`` processes (default: every core
    this process may use; one, in this process, for fewer than ``PARALLEL_FROM`` images), with a progress bar
    from ``PROGRESS_FROM`` images on. The first file that does not decode stops the rest (a DataError naming it).

    Example::

        decode_images(paths, (32, 32), "rgb", workers=1)  # one core
    """
    out = np.empty((len(paths), *size, channels(color_mode)), dtype=np.uint8)
    workers = workers or len(os.sched_getaffinity(0))
    if workers == 1 or len(paths) < PARALLEL_FROM:
        for i, path in enumerate(paths):
            out[i] = decode_image(path, size, color_mode, fix)
        return out
    from tqdm.auto import tqdm

    starts = range(0, len(paths), CHUNK)
    with ProcessPoolExecutor(workers, mp_context=_context()) as pool, \
            tqdm(total=len(paths), unit="img", desc="decoding", disable=len(paths) < PROGRESS_FROM) as bar:
        try:
            chunks = [list(paths[start:start + CHUNK]) for start in starts]
            for start, block in zip(starts, pool.map(_decode_chunk, chunks, [size] * len(chunks),
                                                     [color_mode] * len(chunks), [fix] * len(chunks))):
                out[start:start + len(block)] = block
                bar.update(len(block))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return out


def _context() -> multiprocessing.context.BaseContext:
    """Forked workers (they start at once) unless a Keras backend is loaded: a fork would copy its threads in a
    broken state, so those are spawned (each imports tuner's data stage first, about 1.5 s)."""
    if any(m in sys.modules for m in BACKEND_MODULES) or "fork" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    return multiprocessing.get_context("fork")


def _decode_chunk(paths: list[str], size: tuple[int, int], color_mode: str, fix: str) -> np.ndarray:
    """One worker's share: ``paths`` decoded in order."""
    return np.stack([decode_image(path, size, color_mode, fix) for path in paths])
