"""``python -m tuner.studies``: listing every study and deleting one, on real journals, an Optuna SQLite
storage, MLflow's SQLite store and real (tiny) studies."""

from __future__ import annotations

import warnings

import mlflow
import optuna
import pytest
from mlflow.entities import ViewType

from tuner import app
from tuner.errors import ConfigError
from tuner.study import StudyRef, storage_for
from tuner.study.catalog import delete_study, find_studies
from tuner.tracking import Tracker
from tuner.tracking.removal import delete_experiment


def make_study(ref: StudyRef, values: list[float | None], direction: str = "maximize") -> optuna.Study:
    """A study in ``ref``'s storage with one trial per value: COMPLETE with it, FAIL for None, then one PRUNED."""
    study = optuna.create_study(study_name=ref.name, storage=storage_for(ref), direction=direction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["val_accuracy"])
    for value in values:
        trial = study.ask()
        study.tell(trial, value, state=optuna.trial.TrialState.FAIL if value is None else None)
    trial = study.ask()
    trial.report(0.1, 0)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return study


def test_list_shows_each_journal_and_rdb_study_with_trials_by_state_best_value_and_storage(tmp_path):
    experiments = str(tmp_path / "experiments")
    make_study(StudyRef("digits_cnn", experiments), [0.91, 0.97, None])
    make_study(StudyRef("fashion_mlp", experiments), [])
    rdb = f"sqlite:///{tmp_path / 'optuna.db'}"
    make_study(StudyRef("shared", experiments, rdb), [0.4, 0.2], direction="minimize")
    (tmp_path / "experiments" / "no_journal").mkdir()

    found = {info.name: info for info in find_studies(experiments, rdb)}
    assert list(found) == ["digits_cnn", "fashion_mlp", "shared"]
    assert found["digits_cnn"].states == {"COMPLETE": 2, "FAIL": 1, "PRUNED": 1}
    assert (found["digits_cnn"].metric, found["digits_cnn"].best, found["digits_cnn"].best_trial) == \
        ("val_accuracy", 0.97, 1)
    assert found["digits_cnn"].where == f"{experiments}/digits_cnn/study.journal"
    assert found["fashion_mlp"].states == {"PRUNED": 1} and found["fashion_mlp"].best is None
    assert (found["shared"].best, found["shared"].best_trial, found["shared"].where) == (0.2, 1, rdb)
    assert [i.name for i in find_studies(experiments, None)] == ["digits_cnn", "fashion_mlp"]


def test_deleting_an_unknown_study_names_the_known_ones_and_changes_nothing(tmp_path):
    experiments = str(tmp_path / "experiments")
    make_study(StudyRef("digits_cnn", experiments), [0.9])
    with pytest.raises(ConfigError, match=r"no study 'digits_cnm' in .*digits_cnm/study\.journal; the studies tuner "
                                          r"finds are: digits_cnn \(.*digits_cnn/study\.journal\)"):
        delete_study(StudyRef("digits_cnm", experiments))
    assert not (tmp_path / "experiments" / "digits_cnm").exists()
    assert [i.name for i in find_studies(experiments, None)] == ["digits_cnn"]


def test_deleting_an_rdb_study_leaves_the_others(tmp_path):
    rdb = f"sqlite:///{tmp_path / 'optuna.db'}"
    for name in ("a", "b"):
        make_study(StudyRef(name, str(tmp_path), rdb), [0.5])
    delete_study(StudyRef("a", str(tmp_path), rdb))
    assert optuna.get_all_study_names(rdb) == ["b"]


def test_delete_experiment_trashes_runs_under_a_new_name_so_the_next_tracker_starts_empty(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "digits_cnn")
    parent = tracker.open_parent(None, "study-digits_cnn")
    tracker.start_trial(parent, 0, {"width": 8}, {})
    client = mlflow.MlflowClient(uri)
    client.create_registered_model("tuner-digits_cnn")
    Tracker(uri, "fashion_mlp")

    removed = delete_experiment(uri, "digits_cnn", "tuner-digits_cnn")
    assert (removed.experiment_id, removed.runs, removed.registered_model) == \
        (tracker.experiment_id, 2, "tuner-digits_cnn")
    old = client.get_experiment(tracker.experiment_id)
    assert old.lifecycle_stage == "deleted" and old.name == removed.trashed_as
    assert removed.trashed_as.startswith("digits_cnn.deleted-")
    assert client.get_run(parent).info.lifecycle_stage == "deleted"
    assert client.search_registered_models() == []
    assert client.get_experiment_by_name("fashion_mlp") is not None

    again = Tracker(uri, "digits_cnn")
    assert again.experiment_id != tracker.experiment_id
    assert client.search_runs([again.experiment_id]) == []
    nothing = delete_experiment(uri, "never_ran", "tuner-never_ran")
    assert (nothing.experiment_id, nothing.runs, nothing.registered_model) == (None, 0, None)


@pytest.mark.slow
def test_delete_starts_the_study_afresh_and_all_also_removes_mlflow_and_the_folder(make_cfg, workdir):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=1")
    app.run(cfg)
    [info] = app.studies(cfg)
    study = optuna.load_study(study_name="digits_mlp", storage=storage_for(app.study_ref(cfg)))
    assert (info.name, info.states, info.best) == ("digits_mlp", {"COMPLETE": 1}, study.best_value)
    client = mlflow.MlflowClient(cfg.tracking.uri)
    first = client.get_experiment_by_name("digits_mlp").experiment_id
    folder = workdir / "experiments" / "digits_mlp"

    done = app.delete_study(cfg, "digits_mlp")
    assert done.study and done.tracking is None and done.folder is None
    assert "digits_mlp" not in [i.name for i in app.studies(cfg)]
    assert client.get_experiment_by_name("digits_mlp").experiment_id == first  # without --all: kept
    assert len(client.search_runs([first])) == 2 and (folder / "leaderboard.csv").is_file()

    app.run(cfg)  # the same name starts over: one new trial 0, not a resumed study
    again = optuna.load_study(study_name="digits_mlp", storage=storage_for(app.study_ref(cfg)))
    assert [t.number for t in again.trials] == [0] and again._study_id != study._study_id

    done = app.delete_study(cfg, "digits_mlp", everything=True)
    assert done.study and done.tracking is not None and done.tracking.runs == 4 and done.folder == folder
    assert not folder.exists() and app.studies(cfg) == []
    assert client.get_experiment_by_name("digits_mlp") is None
    assert {r.info.lifecycle_stage for r in client.search_runs([first], run_view_type=ViewType.ALL)} == {"deleted"}
    with pytest.raises(ConfigError, match="no study 'digits_mlp'.*the studies tuner finds are: none"):
        app.delete_study(cfg, "digits_mlp", everything=True)
