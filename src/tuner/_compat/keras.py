"""Keras internals tuner uses, checked against Keras 3.15 (``tests/test_compat.py`` fails on a release that
moves or renames one).

Keras imports TensorFlow wherever it is installed, on every backend: ``keras.utils.set_random_seed`` seeds
it (for ``tf.data`` pipelines), and saving a model asks ``tf.available`` (a lazy module) before serialising.
On JAX and PyTorch tuner uses no TensorFlow object, so:

- ``keep_tensorflow_unloaded()`` tells Keras' lazy module that TensorFlow is not available (once Keras
  has loaded on another backend), and
- ``set_random_seed`` does what Keras' does, without TensorFlow off its own backend.

Example::

    keep_tensorflow_unloaded()   # on jax or torch: Keras' probes no longer import TensorFlow
    set_random_seed(7)           # Python, NumPy, Keras' global seed generator, and torch on the torch backend
"""

from __future__ import annotations

import random

import keras
import numpy as np
from keras.src.backend.common import global_state
from keras.src.random import seed_generator
from keras.src.utils import module_utils, rng_utils


def keep_tensorflow_unloaded() -> None:
    """On a backend other than TensorFlow, with TensorFlow not loaded yet: Keras' checks of ``tf.available``
    answer False instead of importing TensorFlow (about 5 s and 0.5 GB per process)."""
    if keras.backend.backend() != "tensorflow" and module_utils.tensorflow.module is None:
        module_utils.tensorflow._available = False


def set_random_seed(seed: int) -> None:
    """Seed a trial as ``keras.utils.set_random_seed`` does, importing TensorFlow only on its own backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)  # recreated from the seed
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)
