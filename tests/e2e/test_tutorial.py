"""digits_tutorial: its enqueued trials lie in its space and build the tutorial's models (not trained here)."""

from __future__ import annotations

import keras
import optuna
import pytest
from omegaconf import OmegaConf

from tuner.config import compose
from tuner.models.builder import build_model
from tuner.search.sampling import sample
from tuner.search.space import Param, parse_space


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def conv(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out + c_out


# (hidden Dense widths, dropout layers, conv kernels, epochs, parameters counted by hand)
EXPECTED = [
    ([50], 0, [], 5, dense(784, 50) + dense(50, 10)),                              # 39,760
    ([500], 0, [], 5, dense(784, 500) + dense(500, 10)),                           # wide
    ([50] * 5, 0, [], 5, dense(784, 50) + 4 * dense(50, 50) + dense(50, 10)),      # deep
    ([50] * 5, 5, [], 5, dense(784, 50) + 4 * dense(50, 50) + dense(50, 10)),      # + dropout 0.2
    ([50] * 5, 5, [], 50, dense(784, 50) + 4 * dense(50, 50) + dense(50, 10)),     # 50 epochs
    ([500] * 5, 5, [], 25, dense(784, 500) + 4 * dense(500, 500) + dense(500, 10)),  # deep and wide
    # 28 -5x5-> 24 -pool-> 12 -5x5-> 8 -pool-> 4 -4x4-> 1: flatten 25
    ([50], 0, [5, 5, 4], 5, conv(5, 1, 25) + conv(5, 25, 25) + conv(4, 25, 25) + dense(25, 50) + dense(50, 10)),
]


@pytest.fixture(scope="module")
def tutorial():
    cfg = compose(["+experiment=digits_tutorial"])
    return cfg, parse_space(cfg.search.space), [OmegaConf.to_container(p) for p in cfg.search.enqueue]


def inside(p: Param, value) -> bool:
    if p.type == "categorical":
        return value in p.choices
    if p.type == "fixed":
        return value == p.value
    on_step = p.step is None or abs((value - p.low) / p.step - round((value - p.low) / p.step)) < 1e-9
    return p.low <= value <= p.high and on_step


def test_every_enqueued_value_lies_in_the_space(tutorial):
    _, space, enqueued = tutorial
    assert len(enqueued) == len(EXPECTED)
    for params in enqueued:
        hp = sample(optuna.trial.FixedTrial(params), space)
        assert set(params) <= set(hp), "an enqueued key the trial never samples would be silently ignored"
        for name, value in params.items():
            assert space[name].type != "fixed" and inside(space[name], value), (name, value)


def test_enqueued_trials_build_the_tutorial_models(tutorial):
    cfg, space, enqueued = tutorial
    assert cfg.pruner._target_ == "optuna.pruners.NopPruner"
    for params, (widths, dropouts, kernels, epochs, n_params) in zip(enqueued, EXPECTED):
        hp = sample(optuna.trial.FixedTrial(params), space)
        assert (hp["activation"], hp["optimizer"], hp["learning_rate"], hp["batch_size"]) == ("relu", "adam", 1e-3, 128)
        assert hp["epochs"] == epochs
        model = build_model(hp, (28, 28, 1), 10)
        assert model.count_params() == n_params
        layers = model.layers
        assert [la.units for la in layers if isinstance(la, keras.layers.Dense)] == [*widths, 10]
        assert sum(isinstance(la, keras.layers.Dropout) and la.rate == pytest.approx(0.2) for la in layers) == dropouts
        assert [la.kernel_size[0] for la in layers if isinstance(la, keras.layers.Conv2D)] == kernels
        assert sum(isinstance(la, keras.layers.MaxPooling2D) for la in layers) == (2 if kernels else 0)
    assert EXPECTED[0][-1] == 39_760


@pytest.mark.slow
def test_the_study_runs_the_first_enqueued_step_as_given(make_cfg):
    from tuner.app import join_study, run_study

    cfg = make_cfg("+experiment=digits_tutorial", "data.max_samples=400", "search.n_trials=1", tiny=False)
    run_study(cfg)
    trial, *waiting = join_study(cfg).trials
    assert trial.state.name == "COMPLETE"
    assert [t.state.name for t in waiting] == ["WAITING"] * 6  # the rest of the walk, for the next run
    assert trial.params == {"arch": "mlp", "width": 50, "depth": 1, "dropout": 0.0, "epochs": 5}
    assert trial.user_attrs["n_params"] == 39_760 and trial.user_attrs["epochs_run"] == 5
