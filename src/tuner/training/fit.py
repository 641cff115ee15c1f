"""Fit one model; return its history. No Optuna or MLflow here: the caller's
``on_epoch`` hook reports progress and may raise to stop (e.g. pruning).

The training split is fed as uint8 pixels held once (``tf.data`` on TensorFlow, a
``keras.utils.PyDataset`` on JAX and PyTorch): each epoch draws a fresh permutation of
indices and gathers whole batches; augmentation and scaling run inside the model. Optional hyperparameters shape the fit: ``lr_schedule``
(none, cosine, one_cycle, reduce_on_plateau), ``patience`` (early stopping
that restores the best epoch's weights; 0 = off), ``restore_best`` (end with the best epoch's
weights, never stopping early) and ``jit_compile`` (XLA).

Example::

    result = train(model, hp, dataset, on_epoch=lambda epoch, logs: print(epoch, logs))
    result.final("val_accuracy")  # the best epoch's when early stopping restored it, else the last
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import keras
import numpy as np

from tuner.data import Dataset
from tuner.errors import TrialFailed
from tuner.models.builder import build_optimizer
from tuner.models.hyperparameters import value
from tuner.training.scores import ClassScores

log = logging.getLogger(__name__)
EpochHook = Callable[[int, dict[str, float]], None]
LOSS = "sparse_categorical_crossentropy"
TIMED_CALLS = 3  # inference_ms: the fastest of this many timed calls, after one warm-up call
EVAL_BATCH = 1024  # validation batches: no gradients, so larger is cheaper
ONE_CYCLE_START = 25.0  # one_cycle starts at learning_rate / this, ...
ONE_CYCLE_PEAK_AT = 0.3  # ... rises linearly to learning_rate over this fraction of the steps, then cosine to ~0
PLATEAU_FACTOR = 0.5  # reduce_on_plateau: multiply the rate by this ...
PLATEAU_PATIENCE = 2  # ... after this many epochs without improvement of the monitored metric


@dataclass(frozen=True)
class TrainResult:
    history: dict[str, list[float]]
    seconds: float
    best_epoch: int | None = None  # the epoch whose weights the model holds, when early stopping restored them

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("loss", []))

    def final(self, metric: str) -> float:
        """``metric`` of the epoch the model's weights come from."""
        epoch = self.best_epoch if self.best_epoch is not None else -1
        return float(self.history[metric][epoch])

    def finals(self) -> dict[str, float]:
        """Every metric of the epoch the model's weights come from, as ``final_<metric>``."""
        return {f"final_{k}": self.final(k) for k in self.history}


