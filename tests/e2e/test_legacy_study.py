"""A study and an MLflow store written before the stage redesign keep resuming and exporting.

``tests/fixtures/legacy_study.tar.gz`` was made by the code of commit c688f76 (the last one before the redesign)
in /tmp/tuner-legacy-fixture, with the overrides of ``LEGACY`` below::

    python -m tuner $LEGACY search.n_trials=2 && python -m tuner.export $LEGACY

then the parent run's plots and insight figures were removed to keep it small (the models stay).
MLflow stores artifact locations as absolute paths: the test moves them to where the copy lies.
"""

from __future__ import annotations

import sqlite3
import tarfile
from pathlib import Path

import mlflow
import numpy as np
import pytest

from tuner import app
from tuner.config import compose
from tuner.data import load_dataset

from ..conftest import ROOT

pytestmark = pytest.mark.slow  # resumes a study (a trial trains) and exports it
MADE_IN = "/tmp/tuner-legacy-fixture"
LEGACY = ["+experiment=digits_mlp", "data.max_samples=400", "search.space.epochs=1", "search.space.batch_size=64",
          "search.space.width={type:int,low:8,high:16}", "search.space.depth=1", "pruner=none"]


def unpack(folder: Path) -> None:
    with tarfile.open(ROOT / "tests" / "fixtures" / "legacy_study.tar.gz") as archive:
        archive.extractall(folder, filter="data")
    with sqlite3.connect(folder / "mlflow.db") as db:
        db.execute("update experiments set artifact_location = replace(artifact_location, ?, ?)", (MADE_IN, str(folder)))
        db.execute("update runs set artifact_uri = replace(artifact_uri, ?, ?)", (MADE_IN, str(folder)))


def x_test(cfg):
    return load_dataset(cfg.data, cfg.seed).x_test


def test_a_pre_redesign_study_resumes_and_exports(workdir):
    unpack(workdir)
    cfg = compose([*LEGACY, f"experiments_dir={workdir / 'experiments'}",
                   f"tracking.uri=sqlite:///{workdir / 'mlflow.db'}", "search.n_trials=3"])
    before = app.join_study(cfg).trials
    assert [t.state.name for t in before] == ["COMPLETE", "COMPLETE"]
    legacy = app.export(cfg)  # its trials have only bare model/model.keras artifacts: loaded, then logged to register
    client = mlflow.MlflowClient(cfg.tracking.uri)
    adopted = client.search_logged_models([client.get_experiment_by_name("digits_mlp").experiment_id])
    assert [m.source_run_id for m in adopted] == [before[legacy.trial].user_attrs["mlflow_run_id"]]
    mlflow.set_tracking_uri(cfg.tracking.uri)
    probs = mlflow.pyfunc.load_model(f"models:/tuner-digits_mlp/{legacy.model_version}").predict(x_test(cfg)[:4])
    assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)

    app.run_study(cfg)  # same space and objectives: the stored fingerprint matches, one more trial runs
    after = app.join_study(cfg).trials
    assert [t.state.name for t in after] == ["COMPLETE"] * 3
    assert [t.user_attrs["mlflow_run_id"] for t in after[:2]] == [t.user_attrs["mlflow_run_id"] for t in before]

    submission = app.export(cfg)
    assert submission.path.is_file() and submission.rows == 60
    assert submission.model_version == legacy.model_version + 1
    probs = mlflow.pyfunc.load_model(f"models:/tuner-digits_mlp/{submission.model_version}").predict(x_test(cfg)[:4])
    assert probs.shape == (4, 10)
    mlflow.set_tracking_uri(cfg.tracking.uri)
    runs = mlflow.search_runs(experiment_names=["digits_mlp"], output_format="pandas")
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    assert len(parents) == 1  # the old parent run was reopened, not duplicated
    assert set(runs[runs["tags.mlflow.parentRunId"].notna()]["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert sorted(runs["tags.optuna.trial_number"].dropna().astype(int)) == [0, 1, 2]
