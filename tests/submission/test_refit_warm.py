"""Issue 6's study-level options, end to end at tiny size: early stopping's restored epoch is what the
objective, MLflow and the saved model all report; the final refit is the model exported; warm start
enqueues a previous study's best trials that fit; a budget that completes no trial is an error."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import keras
import mlflow
import numpy as np
import optuna
import pytest

from tuner.app import export, join_study, plan, prepare, run_study
from tuner.data import load_dataset
from tuner.errors import ConfigError
from tuner.runner.loop import enqueue
from tuner.search import parse_space
from tuner.study import best_completed
from tuner.tracking import Tracker

from ..cli.test_commands import CLI_TINY, tuner


def trial_model(cfg, run_id: str, dst: Path):
    """The trial's own MLflow model (the LoggedModel its run lists), loaded as Keras with safe mode on."""
    tracker = Tracker(cfg.tracking.uri, cfg.name)
    return tracker.load_model(tracker.trial_model(run_id), dst)


def child_runs(cfg):
    mlflow.set_tracking_uri(cfg.tracking.uri)
    df = mlflow.search_runs(experiment_names=[cfg.name], output_format="pandas")
    return df, df[df["tags.mlflow.parentRunId"].notna()]


@pytest.mark.slow
def test_early_stopping_value_mlflow_and_saved_model_agree(make_cfg, tmp_path):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=1", "search.space.epochs=6", "search.space.patience=2",
                   "search.space.optimizer=sgd", "search.space.learning_rate=0.5")  # fast enough to bounce
    value = run_study(cfg)
    trial = join_study(cfg).trials[0]
    _, children = child_runs(cfg)
    child = children.iloc[0]
    client = mlflow.MlflowClient(cfg.tracking.uri)
    curve = [m.value for m in sorted(client.get_metric_history(child["run_id"], "val_accuracy"), key=lambda m: m.step)]
    assert value == trial.value == max(curve) == pytest.approx(child["metrics.final_val_accuracy"])
    assert child["metrics.best_epoch"] == int(np.argmax(curve)) + 1
    data = load_dataset(cfg.data, cfg.seed)
    _, saved = trial_model(cfg, child["run_id"], tmp_path).evaluate(data.x_val, data.y_val, verbose=0)
    assert saved == pytest.approx(value, abs=1e-6)


@pytest.mark.slow
def test_refit_is_the_model_exported_and_recorded(make_cfg, tmp_path):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=2", "export.refit=true", "export.refit_epochs=2",
                   "export.insight=false")
    run_study(cfg)
    best = best_completed(join_study(cfg))[0]
    sub = export(cfg)
    assert sub.trial == best.number and sub.refit_epochs == 2
    df, _ = child_runs(cfg)
    parent = df[df["tags.mlflow.parentRunId"].isna()].iloc[0]
    data = load_dataset(cfg.data, cfg.seed)
    client = mlflow.MlflowClient(cfg.tracking.uri)
    tags = client.get_run(parent["run_id"]).data.tags
    assert tags["tuner.submission_refit"] == "true" and tags["tuner.refit_source_trial"] == str(best.number)
    assert tags["tuner.refit_epochs"] == "2"
    assert tags["tuner.refit_images"] == str(len(data.x_train) + len(data.x_val))
    local = client.download_artifacts(parent["run_id"], "refit_model/model.keras", str(tmp_path))
    refit = keras.saving.load_model(local, safe_mode=True)
    labels = [int(r["label"]) for r in csv.DictReader(open(sub.path))]
    assert labels == list(np.argmax(refit.predict(data.x_test, verbose=0), axis=1))
    version = client.get_model_version("tuner-digits_mlp", str(sub.model_version))
    assert version.run_id == parent["run_id"] and version.tags["tuner.submission_refit"] == "true"
    mlflow.set_tracking_uri(cfg.tracking.uri)
    served = mlflow.pyfunc.load_model(f"models:/tuner-digits_mlp/{sub.model_version}").predict(data.x_test)
    np.testing.assert_allclose(served, refit.predict(data.x_test, verbose=0), atol=1e-6)  # the refit, served


def parent_tags(cfg) -> tuple[str, dict[str, str]]:
    df, _ = child_runs(cfg)
    run_id = df[df["tags.mlflow.parentRunId"].isna()].iloc[0]["run_id"]
    return run_id, mlflow.MlflowClient(cfg.tracking.uri).get_run(run_id).data.tags