class _Hook(keras.callbacks.Callback):
    def __init__(self, on_epoch: EpochHook) -> None:
        super().__init__()
        self.on_epoch = on_epoch

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        if not math.isfinite(metrics.get("loss", 0.0)):
            self.model.stop_training = True
            return
        self.on_epoch(epoch, metrics)


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool) -> Any:
    """``(images, labels)`` batches for ``model.fit``, reshuffled every epoch when ``shuffle``.

    Shuffling permutes indices, not images, and each batch is one gather, so an epoch costs
    no per-image work on the host; the shuffle seed follows ``keras.utils.set_random_seed``.
    On TensorFlow a prefetching ``tf.data.Dataset``; on the other backends an ``ArrayBatches``
    (``keras.utils.PyDataset``), so that TensorFlow is never imported there.
    """
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(x, y, batch_size, shuffle)
    import tensorflow as tf

    images, labels = tf.constant(x), tf.constant(y)
    index = tf.data.Dataset.range(len(x))
    if shuffle:
        index = index.shuffle(len(x), reshuffle_each_iteration=True)
    pick = index.batch(batch_size).map(lambda i: (tf.gather(images, i), tf.gather(labels, i)),
                                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return pick.prefetch(tf.data.AUTOTUNE)


class ArrayBatches(keras.utils.PyDataset):
    """Batches of in-memory arrays for any backend: batch ``i`` of an epoch is one gather of the uint8
    images through that epoch's permutation (drawn from a generator seeded by NumPy's global state, which
    ``keras.utils.set_random_seed`` sets)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.rng = np.random.default_rng(np.random.randint(2**31)) if shuffle else None
        self.order = self.rng.permutation(len(x)) if self.rng is not None else None

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        pick = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self.order is not None:
            pick = np.sort(self.order[pick])  # sorted: a gather in memory order
        return self.x[pick], self.y[pick]

    def on_epoch_end(self) -> None:
        if self.rng is not None:
            self.order = self.rng.permutation(len(self.x))


def learning_rate(hp: Mapping[str, Any], steps: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """``hp["learning_rate"]``, or a per-step schedule over ``steps`` optimizer steps (``lr_schedule``)."""
    rate, schedule = float(hp["learning_rate"]), value(hp, "lr_schedule")
    if schedule in ("none", "reduce_on_plateau"):  # the latter is a callback on the optimizer's rate
        return rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(steps, 1))
    if schedule == "one_cycle":
        warmup = max(int(steps * ONE_CYCLE_PEAK_AT), 1)
        return keras.optimizers.schedules.CosineDecay(rate / ONE_CYCLE_START, decay_steps=max(steps - warmup, 1),
                                                      warmup_target=rate, warmup_steps=warmup)
    raise ValueError(f"unknown lr_schedule {schedule!r}")


def compile_model(model: keras.Model, hp: Mapping[str, Any], steps: int = 1) -> None:
    """Compile with the optimizer, loss and XLA choice of ``hp``; ``steps``: optimizer steps a schedule spans."""
    jit = value(hp, "jit_compile")
    model.compile(optimizer=build_optimizer(hp["optimizer"], learning_rate(hp, steps)), loss=LOSS,
                  metrics=["accuracy"], jit_compile="auto" if jit is None else bool(jit))
    if jit and not model.jit_compile:
        log.warning("jit_compile=true ignored: Keras compiles no model with XLA under op determinism "
                    "(set device.deterministic=false) nor one with random augmentation layers (augment_*)")


def train(model: keras.Model, hp: Mapping[str, Any], data: Dataset, on_epoch: EpochHook | None = None,
          monitor: str = "val_accuracy") -> TrainResult:
    """Compile and fit ``model`` on the train split, validating every epoch.

    ``monitor`` is the metric early stopping and ``reduce_on_plateau`` watch (direction from its name,
    as Keras does: ``*acc*`` up, anything else down). Raises TrialFailed when the loss stops being finite.
    """
    validation = batches(data.x_val, data.y_val, EVAL_BATCH, shuffle=False)
    scores = ClassScores(data.x_val, data.y_val, data.n_classes)
    return _fit(model, hp, data.x_train, data.y_train, validation, int(hp["epochs"]), monitor, on_epoch, scores)


def refit(model: keras.Model, hp: Mapping[str, Any], data: Dataset, epochs: int) -> TrainResult:
    """Fit on train + validation together for ``epochs`` (no validation, so no early stopping;
    ``reduce_on_plateau`` watches the training loss)."""
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    return _fit(model, {**hp, "patience": 0, "restore_best": False}, x, y, None, epochs, "loss", None)


def _fit(model: keras.Model, hp: Mapping[str, Any], x: np.ndarray, y: np.ndarray, validation: Any, epochs: int,
         monitor: str, on_epoch: EpochHook | None, scores: ClassScores | None = None) -> TrainResult:
    batch_size = int(hp["batch_size"])
    if not model.compiled:  # a user's builder (model.builder) may return its model compiled: its choice stands
        compile_model(model, hp, steps=epochs * math.ceil(len(x) / batch_size))
    callbacks: list[keras.callbacks.Callback] = [] if scores is None else [scores]  # first: the rest see its logs
    callbacks.append(_Hook(on_epoch or (lambda epoch, logs: None)))
    mode = "max" if "acc" in monitor or "f1" in monitor else "min"
    stopper, patience = None, int(value(hp, "patience"))
    if patience > 0 or (value(hp, "restore_best") and validation is not None):
        # Keras restores the best epoch's weights at the end of fit even when it never stopped early
        stopper = keras.callbacks.EarlyStopping(monitor, patience=patience or epochs + 1, mode=mode,
                                                restore_best_weights=True)
        callbacks.append(stopper)
    if value(hp, "lr_schedule") == "reduce_on_plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor, factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE,
                                                           mode=mode))
    start = time.perf_counter()
    fit = model.fit(batches(x, y, batch_size, shuffle=True), validation_data=validation, epochs=epochs,
                    shuffle=False, verbose=0, callbacks=callbacks)  # the pipeline shuffles
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in values] for k, values in fit.history.items() if k != "learning_rate"}
    losses = history.get("loss", [])
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is not None:
        raise TrialFailed(f"loss became {losses[bad]} at epoch {bad + 1}")
    best = int(stopper.best_epoch) if stopper is not None and stopper.best_weights is not None else None
    return TrainResult(history, seconds, best)


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
