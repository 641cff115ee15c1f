"""A study and an MLflow store written before the stage redesign keep resuming and exporting.

``tests/fixtures/legacy_study.tar.gz`` was made by the code of commit c688f76 (the last one before the redesign)
in /tmp/tuner-legacy-fixture, with the overrides of ``LEGACY`` below::

    python -m tuner $LEGACY search.n_trials=2 && python -m tuner.export $LEGACY

then the parent run's plots and insight figures were removed to keep it small (the models stay).
MLflow stores artifact locations as absolute paths: the test moves them to where the copy lies.

That study records only the hash of its space and objectives; at its first resume it takes on what it is
trained on (data, seed, model: ``tuner.study.fingerprint``), and later runs on other data are refused.
"""

from __future__ import annotations

import logging
import sqlite3
import tarfile
from pathlib import Path

import mlflow
import numpy as np
import pytest

from tuner import app
from tuner.config import compose
from tuner.data import load_dataset
from tuner.errors import ConfigError, TunerError
from tuner.study.records import FINGERPRINT, TRAINED_ON

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


def test_a_pre_redesign_study_resumes_and_exports(workdir, caplog):
    unpack(workdir)
    where = [f"experiments_dir={workdir / 'experiments'}", f"tracking.uri=sqlite:///{workdir / 'mlflow.db'}"]
    cfg = compose([*LEGACY, *where, "search.n_trials=3"])
    eight = compose([*LEGACY, *where, "search.n_trials=4", "data.source=sklearn8x8"])
    with pytest.raises(TunerError, match=r"trial [01] of study 'digits_mlp' has a model for images of shape "
                                         r"\(28, 28, 1\), but the data configured now has shape \(8, 8, 1\)"):
        app.export(eight)  # the old study does not record its data yet: its models' shape is checked
    with caplog.at_level(logging.WARNING, logger="tuner.study.fingerprint"):
        study = app.join_study(cfg)
    assert "made by an older tuner" in caplog.text
    before = study.trials
    assert [t.state.name for t in before] == ["COMPLETE", "COMPLETE"]
    legacy = app.export(cfg)  # its trials have only bare model/model.keras artifacts: loaded, then logged to register
    client = mlflow.MlflowClient(cfg.tracking.uri)
    adopted = client.search_logged_models([client.get_experiment_by_name("digits_mlp").experiment_id])
    assert [m.source_run_id for m in adopted] == [before[legacy.trial].user_attrs["mlflow_run_id"]]
    mlflow.set_tracking_uri(cfg.tracking.uri)
    probs = mlflow.pyfunc.load_model(f"models:/tuner-digits_mlp/{legacy.model_version}").predict(x_test(cfg)[:4])
    assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    legacy_hash = study.user_attrs[FINGERPRINT]

    app.run_study(cfg)  # same space and objectives: the stored fingerprint matches, one more trial runs
    study = app.join_study(cfg)
    parts = study.user_attrs[TRAINED_ON]  # adopted: the config's parts at the join, the data's at the run
    assert parts["data.source"] == "mnist5k" and parts["data.input_shape"] == [28, 28, 1]
    assert len(parts["data.digest"]) == 64 and study.user_attrs[FINGERPRINT] == legacy_hash
    with pytest.raises(ConfigError, match=r'data.source \("mnist5k", now "sklearn8x8"\), .*'
                                          r"data.input_shape \(\[28, 28, 1\], now \[8, 8, 1\]\)"):
        app.run_study(eight)  # adopted, so a second resume on other data is refused before training
    after = study.trials
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
