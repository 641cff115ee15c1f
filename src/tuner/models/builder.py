"""Keras models built from a plain dict of hyperparameters (no Optuna here).

Example::

    model = build_model({"arch": "mlp", "width": 50, "depth": 1, "dropout": 0.0,
                         "activation": "relu", "initializer": "he_normal"}, (28, 28, 1), 10)
"""

from __future__ import annotations

from typing import Any, Mapping

import keras
import numpy as np
from keras import layers

from tuner._compat.keras import set_random_seed
from tuner.models.hyperparameters import value
from tuner.models.inputs import input_stage

SMALL_NORMAL_STDDEV = 0.01


def build_model(hp: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int,
                pixel_mean: np.ndarray | None = None) -> keras.Model:
    """An MLP or a CNN, by ``hp["arch"]``, ending in a softmax over ``n_classes``.

    It takes raw 0-255 pixels: the input stage augments (training only) and scales them
    (``pixel_mean``, the training split's, is needed for ``preprocess=center``).
    """
    inputs = keras.Input(shape=input_shape)
    x = input_stage(inputs, hp, pixel_mean)
    if hp["arch"] == "cnn":
        x = _conv_blocks(x, hp)
    elif hp["arch"] == "mlp":
        x = layers.Flatten()(x)
        for _ in range(hp["depth"]):
            x = _dense(x, hp)
    else:
        raise ValueError(f"unknown arch {hp['arch']!r}")
    # float32 even under mixed precision: a float16 softmax under/overflows
    outputs = layers.Dense(n_classes, activation="softmax", kernel_initializer=initializer(hp["initializer"]),
                           dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"{hp['arch']}")


def _dense(x: Any, hp: Mapping[str, Any]) -> Any:
    x = layers.Dense(hp["width"], activation=hp["activation"], kernel_initializer=initializer(hp["initializer"]))(x)
    if hp["dropout"] > 0:
        x = layers.Dropout(hp["dropout"])(x)
    return x


def _conv_blocks(x: Any, hp: Mapping[str, Any]) -> Any:
    """``depth`` blocks of one conv (``block=single``) or two (``double``), each conv [batch norm] activation,
    then a pool; block ``i`` has ``filters * filters_growth**i`` filters. The last block may take its own
    kernel (``kernel_size_last``) and skip its pooling (``pool_last=false``). Then the head: Flatten or
    global average pooling (``head=gap``), and one dense layer."""
    pool = layers.MaxPooling2D if hp["pooling"] == "max" else layers.AveragePooling2D
    convs = 2 if value(hp, "block") == "double" else 1
    for block in range(hp["depth"]):
        last = block == hp["depth"] - 1
        kernel = (value(hp, "kernel_size_last") or hp["kernel_size"]) if last else hp["kernel_size"]
        filters = hp["filters"] * value(hp, "filters_growth") ** block
        for _ in range(convs):
            x = layers.Conv2D(
                filters, kernel, padding=hp["padding"],
                kernel_initializer=initializer(hp["initializer"]), use_bias=not hp["batch_norm"],
            )(x)
            if hp["batch_norm"]:
                x = layers.BatchNormalization(momentum=value(hp, "batch_norm_momentum"))(x)
            x = layers.Activation(hp["activation"])(x)
        if not last or value(hp, "pool_last"):
            x = pool(pool_size=2)(x)
    x = layers.GlobalAveragePooling2D()(x) if value(hp, "head") == "gap" else layers.Flatten()(x)
    return _dense(x, hp)


def initializer(name: str) -> keras.initializers.Initializer:
    """A Keras initializer by the name the search space uses (``random_normal`` is N(0, 0.01²))."""
    if name == "random_normal":
        return keras.initializers.RandomNormal(stddev=SMALL_NORMAL_STDDEV)
    return keras.initializers.get(name)


def build_optimizer(name: str, learning_rate: float | keras.optimizers.schedules.LearningRateSchedule
                    ) -> keras.optimizers.Optimizer:
    """An optimizer by the name the search space uses (``sgd_momentum``/``sgd_nesterov``: momentum 0.9);
    ``learning_rate`` is a number or a per-step schedule."""
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    if name in ("sgd_momentum", "sgd_nesterov"):
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=name == "sgd_nesterov")
    optimizers = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
                  "adamw": keras.optimizers.AdamW, "nadam": keras.optimizers.Nadam}
    if name not in optimizers:
        raise ValueError(f"unknown optimizer {name!r}")
    return optimizers[name](learning_rate)


def new_session(seed: int) -> None:
    """Start a trial from a clean Keras session, seeded (Python, NumPy and backend).

    The dtype policy (``mixed_float16`` set by ``tuner.training.device.activate``) survives the reset;
    op determinism, once on, stays on for the process.
    """
    policy = keras.config.dtype_policy()
    keras.backend.clear_session()
    keras.config.set_dtype_policy(policy)
    set_random_seed(seed)  # keras.utils.set_random_seed's, without importing TensorFlow on the other backends


def describe(model: keras.Model) -> str:
    """A plain-text table of ``model``: each layer's type, output shape and parameter count, then totals.

    Example::

        print(describe(build_model(hp, (28, 28, 1), 10)))
    """
    rows = [(layer.name, type(layer).__name__, str(tuple(layer.output.shape)), layer.count_params())
            for layer in model.layers]
    widths = [max(len(str(r[i])) for r in rows + [("layer", "type", "output shape", "params")]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths[:3]) + f"  {{:>{widths[3]}}}"
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return "\n".join([f"model {model.name}", line.format("layer", "type", "output shape", "params"),
                      *(line.format(*r) for r in rows),
                      f"total params {model.count_params()}, trainable {trainable}", ""])
