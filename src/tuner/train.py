"""Fit one model; return its history. No Optuna or MLflow here: the caller's
``on_epoch`` hook reports progress and may raise to stop (e.g. pruning).

Example::

    result = train(model, hp, dataset, on_epoch=lambda epoch, logs: print(epoch, logs))
    result.history["val_accuracy"][-1]
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import keras

from tuner.data import Dataset
from tuner.errors import TrialFailed
from tuner.model import build_optimizer

EpochHook = Callable[[int, dict[str, float]], None]
LOSS = "sparse_categorical_crossentropy"
TIMED_CALLS = 3  # inference_ms: the fastest of this many timed calls, after one warm-up call


@dataclass(frozen=True)
class TrainResult:
    history: dict[str, list[float]]
    seconds: float

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("loss", []))

    def final(self, metric: str) -> float:
        return float(self.history[metric][-1])


class _Hook(keras.callbacks.Callback):
    def __init__(self, on_epoch: EpochHook) -> None:
        super().__init__()
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = {k: float(v) for k, v in (logs or {}).items()}
        if not math.isfinite(metrics.get("loss", 0.0)):
            self.model.stop_training = True
            return
        self.on_epoch(epoch, metrics)


def compile_model(model: keras.Model, hp: Mapping[str, Any]) -> None:
    model.compile(
        optimizer=build_optimizer(hp["optimizer"], hp["learning_rate"]), loss=LOSS, metrics=["accuracy"]
    )


def train(model: keras.Model, hp: Mapping[str, Any], data: Dataset, on_epoch: EpochHook | None = None) -> TrainResult:
    """Compile and fit ``model`` on the train split, validating every epoch.

    Raises TrialFailed when the loss stops being finite.
    """
    compile_model(model, hp)
    hook = _Hook(on_epoch or (lambda epoch, logs: None))
    start = time.perf_counter()
    fit = model.fit(
        data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
        epochs=int(hp["epochs"]), batch_size=int(hp["batch_size"]), verbose=0, callbacks=[hook],
    )
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in values] for k, values in fit.history.items()}
    losses = history.get("loss", [])
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is not None:
        raise TrialFailed(f"loss became {losses[bad]} at epoch {bad + 1}")
    return TrainResult(history, seconds)


def save(model: keras.Model, folder: Path) -> Path:
    """Save ``model`` as ``folder/model.keras`` (the native format, loadable with safe_mode)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.keras"
    model.save(path)
    return path


def inference_ms(model: keras.Model, images: Any) -> float:
    """Milliseconds per image to predict ``images`` as one batch (fastest of a few calls, after a warm-up)."""
    model.predict_on_batch(images)
    times = []
    for _ in range(TIMED_CALLS):
        start = time.perf_counter()
        model.predict_on_batch(images)
        times.append(time.perf_counter() - start)
    return 1000.0 * min(times) / len(images)
