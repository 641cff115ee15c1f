"""Scores for unbalanced classes, measured on the validation split at the end of every epoch.

``val_balanced_accuracy`` (the mean of the per-class recalls) and ``val_macro_f1`` (the unweighted mean of the
per-class F1 scores), from scikit-learn. Both join Keras' epoch logs, so a study may optimise and prune on them
(``search.metric=val_macro_f1``) and every trial's history and final metrics hold them.

Example::

    model.fit(..., callbacks=[ClassScores(data.x_val, data.y_val, data.n_classes)])
    history.history["val_macro_f1"][-1]
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from sklearn.metrics import balanced_accuracy_score, f1_score

SCORES = ("val_balanced_accuracy", "val_macro_f1")
BATCH = 1024  # no gradients: large batches are cheaper


def scores(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    """Balanced accuracy and macro F1 of the predicted labels ``y_pred`` (classes absent from both score 0).

    Example::

        scores(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0]), 2)  # {'val_balanced_accuracy': 0.5, 'val_macro_f1': 0.43}
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true": scored as it stands
        balanced = balanced_accuracy_score(y_true, y_pred)
    macro = f1_score(y_true, y_pred, labels=np.arange(n_classes), average="macro", zero_division=0)
    return {"val_balanced_accuracy": float(balanced), "val_macro_f1": float(macro)}


class ClassScores(keras.callbacks.Callback):
    """Adds ``SCORES`` to the epoch's logs; put it first, so the callbacks after it (early stopping, the trial's
    epoch hook, the history) see them."""

    def __init__(self, x_val: np.ndarray, y_val: np.ndarray, n_classes: int) -> None:
        super().__init__()
        self.x_val, self.y_val, self.n_classes = x_val, np.asarray(y_val), n_classes

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None or not len(self.y_val):
            return
        probs = self.model.predict(self.x_val, batch_size=BATCH, verbose=0)
        logs.update(scores(self.y_val, np.argmax(probs, axis=1), self.n_classes))
