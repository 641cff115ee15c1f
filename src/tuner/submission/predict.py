"""``python -m tuner.predict +experiment=<name> predict.input=PATH``: label new images with the submitted model.

The model is a registered version of ``tuner-<name>`` (the latest, which the last export made, an ensemble when
that export averaged several; or ``predict.model=models:/tuner-<name>/<version>``). Each image is decoded by the
function that decoded the training images (``tuner.data.decode.decode_images``), at the model's input size and
in its colour mode, so new images reach it exactly as its training images did.

Example::

    result = predict_images(app.predict_plan(compose(["+experiment=images_cnn", "predict.input=new/"])))
    result.path, result.read, result.skipped  # experiments/images_cnn/predictions.csv, 120, 3
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.config import DataConfig, PredictConfig
from tuner.config.images import color_mode_of, image_size_of
from tuner.data.decode import decode_images, is_image
from tuner.data.folders import list_images
from tuner.errors import DataError, TunerError
from tuner.submission.export import registry_name
from tuner.tracking import Tracker
from tuner.tracking.registry import load_registered, parse_model_uri
from tuner.training.predict import predict

MODES = {1: "grayscale", 3: "rgb"}  # a model's input channels -> the colour mode its images are decoded in
FIX = "replace it with an image Pillow reads (PNG, JPEG, BMP, GIF, WebP) or remove it"


@dataclass(frozen=True)
class PredictPlan:
    """What a prediction needs: the experiment, its ``data`` section (how its images were decoded), the
    ``predict`` options, the tracking store and the experiment's folder (for the default output)."""

    name: str
    data: DataConfig
    options: PredictConfig
    tracking_uri: str
    folder: Path


@dataclass(frozen=True)
class Predictions:
    path: Path
    read: int
    skipped: int
    model: str  # models:/<name>/<version>
    class_names: tuple[str, ...]


def predict_images(plan: PredictPlan) -> Predictions:
    """Label every image of ``predict.input`` and write the CSV (``filename,label,probability``, plus one
    column per class with ``predict.probabilities``)."""
    options = plan.options
    if not options.input:
        raise TunerError("predict.input is not set: give a folder of images or one image, "
                         f"e.g. python -m tuner.predict +experiment={plan.name} predict.input=new_photos/")
    source = Path(options.input).expanduser()
    paths, names, skipped = inputs(source)
    name, version = parse_model_uri(options.model) if options.model else (registry_name(plan.name), None)
    with tempfile.TemporaryDirectory(prefix="tuner-predict-") as tmp:
        model, meta, number = load_registered(Tracker(plan.tracking_uri, plan.name), name, version, Path(tmp))
        shape = tuple(int(d) for d in model.input_shape[1:])
        size, mode = decode_settings(shape, plan.data, f"models:/{name}/{number}")
        probs = predict(model, decode_images(paths, size, mode, FIX))
    classes = tuple(str(c) for c in meta.get("class_names") or range(probs.shape[1]))
    if len(classes) != probs.shape[1]:
        raise TunerError(f"models:/{name}/{number} names {len(classes)} classes but predicts {probs.shape[1]}")
    out = Path(options.output) if options.output else plan.folder / "predictions.csv"
    write_predictions(out, names, probs, classes, bool(options.probabilities))
    return Predictions(out, len(paths), skipped, f"models:/{name}/{number}", classes)


def inputs(source: Path) -> tuple[list[str], list[str], int]:
    """The image paths under ``source`` (a folder, recursively, or one file), their names as the CSV writes
    them (relative to the folder) and the count of files skipped; a DataError when there is no image."""
    if source.is_file():
        if not is_image(source.name):
            raise DataError(f"{source} (predict.input): not an image file by its extension; give a PNG, JPEG, BMP, "
                            "GIF or WebP file, or a folder of them")
        return [str(source)], [source.name], 0
    if not source.is_dir():
        raise DataError(f"{source} (predict.input): no such file or folder; give a folder of images or one image")
    paths, skipped = list_images(source)
    if not paths:
        raise DataError(f"{source} (predict.input): no images (PNG, JPEG, BMP, GIF, WebP) in it or its subfolders"
                        f"{f'; {skipped} other files skipped' if skipped else ''}; point it at a folder of images")
    return paths, [os.path.relpath(p, source) for p in paths], skipped


def decode_settings(shape: tuple[int, ...], data: DataConfig, model: str) -> tuple[tuple[int, int], str]:
    """The size and colour mode that ``model`` (input ``shape``, H x W x C) was trained on; for ``data=images`` the
    configured ``data.image_size`` and ``data.color_mode`` must agree with it (else a TunerError naming them)."""
    if len(shape) != 3 or shape[-1] not in MODES:
        raise TunerError(f"{model} takes inputs of shape {shape}; tuner.predict decodes images to H x W x 1 "
                         "(grayscale) or H x W x 3 (rgb) only")
    size, mode = (shape[0], shape[1]), MODES[shape[-1]]
    if data.name == "images":
        configured, colour = image_size_of(data.image_size), color_mode_of(data.color_mode)
        if colour != mode:
            raise TunerError(f"{model} takes {shape[-1]}-channel ({mode}) images, but data.color_mode={colour} "
                             f"decodes {3 if colour == 'rgb' else 1}-channel ones; set data.color_mode={mode} (as "
                             "in training) or name another model with predict.model")
        if configured != size:
            raise TunerError(f"{model} takes {size[0]}x{size[1]} images, but data.image_size=[{configured[0]},"
                             f"{configured[1]}]; set data.image_size=[{size[0]},{size[1]}] (as in training)")
    return size, mode


def write_predictions(path: Path, names: list[str], probs: np.ndarray, classes: tuple[str, ...],
                      per_class: bool) -> None:
    """Write ``filename,label,probability`` (and a column per class) atomically."""
    best = np.argmax(probs, axis=1)
    table: dict[str, Any] = {"filename": names, "label": np.asarray(classes)[best],
                             "probability": np.round(probs[np.arange(len(best)), best].astype(float), 6)}
    if per_class:
        for i, name in enumerate(classes):
            table[name if name not in ("filename", "label", "probability") else f"p_{name}"] = \
                np.round(probs[:, i].astype(float), 6)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as out:
            pd.DataFrame(table).to_csv(out, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
