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

HP = {"arch": "mlp", "width": 16, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal",
      "optimizer": "adam", "learning_rate": 1e-2, "batch_size": 64, "epochs": 2}


@pytest.fixture(scope="module")
def data():
    return load_dataset(compose(["data.max_samples=400"]).data, seed=0)


def test_history_has_every_metric_per_epoch_and_the_hook_sees_them(data):
    seen = []
    new_session(1)
    result = train(build_model(HP, data.input_shape, 10), HP, data, lambda e, logs: seen.append((e, sorted(logs))))
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.epochs_run == 2 and [e for e, _ in seen] == [0, 1]
    assert seen[0][1] == ["accuracy", "loss", "val_accuracy", "val_loss"]


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
