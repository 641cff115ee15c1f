"""What a newcomer sees in the MLflow UI: the link tuner prints, the experiment's kind, each run's dataset
and source, and the study's description, against a real SQLite store."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import optuna
import pytest

from tuner.data import Dataset, digest
from tuner.study.records import EXPERIMENT_KIND, TAG_EXPERIMENT_KIND
from tuner.tracking import Tracker
from tuner.tracking.datasets import dataset_input
from tuner.tracking.links import ui_hint, ui_link
from tuner.tracking.report import study_note

PAGE = "/#/experiments/7/runs?workflowType=machine_learning"


@pytest.mark.parametrize(("uri", "base"), [
    ("sqlite:///mlflow.db", "http://127.0.0.1:5000"),
    ("sqlite:////data/other.db", "http://127.0.0.1:5000"),
    ("http://mlflow.example:8080", "http://mlflow.example:8080"),
    ("https://alice:s3cret@mlflow.example/prefix/", "https://mlflow.example/prefix"),
    ("http://[::1]:5001", "http://[::1]:5001"),
])
def test_the_link_opens_the_model_training_view_on_the_right_server_without_credentials(uri, base):
    assert ui_link(uri, "7") == base + PAGE


def test_the_hint_says_what_serves_the_link_and_hides_a_password():
    assert ui_hint("sqlite:///mlflow.db") == "`mlflow ui` started in this folder"
    assert ui_hint("http://host:5000") == "the tracking server"
    hint = ui_hint("postgresql://bob:hunter2@db/mlflow")
    assert "--backend-store-uri" in hint and "hunter2" not in hint


def test_new_and_old_experiments_are_tagged_for_model_training(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    made = Tracker(uri, "fresh")
    assert client.get_experiment(made.experiment_id).tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND
    old = client.create_experiment("made_by_an_older_tuner")
    assert TAG_EXPERIMENT_KIND not in client.get_experiment(old).tags
    Tracker(uri, "made_by_an_older_tuner")
    assert client.get_experiment(old).tags[TAG_EXPERIMENT_KIND] == EXPERIMENT_KIND
    assert made.ui_link().startswith(f"http://127.0.0.1:5000/#/experiments/{made.experiment_id}/runs?")


def _dataset(n: int = 12, labelled: bool = True) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
    y = np.arange(n) % 3
    return Dataset(x, y, x[:4], y[:4], x[:5], y[:5] if labelled else None, tuple(f"{i}.png" for i in range(5)), 3)


def test_a_trial_run_records_its_dataset_with_digest_schema_and_source(tmp_path):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "digits")
    parent = tracker.open_parent(None, "study-digits")
    child = tracker.start_trial(parent, 0, {"width": 8}, {})
    data = _dataset()
    tracker.log_dataset(child, dataset_input(data, "digits/sklearn8x8", "tuner:digits/sklearn8x8", digest(data)))
    run = tracker.client.get_run(child)
    assert run.data.tags["mlflow.source.name"] == "tuner" and run.data.tags["mlflow.source.type"] == "LOCAL"
    (recorded,) = run.inputs.dataset_inputs
    entity = recorded.dataset
    assert entity.name == "digits/sklearn8x8" and digest(data).startswith(entity.digest)
    assert json.loads(entity.source) == {"uri": "tuner:digits/sklearn8x8"}
    features = json.loads(json.loads(entity.schema)["mlflow_tensorspec"]["features"])
    assert features[0]["tensor-spec"] == {"dtype": "uint8", "shape": [-1, 8, 8, 1]}
    assert json.loads(entity.profile) == {"train": 12, "validation": 4, "test": 5, "test_labelled": True,
                                          "classes": 3}
    assert {t.key: t.value for t in recorded.tags} == {"mlflow.data.context": "training"}
    other = _dataset(13)
    assert digest(other)[:36] != entity.digest


def test_the_study_note_counts_trials_by_state_and_names_the_best():
    study = optuna.create_study(study_name="note", direction="maximize")
    for value in (0.5, 0.9):
        study.add_trial(optuna.trial.create_trial(value=value, params={}, distributions={}))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, params={}, distributions={}))
    note = study_note(study, "val_accuracy", ["optimization_history.png"])
    assert note.startswith("Study **note**: 3 trials (2 COMPLETE, 1 PRUNED).")
    assert "Best val_accuracy **0.9000**: trial 1 (run `trial-0001`)" in note
    assert "optimization_history.png" in note
    empty = optuna.create_study(study_name="empty")
    assert "No trial has completed yet" in study_note(empty, "val_accuracy", [])
