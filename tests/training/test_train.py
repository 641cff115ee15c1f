from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest

from tuner.config import compose
from tuner.data import load_dataset
from tuner.errors import TrialFailed
from tuner.models.builder import build_model, new_session
from tuner.training.fit import train
from tuner.training.scores import scores

HP = {"arch": "mlp", "width": 16, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal",
      "optimizer": "adam", "learning_rate": 1e-2, "batch_size": 64, "epochs": 2}


@pytest.fixture(scope="module")
def data():
    return load_dataset(compose(["data.max_samples=400"]).data, seed=0)


def test_history_has_every_metric_per_epoch_and_the_hook_sees_them(data):
    seen = []
    new_session(1)
    result = train(build_model(HP, data.input_shape, 10), HP, data, lambda e, logs: seen.append((e, sorted(logs))))
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "val_balanced_accuracy",
                                   "val_macro_f1"}
    assert result.epochs_run == 2 and [e for e, _ in seen] == [0, 1]
    assert seen[0][1] == ["accuracy", "loss", "val_accuracy", "val_balanced_accuracy", "val_loss", "val_macro_f1"]


def test_the_class_scores_are_those_of_the_trained_model_on_validation(data):
    new_session(1)
    model = build_model(HP, data.input_shape, 10)
    result = train(model, HP, data)
    pred = np.argmax(model.predict(data.x_val, verbose=0), axis=1)
    expected = scores(data.y_val, pred, 10)
    assert result.final("val_balanced_accuracy") == pytest.approx(expected["val_balanced_accuracy"])
    assert result.final("val_macro_f1") == pytest.approx(expected["val_macro_f1"])
    assert result.finals()["final_val_macro_f1"] == pytest.approx(expected["val_macro_f1"])


def test_class_scores_weigh_every_class_alike():
    y = np.array([0] * 9 + [1])
    always_zero = scores(y, np.zeros(10, np.int64), 2)
    assert always_zero["val_balanced_accuracy"] == pytest.approx(0.5)  # plain accuracy would say 0.9
    assert always_zero["val_macro_f1"] == pytest.approx((18 / 19 + 0) / 2)
    assert scores(y, y, 3) == {"val_balanced_accuracy": 1.0, "val_macro_f1": pytest.approx(2 / 3)}  # class 2: 0


def test_early_stopping_on_macro_f1_keeps_its_best_epoch(data):
    new_session(1)
    hp = {**HP, "epochs": 4, "patience": 1}
    result = train(build_model(hp, data.input_shape, 10), hp, data, monitor="val_macro_f1")
    f1 = result.history["val_macro_f1"]
    assert result.best_epoch is not None and f1[result.best_epoch] == max(f1)  # maximised, not minimised


def test_same_seed_same_result(data):
    values = []
    for _ in range(2):
        new_session(7)
        values.append(train(build_model(HP, data.input_shape, 10), HP, data).history["val_loss"])
    np.testing.assert_allclose(values[0], values[1], rtol=1e-5)


def test_nan_loss_fails_the_trial(data):
    exploding = dataclasses.replace(data, x_train=data.x_train * 1e30)
    hp = {**HP, "optimizer": "sgd", "learning_rate": 10.0}
    new_session(1)
    with pytest.raises(TrialFailed, match="loss became nan at epoch 1"):
        train(build_model(hp, data.input_shape, 10), hp, exploding)


def test_hook_exception_stops_training(data):
    def prune(epoch, logs):
        raise optuna.TrialPruned("stop")

    new_session(1)
    with pytest.raises(optuna.TrialPruned):
        train(build_model(HP, data.input_shape, 10), HP, data, prune)
