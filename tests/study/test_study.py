"""End to end, in-process: real Optuna storage, real Keras training, real MLflow SQLite store."""

from __future__ import annotations

import csv

import mlflow
import numpy as np
import optuna
import pytest
from mlflow.entities import LoggedModelStatus

from tuner.app import export, join_study, run_study
from tuner.data import load_dataset
from tuner.errors import ConfigError
from tuner.tracking import Tracker

from ..runs import assert_one_parent


def runs(cfg):
    mlflow.set_tracking_uri(cfg.tracking.uri)
    return mlflow.search_runs(experiment_names=[cfg.name], output_format="pandas")


@pytest.mark.slow
def test_three_trial_study_is_tracked_and_exported(make_cfg, workdir):
    cfg = make_cfg("+experiment=digits_cnn", "search.space.filters=4")
    best = run_study(cfg)
    study = join_study(cfg)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert best == max(t.value for t in study.trials)

    parent, children = assert_one_parent(cfg.tracking.uri, cfg.name, 3)
    assert set(children["tags.optuna.state"]) == {"COMPLETE"}
    for col in ("params.width", "params.optimizer", "params.learning_rate", "params.filters", "params.seed",
                "metrics.val_accuracy", "metrics.loss", "metrics.n_params", "metrics.seconds"):
        assert children[col].notna().all(), col
    assert all(cmd.startswith("python -m tuner ") and "search.space.width=" in cmd
               for cmd in children["tags.tuner.replay"])

    client = mlflow.MlflowClient(cfg.tracking.uri)
    child = children.iloc[0]["run_id"]
    assert len(client.get_metric_history(child, "val_accuracy")) == 1  # one value per epoch
    logged = client.get_logged_model(Tracker(cfg.tracking.uri, cfg.name).trial_model(child))
    assert logged.source_run_id == child and logged.status == LoggedModelStatus.READY
    files = {a.path for a in client.list_artifacts(child, "model")}  # MLflow lists the run's model named "model"
    assert {"model/MLmodel", "model/data"} <= files and "model/model.keras" not in files  # no bare .keras beside it
    parent_files = {a.path for a in client.list_artifacts(parent["run_id"])}
    assert {"leaderboard.csv", "config.yaml", "best_params.json"} <= parent_files

    board = list(csv.DictReader(open(workdir / "experiments/digits_cnn/leaderboard.csv")))
    assert [float(r["value"]) for r in board] == sorted((t.value for t in study.trials), reverse=True)
    assert set(board[0]) >= {"trial", "state", "value", "hp.width", "n_params", "seconds", "mlflow_run_id"}

    sub = export(cfg)
    rows = list(csv.reader(open(sub.path)))
    data = load_dataset(cfg.data, cfg.seed)
    assert rows[0] == ["filename", "label"] and len(rows) - 1 == len(data.test_ids) == sub.rows
    assert [r[0] for r in rows[1:]] == list(data.test_ids)
    labels = np.array([int(r[1]) for r in rows[1:]])
    assert set(labels) <= set(range(10))
    assert sub.test_accuracy == pytest.approx(float(np.mean(labels == data.y_test)))
    assert sub.trial == study.best_trial.number
    assert "submission.csv" in {a.path for a in client.list_artifacts(parent["run_id"])}


@pytest.mark.slow
def test_rerun_resumes_to_the_total_budget(make_cfg):
    run_study(make_cfg("+experiment=digits_mlp", "search.n_trials=2"))
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=4")
    run_study(cfg)
    study = join_study(cfg)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    df = runs(cfg)
    assert df["tags.mlflow.parentRunId"].isna().sum() == 1
    assert df["tags.mlflow.parentRunId"].notna().sum() == 4
    run_study(cfg)  # budget reached: nothing more runs
    assert len(join_study(cfg).trials) == 4


@pytest.mark.slow
def test_failed_trial_is_recorded_and_the_study_goes_on(make_cfg):
    # valid 5x5 convolutions cannot fit three blocks into 8x8 images: that trial must FAIL
    cfg = make_cfg("data.source=sklearn8x8", "search.space.depth=3", "search.space.kernel_size=5",
                   "search.space.filters=4", "search.space.padding={type:categorical,choices:[same,valid]}",
                   "search.enqueue=[{padding:valid},{padding:same}]", "search.n_trials=2", "sampler=random")
    run_study(cfg)
    study = join_study(cfg)
    states = {t.number: t.state.name for t in study.trials}
    assert states[0] == "FAIL" and states[1] == "COMPLETE"
    assert "ValueError" in study.trials[0].user_attrs["fail_reason"]
    df = runs(cfg).set_index("tags.optuna.trial_number")
    assert df.loc["0", "status"] == "FAILED" and "ValueError" in df.loc["0", "tags.optuna.fail_reason"]


