"""Decoding a folder of 10,000 JPEGs of mixed sizes (data=images): the parallel decode against one core, and a load from the disk cache against the first decode.

    python bench/decode_images.py [n_images] [folder]

Writes the folder (3 classes in DIR/<class>/, JPEGs from 40x30 to 400x300 pixels, noise on a class colour)
into a temporary folder unless one is given, then times ``tuner.data.decode.decode_images`` on every core
and on one (images per second, 32x32 RGB), and ``load_images`` with an empty cache against the median of
three loads from the cache (the target is at least 10x). The figures go to
bench/results/decode_images-<date>-<time>.json.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _common import save_results  # noqa: E402

from tuner.config import compose  # noqa: E402
from tuner.data import load_images  # noqa: E402
from tuner.data.decode import decode_images  # noqa: E402
from tuner.data.folders import scan  # noqa: E402

SIZES = ((40, 30), (64, 64), (120, 90), (200, 150), (320, 240), (400, 300))
COLOURS = ((200, 40, 40), (40, 140, 40), (60, 60, 240))
SIZE = (32, 32)


def write_folder(root: Path, n: int) -> None:
    rng = np.random.RandomState(0)
    for i in range(n):
        label, (w, h) = i % len(COLOURS), SIZES[i % len(SIZES)]
        pixels = np.clip(np.array(COLOURS[label]) + rng.randint(-40, 41, (h, w, 3)), 0, 255).astype(np.uint8)
        folder = root / f"class{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)


def rate(paths: list[str], workers: int) -> float:
    start = time.perf_counter()
    decode_images(paths, SIZE, "rgb", workers=workers)
    return len(paths) / (time.perf_counter() - start)


def load_seconds(root: Path, cache: Path) -> float:
    data = compose(["data=images", f"data.path={root}", f"data.image_size=[{SIZE[0]},{SIZE[1]}]"]).data
    start = time.perf_counter()
    images = load_images(data, cache)
    seconds = time.perf_counter() - start
    assert len(images.x) > 0
    return seconds


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="tuner-bench-") as tmp:
        root = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tmp) / "photos"
        if not root.exists():
            write_folder(root, n)
        paths = [p for p, _ in scan(root).train]
        megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
        rate(paths[:200], cores)  # warm the page cache and Pillow's plugins
        one = statistics.median(rate(paths, 1) for _ in range(2))
        parallel = statistics.median(rate(paths, cores) for _ in range(2))
        cache = Path(tmp) / "cache"
        first = load_seconds(root, cache)
        cached = statistics.median(load_seconds(root, cache) for _ in range(3))
    print(f"{len(paths)} JPEGs ({megabytes:.0f} MB), decoded to {SIZE[0]}x{SIZE[1]} RGB")
    print(f"  one core:        {one:8.0f} images/s")
    print(f"  {cores} cores:        {parallel:8.0f} images/s ({parallel / one:.2f}x)")
    print(f"  first load:      {first:8.3f} s (scan + decode + cache write)")
    print(f"  cached load:     {cached:8.3f} s (median of 3; {first / cached:.1f}x)")
    save_results("decode_images", {
        "images": len(paths), "jpeg_mb": round(megabytes, 1), "image_size": list(SIZE), "cores": cores,
        "one_core_images_per_s": round(one), "parallel_images_per_s": round(parallel),
        "parallel_speedup": round(parallel / one, 2), "first_load_s": round(first, 3),
        "cached_load_s": round(cached, 3), "cache_speedup": round(first / cached, 1)})


if __name__ == "__main__":
    main()
