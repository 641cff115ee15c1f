"""A study whose model is the user's own (model.builder): its own keys are searched and logged as MLflow params,
a builder that fails inside a trial fails that trial only, one that cannot build its model stops the run before
the first trial, and export (ensemble, refit) works on its models."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import mlflow
import pytest

from tuner import app
from tuner.errors import ConfigError
from tuner.study.records import FAIL_REASON

MODULE = '''
import keras
from keras import layers


@keras.saving.register_keras_serializable(package="users_net")
class Halve(layers.Layer):
    def call(self, x):
        return x * 0.5


def build(hp, input_shape, n_classes):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(hp["blocks"]):
        x = layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        x = Halve()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(n_classes, activation="softmax")(x))


def flaky(hp, input_shape, n_classes):
    if hp["blocks"] == 2:
        raise ValueError("two blocks are not supported")
    return build(hp, input_shape, n_classes)


def three_units(hp, input_shape, n_classes):
    return build(hp, input_shape, 3)
'''
BLOCKS = "+search.space.blocks={type:int,low:1,high:2}"


@pytest.fixture
def users_net(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = workdir / "users_net.py"
    path.write_text(textwrap.dedent(MODULE))
    monkeypatch.delitem(sys.modules, "users_net", raising=False)
    return path


def child_runs(cfg):
    mlflow.set_tracking_uri(cfg.tracking.uri)
    runs = mlflow.search_runs(experiment_names=[cfg.name], output_format="pandas")
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    return children.sort_values("tags.optuna.trial_number", key=lambda n: n.astype(int))


@pytest.mark.slow
def test_a_users_builder_searches_its_own_keys_logs_them_and_exports(make_cfg, users_net):
    cfg = make_cfg("model.builder=users_net.build", BLOCKS, "search.n_trials=2",
                   "search.enqueue=[{blocks: 1}, {blocks: 2}]")
    app.run(cfg)
    study = app.join_study(cfg)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert [t.params["blocks"] for t in study.trials] == [1, 2]
    runs = child_runs(cfg)
    assert list(runs["params.blocks"]) == ["1", "2"], "every key is an MLflow param under its own name"
    assert set(runs["params.width"]) <= {str(w) for w in range(8, 17)}
    ensemble = app.export(make_cfg("model.builder=users_net.build", BLOCKS, "export.ensemble=2"))
    assert ensemble.trials == (0, 1) and ensemble.rows > 0 and ensemble.model_version == 1
    refit = app.export(make_cfg("model.builder=users_net.build", BLOCKS, "export.refit=true"))
    assert refit.refit_epochs == 1 and refit.model_version == 2
    assert {"best_model/saliency.png", "best_model/first_conv_filters.png"} <= set(refit.insight), \
        "insight looks inside the user's nested model"
    loaded = mlflow.pyfunc.load_model(f"models:/tuner-{cfg.name}/2")
    assert loaded.metadata.metadata["custom_modules"] == ["users_net"]
    assert Path(loaded.metadata.flavors["python_function"]["loader_module"]) == Path("tuner_keras_loader")


@pytest.mark.slow
def test_a_builder_that_raises_inside_a_trial_fails_that_trial_naming_the_builder(make_cfg, users_net):
    cfg = make_cfg("model.builder=users_net.flaky", BLOCKS, "search.n_trials=2",
                   "search.enqueue=[{blocks: 2}, {blocks: 1}]")
    app.run(cfg)  # the first values (blocks=1) build: the run starts, and goes on past the failed trial
    trials = app.join_study(cfg).trials  # a failed trial does not count towards search.n_trials
    failed = trials[0]
    assert [t.state.name for t in trials[:2]] == ["FAIL", "COMPLETE"]
    assert sum(t.state.name == "COMPLETE" for t in trials) == 2
    assert all(t.state.name == "COMPLETE" for t in trials if t.params["blocks"] == 1)
    assert failed.user_attrs[FAIL_REASON] == ("model.builder=users_net.flaky raised ValueError: two blocks are not "
                                              "supported")
    assert child_runs(cfg)["tags.optuna.fail_reason"].iloc[0] == failed.user_attrs[FAIL_REASON]


@pytest.mark.slow
def test_a_builder_whose_model_does_not_fit_the_classes_stops_before_the_first_trial(make_cfg, users_net):
    cfg = make_cfg("model.builder=users_net.three_units", BLOCKS)
    with pytest.raises(ConfigError) as err:
        app.run(cfg)
    assert ("model.builder=users_net.three_units returned a model whose output has 3 units; it must end in one "
            "output of n_classes=10 units") in str(err.value)
    assert "{'arch': 'cnn'" in str(err.value) and "'blocks': 1" in str(err.value), "built with the first values"
    assert not (Path(cfg.experiments_dir) / cfg.name).exists(), "no study, no trial"


def test_a_builder_that_does_not_import_stops_before_any_data_loads(make_cfg, users_net):
    with pytest.raises(ConfigError, match="model.builder=users_nett.build: cannot import module 'users_nett'"):
        app.prepare(make_cfg("model.builder=users_nett.build", BLOCKS))
    with pytest.raises(ConfigError, match="unknown hyperparameter 'blocks' at search.space.blocks"):
        app.prepare(make_cfg(BLOCKS))


def test_a_grid_enumerates_a_users_own_keys(make_cfg, users_net):
    import optuna

    from tuner.search.samplers import grid_space

    prepared = app.prepare(make_cfg("model.builder=users_net.build", BLOCKS, "sampler=grid",
                                    "search.space.width=8", "search.space.dropout=0.0",
                                    "search.space.learning_rate=0.001"))
    assert isinstance(prepared.sampler, optuna.samplers.GridSampler)
    assert grid_space(prepared.space)["blocks"] == [1, 2]


@pytest.mark.slow
def test_worker_processes_import_the_users_builder_too(make_cfg, users_net):
    cfg = make_cfg("model.builder=users_net.build", BLOCKS, "search.n_trials=2", "search.n_workers=2")
    app.run(cfg)
    trials = app.join_study(cfg).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert {t.params["blocks"] for t in trials} <= {1, 2}
    assert list(child_runs(cfg)["params.blocks"].notna()) == [True, True]