def submitted(sub) -> list[int]:
    return [int(r["label"]) for r in csv.DictReader(open(sub.path))]


@pytest.mark.slow
def test_ensemble_with_tta_submits_the_mean_of_the_best_models_on_both_views(make_cfg, tmp_path):
    # digits are not mirror-safe; the override stands for a task that is (fashion, cifar10)
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=3", "data.flip_keeps_label=true",
                   "export.ensemble=2", "export.tta=true", "export.insight=false")
    run_study(cfg)
    best = best_completed(join_study(cfg))[:2]
    sub = export(cfg)
    assert sub.trials == tuple(t.number for t in best) and sub.trial == best[0].number and sub.tta
    client = mlflow.MlflowClient(cfg.tracking.uri)
    data = load_dataset(cfg.data, cfg.seed)
    x, mirrored = data.x_test, data.x_test[:, :, ::-1]
    members = [trial_model(cfg, t.user_attrs["mlflow_run_id"], tmp_path / str(t.number)) for t in best]
    plain = sum(m.predict(x, verbose=0) for m in members) / 2
    mean = (plain + sum(m.predict(mirrored, verbose=0) for m in members) / 2) / 2
    single = np.argmax(members[0].predict(x, verbose=0), axis=1)
    assert submitted(sub) == list(np.argmax(mean, axis=1))
    assert list(single) != submitted(sub)  # the average is not the best model's own answer
    assert list(np.argmax(plain, axis=1)) != submitted(sub)  # nor the members' average without the mirror
    run_id, tags = parent_tags(cfg)
    assert tags["tuner.submission_trials"] == ",".join(str(t.number) for t in best)
    assert tags["tuner.submission_tta"] == "true" and tags["tuner.submission_refit"] == "false"
    version = client.get_model_version("tuner-digits_mlp", str(sub.model_version))
    assert version.run_id == run_id and version.tags["tuner.submission_trials"] == tags["tuner.submission_trials"]
    logged = client.get_logged_model(Tracker(cfg.tracking.uri, cfg.name).trial_model(run_id))  # the parent's model
    assert logged.name == "ensemble_model" and version.source == logged.artifact_location
    saved = Tracker(cfg.tracking.uri, cfg.name).load_model(logged.model_id, tmp_path / "ensemble")
    assert [layer.name for layer in saved.layers[1:]] == [f"trial_{t.number}" for t in best] + ["average"]
    np.testing.assert_allclose(saved.predict(x, verbose=0), plain, atol=1e-6)


@pytest.mark.slow
def test_an_ensemble_of_refits_retrains_each_member(make_cfg, tmp_path):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=3", "export.refit=true", "export.refit_epochs=1",
                   "export.ensemble=2", "export.insight=false", "export.register=false")
    run_study(cfg)
    best = [t.number for t in best_completed(join_study(cfg))[:2]]
    sub = export(cfg)
    run_id, tags = parent_tags(cfg)
    assert sub.trials == tuple(best) and sub.refit_epochs == 1
    assert tags["tuner.refit_source_trial"] == tags["tuner.submission_trials"] == ",".join(map(str, best))
    client = mlflow.MlflowClient(cfg.tracking.uri)
    data = load_dataset(cfg.data, cfg.seed)
    refits = [keras.saving.load_model(client.download_artifacts(run_id, f"refit_model/trial_{n}/model.keras",
                                                                str(tmp_path / str(n))), safe_mode=True) for n in best]
    mean = sum(m.predict(data.x_test, verbose=0) for m in refits) / 2
    assert submitted(sub) == list(np.argmax(mean, axis=1))
    steps = {m.step for m in client.get_metric_history(run_id, "refit_final_loss")}
    assert steps == set(best) and "refit_seconds" in client.get_run(run_id).data.metrics


def test_bad_ensemble_and_tta_settings_name_the_key(make_cfg):
    with pytest.raises(ConfigError, match=r"export.ensemble=0: give at least 1"):
        export(make_cfg("+experiment=digits_mlp", "export.ensemble=0"))
    with pytest.raises(ConfigError, match=r"export.tta=true .* task digits \(data.flip_keeps_label=false\); "
                                          r"set export.tta=false"):
        export(make_cfg("+experiment=digits_mlp", "export.tta=true"))


