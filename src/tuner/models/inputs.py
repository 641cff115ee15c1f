"""The model's input stage: augmentation (training only) and pixel scaling, as Keras layers.

Models take raw 0-255 pixels, so the data is held once as uint8 and a saved
model needs no separate preprocessing. Keras' random image layers act only
when ``training=True`` (inside ``fit``), so validation, test and exported
predictions see the images unchanged. Augmentation runs before scaling, so
the pixels it fills in are black (0), as the digits' background is.

Example::

    x = input_stage(keras.Input((28, 28, 1)), {"preprocess": "scale", "augment_rotation": 10.0})
"""

from __future__ import annotations

from typing import Any, Mapping

import keras
import numpy as np
from keras import layers

from tuner.models.hyperparameters import value

MAX_PIXEL = 255.0
DEGREES_PER_TURN = 360.0


def jittable(layer: layers.Layer) -> layers.Layer:
    """``layer`` (a random affine augmentation), marked XLA-compilable on JAX.

    Keras marks its random translation, rotation and zoom layers ``supports_jit = False`` on every backend
    (TensorFlow's image transform op has no XLA kernel), and a model with one such layer then trains with no
    XLA at all. JAX's transform (``map_coordinates``) compiles, so on JAX the layer says so: the whole train
    step compiles instead of running op by op (tests/e2e/test_backends.py checks it; the per-backend run of
    bench/train_speed.py before this change trained the augmented Fashion CNN on JAX without XLA).
    """
    if keras.backend.backend() == "jax":
        layer.supports_jit = True
    return layer


def input_stage(x: Any, hp: Mapping[str, Any], pixel_mean: np.ndarray | None = None) -> Any:
    """Augment (when any ``augment_*`` is set), then scale by ``preprocess``."""
    shift, rotation, zoom = (float(value(hp, k)) for k in ("augment_shift", "augment_rotation", "augment_zoom"))
    if shift > 0:
        x = jittable(layers.RandomTranslation(shift, shift, fill_mode="constant"))(x)
    if rotation > 0:
        x = jittable(layers.RandomRotation(rotation / DEGREES_PER_TURN, fill_mode="constant"))(x)
    if zoom > 0:
        x = jittable(layers.RandomZoom(zoom, fill_mode="constant"))(x)
    if value(hp, "augment_flip"):
        x = layers.RandomFlip("horizontal")(x)
    preprocess = value(hp, "preprocess")
    if preprocess == "scale":
        return layers.Rescaling(1.0 / MAX_PIXEL)(x)
    if preprocess == "center":
        if pixel_mean is None:
            raise ValueError("preprocess=center needs the training split's pixel_mean")
        mean = np.asarray(pixel_mean, dtype=np.float32)
        return layers.Normalization(axis=(-3, -2, -1), mean=mean, variance=np.full_like(mean, MAX_PIXEL**2))(x)
    raise ValueError(f"unknown preprocess {preprocess!r}")
