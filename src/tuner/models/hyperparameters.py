"""What tuner's model builder accepts: every hyperparameter's type, allowed values and default.

The search space is checked against this table (``tuner.search.space``), the builder and the
training loop read optional values through ``value``. No Keras here, so parsing a space loads none.

Example::

    HYPERPARAMETERS["optimizer"].choices  # ("sgd", "sgd_momentum", ...)
    value({"arch": "cnn"}, "block")       # "single": the default of an optional hyperparameter
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

OPTIMIZERS = ("sgd", "sgd_momentum", "sgd_nesterov", "rmsprop", "adam", "adamw", "nadam")
INITIALIZERS = (
    "zeros", "random_normal", "glorot_uniform", "glorot_normal",
    "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
)
ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid")
ARCHS = ("mlp", "cnn")
PREPROCESS = ("scale", "center")
LR_SCHEDULES = ("none", "cosine", "one_cycle", "reduce_on_plateau")


@dataclass(frozen=True)
class Hyperparameter:
    """What the model builder accepts for one hyperparameter."""

    kind: type
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    cnn_only: bool = False
    default: Any = None  # what the builder uses when an optional hyperparameter is left out of the space


HYPERPARAMETERS: dict[str, Hyperparameter] = {
    "arch": Hyperparameter(str, ARCHS),
    "width": Hyperparameter(int, low=1),
    "depth": Hyperparameter(int, low=1),
    "dropout": Hyperparameter(float, low=0.0, high=0.95),
    "activation": Hyperparameter(str, ACTIVATIONS),
    "initializer": Hyperparameter(str, INITIALIZERS),
    "optimizer": Hyperparameter(str, OPTIMIZERS),
    "learning_rate": Hyperparameter(float, low=1e-7, high=10.0),
    "batch_size": Hyperparameter(int, low=1),
    "epochs": Hyperparameter(int, low=1),
    "filters": Hyperparameter(int, low=1, cnn_only=True),
    "kernel_size": Hyperparameter(int, low=1, cnn_only=True),
    "pooling": Hyperparameter(str, ("max", "avg"), cnn_only=True),
    "padding": Hyperparameter(str, ("same", "valid"), cnn_only=True),
    "batch_norm": Hyperparameter(bool, (False, True), cnn_only=True),
    # optional: the weight of the old value in batch norm's moving mean and variance, the statistics a
    # model predicts with (Keras' default 0.99 averages over about the last 100 batches, so a trial of a few
    # hundred steps is validated with statistics still near their initial 0 and 1)
    "batch_norm_momentum": Hyperparameter(float, low=0.0, high=0.999, cnn_only=True, default=0.99),
    # optional: the last conv block's kernel (default: kernel_size) and whether it pools
    "kernel_size_last": Hyperparameter(int, low=1, cnn_only=True),
    "pool_last": Hyperparameter(bool, (False, True), cnn_only=True, default=True),
    # optional input stage: scale to [0, 1] or subtract the training split's per-pixel mean (then / 255);
    # augmentation on the fly, training only: shift (fraction of the side), rotation (degrees), zoom
    # (fraction), horizontal flip (only on tasks with data.flip_keeps_label)
    "preprocess": Hyperparameter(str, PREPROCESS, default="scale"),
    "augment_shift": Hyperparameter(float, low=0.0, high=0.5, default=0.0),
    "augment_rotation": Hyperparameter(float, low=0.0, high=180.0, default=0.0),
    "augment_zoom": Hyperparameter(float, low=0.0, high=0.9, default=0.0),
    "augment_flip": Hyperparameter(bool, (False, True), default=False),
    # optional CNN shape: conv-pool or conv-conv-pool blocks, filters multiplied by filters_growth per block,
    # a Flatten or a global-average-pooling head before the dense layer
    "block": Hyperparameter(str, ("single", "double"), cnn_only=True, default="single"),
    "filters_growth": Hyperparameter(int, (1, 2), cnn_only=True, default=1),
    "head": Hyperparameter(str, ("flatten", "gap"), cnn_only=True, default="flatten"),
    # optional training: a learning-rate schedule over the planned epochs, early stopping after `patience`
    # epochs without improvement (restoring the best epoch's weights; 0 = off), restore_best (keep the best
    # epoch's weights without stopping early, the rule KerasTuner scores trials by), XLA (null = Keras'
    # choice: on with a GPU, off on a CPU)
    "lr_schedule": Hyperparameter(str, LR_SCHEDULES, default="none"),
    "patience": Hyperparameter(int, low=0, default=0),
    "restore_best": Hyperparameter(bool, (False, True), default=False),
    "jit_compile": Hyperparameter(bool, (False, True), default=None),
}


def value(hp: Mapping[str, Any], name: str) -> Any:
    """``hp[name]``, or the declared default of an optional hyperparameter left out of the space."""
    return hp[name] if name in hp else HYPERPARAMETERS[name].default
