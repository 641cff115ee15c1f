"""The two kinds of failure inside a trial, kept apart (tuner.errors): the model's own errors fail that
trial and the search goes on; a TunerError or a bug in tuner's own code fails the trial and stops the run."""

from __future__ import annotations

from typing import Any

import mlflow
import optuna
import pytest

from tuner import app
from tuner.data import load_dataset
from tuner.errors import ConfigError, TrialFailed
from tuner.models.hyperparameters import value
from tuner.runner.objective import Context, is_trial_failure
from tuner.runner.optimize import open_tracked, optimize, prepare
from tuner.study.records import FAIL_REASON, PARENT_RUN_ID


def run_with_builder(cfg: Any, builder: Any) -> optuna.Study:
    """The real trial loop on ``cfg``'s study, its models built by ``builder`` (the model plug point)."""
    plan = app.plan(cfg)
    prepared = prepare(plan)
    data = load_dataset(plan.data, plan.seed)
    study, _, tracker = open_tracked(plan, prepared, data)
    parent = tracker.open_parent(None, "study")
    study.set_user_attr(PARENT_RUN_ID, parent)
    ctx = Context(plan, prepared.space, data, tracker, parent, builder=builder)
    try:
        optimize(study, ctx, progress=False)
    finally:
        tracker.close_parent(parent)
    return study


def child_statuses(cfg: Any) -> list[str]:
    mlflow.set_tracking_uri(cfg.tracking.uri)
    runs = mlflow.search_runs(experiment_names=[cfg.name], output_format="pandas")
    return list(runs[runs["tags.mlflow.parentRunId"].notna()]["status"])


@pytest.mark.slow
def test_an_impossible_model_fails_its_trial_and_the_search_goes_on(make_cfg):
    # two 5x5 "valid" conv blocks cannot fit an 8x8 image (one can): Keras itself refuses to build the model
    cfg = make_cfg("+experiment=digits_cnn", "data.source=sklearn8x8", "search.n_trials=2", "sampler=random",
                   "search.space.depth={type:int,low:1,high:2}", "search.space.padding=valid",
                   "search.space.kernel_size=5", "++search.space.filters=4",
                   "search.enqueue=[{depth:2},{depth:1}]")
    assert app.run_study(cfg) is not None  # the run ends normally, with its budget of 2 completed trials
    trials = app.join_study(cfg).trials
    assert [(t.params["depth"], t.state.name) for t in trials[:2]] == [(2, "FAIL"), (1, "COMPLETE")]
    assert [t.state.name for t in trials].count("COMPLETE") == 2
    assert all(t.params["depth"] == 2 and t.user_attrs[FAIL_REASON].startswith("ValueError: Computed output size")
               for t in trials if t.state.name == "FAIL")
    assert sorted(child_statuses(cfg)) == sorted(["FAILED" if t.state.name == "FAIL" else "FINISHED" for t in trials])


@pytest.mark.parametrize("error, kind", [
    (ConfigError("model: a bad builder setting"), ConfigError),
    (None, KeyError),  # a bug: tuner's own helper raises
])
def test_a_config_error_or_a_bug_inside_a_trial_stops_the_run_at_once(make_cfg, error, kind):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=3")

    def builder(hp: dict[str, Any], *args: Any) -> Any:
        if error is not None:
            raise error
        return value(hp, "no_such_hyperparameter")  # KeyError inside tuner.models.hyperparameters

    with pytest.raises(kind):
        run_with_builder(cfg, builder)
    study = app.join_study(cfg)
    assert [t.state.name for t in study.trials] == ["FAIL"]  # the first trial, and no other
    reason = study.trials[0].user_attrs[FAIL_REASON]
    assert reason.startswith("ConfigError: model: a bad builder" if error else "tuner error: KeyError")
    assert child_statuses(cfg) == ["FAILED"]


def test_an_error_in_the_model_code_is_the_trials_not_the_runs():
    def raise_in(where: str) -> BaseException:
        try:
            exec(compile("raise ValueError('negative dimension')", where, "exec"))
        except ValueError as err:
            return err
        raise AssertionError

    assert is_trial_failure(raise_in("/site-packages/keras/src/layers/conv.py"))
    assert not is_trial_failure(raise_in(str(app.__file__)))  # raised by tuner's own code: a bug
    assert is_trial_failure(TrialFailed("loss became nan at epoch 1"))
    assert not is_trial_failure(ConfigError("bad"))
    assert is_trial_failure(MemoryError())


def test_a_model_builder_that_does_not_exist_is_refused_before_any_data_loads(make_cfg):
    with pytest.raises(ConfigError, match="cannot build model .tuner.models.no_such_builder."):
        prepare(app.plan(make_cfg("+experiment=digits_mlp", "model._target_=tuner.models.no_such_builder")))
    with pytest.raises(ConfigError, match="model._target_=mypackage.build: a _target_ must lie inside tuner"):
        app.plan(make_cfg("+experiment=digits_mlp", "model._target_=mypackage.build"))