def test_a_study_that_only_fails_stops_with_the_reason(make_cfg):
    from tuner.errors import TunerError

    cfg = make_cfg("data.source=sklearn8x8", "search.space.depth=3", "search.space.kernel_size=5",
                   "search.space.filters=4", "search.space.padding=valid", "search.max_failures=2")
    with pytest.raises(TunerError, match="2 trials failed in a row.*ValueError"):
        run_study(cfg)
    assert [t.state.name for t in join_study(cfg).trials] == ["FAIL", "FAIL"]
    assert set(runs(cfg)["status"]) == {"FAILED"}


@pytest.mark.slow
def test_pruned_trials_count_toward_the_budget(make_cfg):
    cfg = make_cfg("+experiment=digits_mlp", "search.space.epochs=3", "search.n_trials=5",
                   "pruner=median", "pruner.n_startup_trials=1", "pruner.n_warmup_steps=0",
                   "search.space.learning_rate={type:float,low:1e-5,high:1e-1,log:true}")
    run_study(cfg)
    trials = join_study(cfg).trials
    states = [t.state.name for t in trials]
    assert "PRUNED" in states and states.count("COMPLETE") + states.count("PRUNED") == 5
    for t in trials:
        assert sorted(t.intermediate_values) == list(range(len(t.intermediate_values)))
        if t.state.name == "PRUNED":
            assert len(t.intermediate_values) < 3


@pytest.mark.slow
@pytest.mark.parametrize("epochs", [2, 3])
def test_no_trial_is_pruned_at_its_last_epoch(make_cfg, epochs):
    # the median rule from the 2nd epoch: a learning rate of 1e-7 falls below the first trial's value there;
    # with 2 epochs that is the last one, where a stop would throw away a paid-for fit, so it finishes
    cfg = make_cfg("+experiment=digits_mlp", f"search.space.epochs={epochs}", "search.n_trials=3",
                   "pruner=median", "pruner.n_startup_trials=1", "pruner.n_warmup_steps=1",
                   "search.space.learning_rate={type:float,low:1e-7,high:1e-2,log:true}",
                   # the third differs from the second, or its enqueue is skipped as a duplicate and it is sampled
                   "search.enqueue=[{learning_rate:0.01},{learning_rate:1e-7},{learning_rate:1e-7,dropout:0.0}]")
    run_study(cfg)
    trials = join_study(cfg).trials
    assert trials[1].intermediate_values[1] < trials[0].intermediate_values[1]  # the rule's case holds
    if epochs == 2:
        assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    else:
        assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "PRUNED"]
        assert all(len(t.intermediate_values) == 2 for t in trials[1:])


@pytest.mark.slow
def test_direction_mismatch_with_stored_study(make_cfg):
    run_study(make_cfg("+experiment=digits_mlp", "search.n_trials=1"))
    with pytest.raises(ConfigError, match="created with direction maximize"):
        join_study(make_cfg("+experiment=digits_mlp", "search.direction=minimize", "search.metric=val_loss"))


def test_export_without_a_completed_trial_writes_nothing(make_cfg, workdir):
    from tuner.errors import TunerError

    cfg = make_cfg("+experiment=digits_mlp")
    with pytest.raises(ConfigError, match="no study 'digits_mlp'"):
        export(cfg)
    optuna.create_study(study_name="digits_mlp", storage=join_study(cfg)._storage, load_if_exists=True)
    with pytest.raises(TunerError, match="no completed trial"):
        export(cfg)
    assert not (workdir / "experiments/digits_mlp/submission.csv").exists()


@pytest.mark.slow
def test_export_falls_back_when_the_best_model_is_missing(make_cfg, workdir):
    import shutil

    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=2")
    run_study(cfg)
    study = join_study(cfg)
    best = study.best_trial
    client = mlflow.MlflowClient(cfg.tracking.uri)
    model_id = Tracker(cfg.tracking.uri, cfg.name).trial_model(best.user_attrs["mlflow_run_id"])
    shutil.rmtree(client.get_logged_model(model_id).artifact_location.removeprefix("file://"))
    sub = export(cfg)
    assert sub.trial != best.number and sub.path.exists()
