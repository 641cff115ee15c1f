"""The tf.data input pipeline and the fit options it carries: learning-rate schedules, early stopping
with best-weight restore, XLA. Tiny data, a second or two per fit."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.config import compose
from tuner.data import load_dataset
from tuner.models.builder import build_model, new_session
from tuner.training.fit import (
    ONE_CYCLE_PEAK_AT,
    ONE_CYCLE_START,
    PLATEAU_FACTOR,
    batches,
    learning_rate,
    train,
)

HP = {"arch": "mlp", "width": 16, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal",
      "optimizer": "adam", "learning_rate": 1e-2, "batch_size": 64, "epochs": 2}


@pytest.fixture(scope="module")
def data():
    return load_dataset(compose(["data.max_samples=400"]).data, seed=0)


def numbered(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct uint8 images (the index written into the first two pixels) and labels index % 10."""
    x = np.zeros((n, 4, 4, 1), dtype=np.uint8)
    x[:, 0, 0, 0], x[:, 0, 1, 0] = np.arange(n) // 256, np.arange(n) % 256
    return x, (np.arange(n) % 10).astype(np.int64)


def epoch_of(ds) -> tuple[np.ndarray, np.ndarray, list[int]]:
    xs, ys = zip(*((bx.numpy(), by.numpy()) for bx, by in ds))
    return np.concatenate(xs), np.concatenate(ys), [len(b) for b in ys]


def test_pipeline_batches_hold_the_same_pixels_and_labels_as_the_arrays():
    x, y = numbered(300)
    new_session(0)
    ds = batches(x, y, 64, shuffle=True)
    first_x, first_y, sizes = epoch_of(ds)
    second_x, _, _ = epoch_of(ds)
    assert sizes == [64, 64, 64, 64, 44] and first_x.dtype == np.uint8
    index = first_x[:, 0, 0, 0].astype(int) * 256 + first_x[:, 0, 1, 0]
    assert sorted(index) == list(range(300))  # every image once per epoch
    np.testing.assert_array_equal(first_x, x[index])  # whole images, not just the numbered pixels
    np.testing.assert_array_equal(first_y, y[index])  # each label stays with its image
    assert not np.array_equal(index, np.arange(300))  # shuffled ...
    assert not np.array_equal(first_x, second_x)  # ... afresh every epoch


def test_pipeline_without_shuffling_is_the_arrays_in_order():
    x, y = numbered(130)
    got_x, got_y, sizes = epoch_of(batches(x, y, 64, shuffle=False))
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)
    assert sizes == [64, 64, 2]


def curve(schedule: str, steps: int = 100, rate: float = 0.01) -> np.ndarray:
    lr = learning_rate({"learning_rate": rate, "lr_schedule": schedule}, steps)
    return np.array([float(lr(step)) if callable(lr) else lr for step in range(steps + 1)])


def test_cosine_decays_from_the_rate_to_zero():
    c = curve("cosine")
    assert c[0] == pytest.approx(0.01) and c[50] == pytest.approx(0.005, rel=1e-3) and c[-1] == pytest.approx(0)
    assert np.all(np.diff(c) <= 1e-9)


def test_one_cycle_rises_to_the_rate_then_anneals_to_zero():
    c = curve("one_cycle")
    peak = int(np.argmax(c))
    assert peak == int(100 * ONE_CYCLE_PEAK_AT)
    assert c[peak] == pytest.approx(0.01) and c[0] == pytest.approx(0.01 / ONE_CYCLE_START)
    assert np.all(np.diff(c[:peak + 1]) > 0) and np.all(np.diff(c[peak:]) <= 1e-9)
    assert c[-1] < 1e-4 * 0.01


@pytest.mark.parametrize("schedule", ["none", "reduce_on_plateau"])
def test_a_constant_rate_is_a_number(schedule):
    assert learning_rate({"learning_rate": 0.01, "lr_schedule": schedule}, 100) == 0.01


def test_cosine_reaches_zero_at_the_last_step_of_training(data):
    hp = {**HP, "lr_schedule": "cosine", "epochs": 2}
    new_session(1)
    model = build_model(hp, data.input_shape, 10)
    train(model, hp, data)
    assert int(model.optimizer.iterations) == 2 * int(np.ceil(len(data.x_train) / 64))
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)


def test_reduce_on_plateau_halves_the_rate_when_the_metric_stalls(data):
    hp = {**HP, "learning_rate": 1e-9, "lr_schedule": "reduce_on_plateau", "epochs": 4}  # too small to improve
    new_session(1)
    model = build_model(hp, data.input_shape, 10)
    train(model, hp, data)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-9 * PLATEAU_FACTOR)


def test_early_stopping_restores_the_best_epoch_and_reports_its_values(data):
    hp = {**HP, "optimizer": "sgd", "learning_rate": 0.5, "epochs": 6, "patience": 2}  # too fast: it bounces
    new_session(3)
    model = build_model(hp, data.input_shape, 10)
    result = train(model, hp, data)
    acc = result.history["val_accuracy"]
    assert result.best_epoch == int(np.argmax(acc)) < result.epochs_run - 1  # the last epoch was worse
    assert result.final("val_accuracy") == max(acc) == result.finals()["final_val_accuracy"]
    _, held = model.evaluate(data.x_val, data.y_val, verbose=0)
    assert held == pytest.approx(max(acc), abs=1e-6)  # the weights are the best epoch's, not the last one's
    assert result.epochs_run <= result.best_epoch + 1 + 2


def test_restore_best_keeps_the_best_epoch_without_stopping_early(data):
    hp = {**HP, "optimizer": "sgd", "learning_rate": 0.5, "epochs": 6, "restore_best": True}  # it bounces
    new_session(3)
    model = build_model(hp, data.input_shape, 10)
    result = train(model, hp, data)
    acc = result.history["val_accuracy"]
    assert result.epochs_run == 6 and result.best_epoch == int(np.argmax(acc)) < 5  # ran all, kept a better one
    assert result.final("val_accuracy") == max(acc)
    _, held = model.evaluate(data.x_val, data.y_val, verbose=0)
    assert held == pytest.approx(max(acc), abs=1e-6)


def test_without_patience_the_last_epoch_counts(data):
    new_session(3)
    result = train(build_model(HP, data.input_shape, 10), HP, data)
    assert result.best_epoch is None and result.final("val_accuracy") == result.history["val_accuracy"][-1]


def test_jit_compile_is_passed_to_keras(data):
    hp = {**HP, "jit_compile": False, "epochs": 1}
    new_session(1)
    model = build_model(hp, data.input_shape, 10)
    train(model, hp, data)
    assert model.jit_compile is False


def test_mixed_precision_composes_with_the_pipeline(data):
    """What device.mixed_precision sets on a GPU, here on the CPU: uint8 batches in, float32 softmax out."""
    import keras

    hp = {**HP, "arch": "cnn", "filters": 4, "kernel_size": 3, "pooling": "max", "padding": "same",
          "batch_norm": True, "block": "double", "head": "gap", "lr_schedule": "cosine", "epochs": 1}
    try:
        keras.config.set_dtype_policy("mixed_float16")
        new_session(1)
        model = build_model(hp, data.input_shape, 10)
        result = train(model, hp, data)
        assert model.layers[-1].output.dtype == "float32" and model.layers[-2].compute_dtype == "float16"
        assert np.isfinite(result.final("loss"))
    finally:
        keras.config.set_dtype_policy("float32")
