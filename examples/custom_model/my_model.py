"""A model of your own for tuner: ``build(hp, input_shape, n_classes) -> keras.Model``.

tuner calls ``build`` once per trial with the trial's hyperparameters in ``hp`` (a plain dict: ``blocks``,
``filters``, ``dropout`` and the rest of conf/search/space/my_blocks.yaml) and puts its input stage (scaling
to [0, 1]) in front of the model, then compiles it with the trial's optimizer and learning rate.

``ChannelScale`` is a custom layer: registered with ``keras.saving.register_keras_serializable``, it loads
again with Keras' safe mode on wherever this module is importable, and tuner ships this file with every
model it logs, so ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` load it too.

Example::

    model = build({"blocks": 2, "filters": 16, "dropout": 0.1}, (28, 28, 1), 10)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="my_model")
class ChannelScale(layers.Layer):
    """Multiplies each channel by a learned factor (starting at 1)."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x: Any) -> Any:
        return x * self.scale


def build(hp: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    """``blocks`` conv-scale-pool blocks of ``filters`` filters, global average pooling, dropout, softmax."""
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(int(hp["blocks"])):
        x = layers.Conv2D(int(hp["filters"]), 3, padding="same", activation="relu")(x)
        x = ChannelScale()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(float(hp["dropout"]))(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="my_model")
