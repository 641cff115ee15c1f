"""The bench's "user" builder (``bench/user_builder.py``): tuner's CNN of ``MID_CNN``'s shape written as a user
would write it, ``build(hp, input_shape, n_classes) -> keras.Model``, without tuner's input stage (which
``model.builder`` puts in front of it).

Example::

    model = build(MID_CNN, (28, 28, 1), 10)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers


def build(hp: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """``depth`` conv-activation-pool blocks of ``filters``, Flatten, one dense layer, dropout, softmax."""
    inputs = keras.Input(shape=input_shape)
    x = inputs
    pool = layers.MaxPooling2D if hp["pooling"] == "max" else layers.AveragePooling2D
    for _ in range(hp["depth"]):
        x = layers.Conv2D(hp["filters"], hp["kernel_size"], padding=hp["padding"],
                          kernel_initializer=hp["initializer"])(x)
        x = layers.Activation(hp["activation"])(x)
        x = pool(pool_size=2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(hp["width"], activation=hp["activation"], kernel_initializer=hp["initializer"])(x)
    x = layers.Dropout(hp["dropout"])(x)
    outputs = layers.Dense(n_classes, activation="softmax", kernel_initializer=hp["initializer"])(x)
    return keras.Model(inputs, outputs, name="users_cnn")
