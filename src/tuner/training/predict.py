"""Predicting with a trained model: the one helper every stage uses (export, ensembles, insight).

Example::

    probabilities = predict(model, data.x_test)            # (N, n_classes)
    probabilities = predict(model, data.x_test, tta=True)  # averaged with the mirrored images
"""

from __future__ import annotations

from typing import Any

import numpy as np

PREDICT_BATCH = 1024  # no gradients: larger batches are cheaper


def predict(model: Any, x: np.ndarray, tta: bool = False) -> np.ndarray:
    """``model``'s class probabilities for ``x``; with ``tta``, the mean of those for ``x`` and for ``x``
    mirrored left to right (images are height × width × channels)."""
    probabilities = np.asarray(model.predict(x, batch_size=PREDICT_BATCH, verbose=0))
    if tta:
        probabilities = (probabilities + np.asarray(model.predict(mirror(x), batch_size=PREDICT_BATCH, verbose=0))) / 2
    return probabilities


def mirror(x: np.ndarray) -> np.ndarray:
    """Images (N × height × width × channels) mirrored left to right."""
    return x[:, :, ::-1]
