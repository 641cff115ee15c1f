"""Figures drawn from plain arrays and dicts (matplotlib, Agg): a trial's learning
curves and the best model's insight (confusion matrix, image grids, filters).
Never imports Keras or Optuna: the numbers arrive already computed.

Images may be grayscale (H, W, 1) or RGB (H, W, 3), float or uint8, in any range:
each is stretched to [0, 1] for display only.

Example::

    learning_curves([{"loss": 0.9, "val_loss": 1.0, "accuracy": 0.7, "val_accuracy": 0.6}], Path("curve.png"))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tuner.tracking.style import DPI


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def learning_curves(epochs: Sequence[Mapping[str, float]], path: Path, title: str = "") -> Path:
    """Train vs validation loss (left) and accuracy (right), one point per epoch run."""
    fig = Figure(figsize=(9, 3.5))
    x = np.arange(1, len(epochs) + 1)
    for ax, key in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for name, style in ((key, "-o"), (f"val_{key}", "--s")):
            values = [e.get(name, math.nan) for e in epochs]
            ax.plot(x, values, style, label=name.replace("_", " "))
        ax.set(xlabel="epoch", ylabel=key, title=key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def display(image: np.ndarray) -> np.ndarray:
    """An image stretched to [0, 1] as float, (H, W) for one channel, (H, W, 3) for colour."""
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    low, high = float(np.min(img)), float(np.max(img))
    return (img - low) / (high - low) if high > low else np.zeros_like(img)


def _grid(n: int, cols: int) -> tuple[int, int]:
    cols = max(1, min(cols, n))
    return math.ceil(n / cols), cols


def confusion(matrix: np.ndarray, path: Path, title: str, names: Sequence[str] | None = None) -> Path:
    """A confusion matrix (rows: true label, columns: predicted), counts written in each cell; the axes name
    the classes (``names``, default their numbers)."""
    n = matrix.shape[0]
    fig = Figure(figsize=(1 + 0.55 * n, 1 + 0.5 * n))
    ax = fig.subplots()
    im = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted label", ylabel="true label", title=title)
    if names is not None:
        ax.set_xticklabels(list(names), rotation=45 if max(map(len, names), default=0) > 2 else 0, ha="right")
        ax.set_yticklabels(list(names))
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] > threshold else "black")
    return _save(fig, path)


def image_grid(images: np.ndarray, captions: Sequence[str], path: Path, title: str, cols: int = 8) -> Path:
    """Images in a grid with one caption each (e.g. ``pred 3 (0.97) / true 5``)."""
    rows, cols = _grid(len(images), cols)
    fig = Figure(figsize=(1.6 * cols, 1.8 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, img, caption in zip(axes, images, captions):
        ax.imshow(display(img), cmap="gray")
        ax.set_title(caption, fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def heatmaps(images: np.ndarray, maps: np.ndarray, captions: Sequence[str], path: Path, title: str,
             map_name: str) -> Path:
    """Per image: the image, then ``map_name`` (e.g. saliency) laid over it."""
    n = len(images)
    fig = Figure(figsize=(4, 2 * n + 0.4))
    axes = fig.subplots(n, 2, squeeze=False)
    for (left, right), img, heat, caption in zip(axes, images, maps, captions):
        shown = display(img)
        left.imshow(shown, cmap="gray")
        left.set_title(caption, fontsize=8)
        right.imshow(shown, cmap="gray")
        right.imshow(heat, cmap="jet", alpha=0.5)
        right.set_title(map_name, fontsize=8)
        left.axis("off")
        right.axis("off")
    fig.suptitle(title)
    return _save(fig, path)


def filters(kernel: np.ndarray, path: Path, title: str) -> Path:
    """A conv kernel ``(kh, kw, in_channels, n_filters)`` as one small image per filter
    (RGB when the input has 3 channels, else the mean over input channels)."""
    n = kernel.shape[-1]
    tiles = [kernel[..., i] if kernel.shape[2] == 3 else kernel[..., i].mean(axis=-1) for i in range(n)]
    return image_grid(np.stack(tiles), [f"filter {i}" for i in range(n)], path, title, cols=8)