def waiting(study: optuna.Study) -> list[dict]:
    return [t.system_attrs["fixed_params"] for t in study.get_trials(states=(optuna.trial.TrialState.WAITING,))]


@pytest.mark.slow
def test_warm_start_enqueues_the_best_fitting_trials_once(make_cfg, caplog):
    source = make_cfg("+experiment=digits_mlp", "search.n_trials=3")
    run_study(source)
    best = [t.params for t in best_completed(join_study(source))]

    cfg = make_cfg("+experiment=digits_mlp", "name=warm", "search.warm_start=digits_mlp", "search.warm_start_top=2")
    prepare(cfg)
    study = join_study(cfg)
    enqueue(study, plan(cfg), parse_space(cfg.search.space))
    assert waiting(study) == best[:2]
    enqueue(study, plan(cfg), parse_space(cfg.search.space))  # a rerun enqueues nothing more
    assert len(waiting(study)) == 2

    narrow = make_cfg("+experiment=digits_mlp", "name=narrow", "search.warm_start=digits_mlp",
                      "search.space.width={type:int,low:32,high:64}")  # the source's widths were 8..16
    study = join_study(narrow)
    with caplog.at_level(logging.WARNING, logger="tuner.study.warmstart"):
        enqueue(study, plan(narrow), parse_space(narrow.search.space))
    assert waiting(study) == []
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 3 and all("width=" in m and "search.space.width" in m for m in skipped)


def test_warm_start_from_a_missing_study_is_a_config_error(make_cfg, workdir):
    cfg = make_cfg("+experiment=digits_mlp", "search.warm_start=nosuch")
    with pytest.raises(ConfigError, match="search.warm_start=nosuch: no study at .*nosuch/study.journal"):
        prepare(cfg)
    assert not (workdir / "experiments/nosuch").exists()


@pytest.mark.slow
def test_a_budget_that_completes_no_trial_exits_non_zero(tmp_path: Path):
    done = tuner(tmp_path, "+experiment=digits_cnn", "search.timeout=1e-9", *CLI_TINY)
    assert done.returncode == 2, done.stderr[-3000:]
    said = done.stdout + done.stderr
    assert "no trial completed" in said and "search.timeout=1e-09" in said
    assert not (tmp_path / "experiments/digits_cnn/submission.csv").exists()


@pytest.mark.slow
def test_a_trial_running_at_the_deadline_stops_after_its_epoch_pruned(make_cfg):
    """search.timeout is a wall clock for the whole invocation, not a limit on starting trials."""
    import time

    from tuner.study.records import STOPPED_AT_DEADLINE as DEADLINE_ATTR

    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=5", "search.space.epochs=500", "search.timeout=3")
    start = time.monotonic()
    assert run_study(cfg) is None  # nothing completed: the CLI turns this into exit 2
    took = time.monotonic() - start
    trials = join_study(cfg).trials
    assert len(trials) == 1 and trials[0].state == optuna.trial.TrialState.PRUNED
    stopped = trials[0].user_attrs[DEADLINE_ATTR]
    assert 1 <= stopped < 500 and len(trials[0].intermediate_values) == stopped
    assert took < 60, f"500 epochs would take minutes; it stopped after {took:.0f} s"


@pytest.mark.parametrize("experiment", ["digits_tutorial", "fashion_cnn"])
def test_shipped_enqueued_trials_fit_their_space(make_cfg, experiment):
    cfg = make_cfg(f"+experiment={experiment}", tiny=False)
    assert len(cfg.search.enqueue) > 0
    prepare(cfg)  # raises if an enqueued value left the space


def test_fashion_cnn_holds_its_pruner_off_for_exactly_its_enqueued_trials_and_averages_them(make_cfg):
    cfg = make_cfg("+experiment=fashion_cnn", tiny=False)
    enqueued = len(cfg.search.enqueue)
    assert cfg.pruner.n_startup_trials == enqueued == cfg.export.ensemble
    assert len({tuple(sorted(item.items())) for item in cfg.search.enqueue}) == enqueued  # all different


def test_an_enqueued_value_outside_the_space_is_refused_naming_it(make_cfg):
    cfg = make_cfg("+experiment=fashion_cnn", "search.space.filters={type:categorical,choices:[24,32]}", tiny=False)
    with pytest.raises(ConfigError, match=r"search.enqueue\[0\]: its parameter filters=16 is not among "
                                          r"search.space.filters.choices \[24, 32\]"):
        prepare(cfg)
