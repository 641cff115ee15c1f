"""``python -m tuner.export +experiment=<name>``: the best model's predictions on the
task's test split, as a leaderboard submission CSV (``filename,label``).

Example::

    from tuner.config import compose
    path = export(compose(["+experiment=digits_cnn"]))
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import optuna
import pandas as pd
from omegaconf import DictConfig

import tuner  # noqa: F401 - quiets TensorFlow before anything imports it
from tuner.config import CONF_DIR, experiment_dir, validate
from tuner.data import Dataset, load_dataset
from tuner.errors import TunerError
from tuner.study import best_completed, open_study
from tuner.track import Tracker

log = logging.getLogger("tuner.export")
PREDICT_BATCH = 1024


@dataclass(frozen=True)
class Submission:
    path: Path
    trial: int
    rows: int
    test_accuracy: float | None


def export(cfg: DictConfig) -> Submission:
    """Predict the test split with the best completed trial's model and write the submission CSV."""
    import keras

    validate(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(cfg, create=False)
    candidates = best_completed(study)
    if not candidates:
        raise TunerError(f"study '{cfg.name}' has no completed trial yet: run `python -m tuner +experiment={cfg.name}` first")
    tracker = Tracker(cfg.tracking.uri, cfg.name)
    data = load_dataset(cfg.data, cfg.seed)
    with tempfile.TemporaryDirectory(prefix="tuner-export-") as tmp:
        for trial in candidates:
            run_id = trial.user_attrs.get("mlflow_run_id")
            try:
                local = tracker.download(run_id, "model/model.keras", Path(tmp) / str(trial.number))
                model = keras.saving.load_model(local, safe_mode=True)
            except Exception as err:  # noqa: BLE001 - missing or corrupt artifact: try the next-best trial
                log.warning("trial %d: its model cannot be loaded (%s); trying the next-best trial",
                            trial.number, str(err).splitlines()[0])
                continue
            labels = np.argmax(model.predict(data.x_test, batch_size=PREDICT_BATCH, verbose=0), axis=1)
            break
        else:
            raise TunerError(f"none of the {len(candidates)} completed trials of '{cfg.name}' has a loadable model "
                             "(tracking.log_models=false, or the artifacts under mlruns/ were removed)")
    path = Path(cfg.export.path) if cfg.export.path else experiment_dir(cfg) / "submission.csv"
    write_submission(path, data, labels)
    accuracy = float(np.mean(labels == data.y_test)) if data.y_test is not None else None
    parent = study.user_attrs.get("mlflow_parent_run_id")
    if parent:
        tracker.log_file(parent, path)
        tracker.set_tags(parent, {"tuner.submission_trial": str(trial.number)})
        if accuracy is not None:
            tracker.log_metrics(parent, {"test_accuracy": accuracy})
    return Submission(path, trial.number, len(labels), accuracy)


def write_submission(path: Path, data: Dataset, labels: np.ndarray) -> None:
    """Check the rows against the test split, then write ``filename,label`` atomically."""
    if len(labels) != len(data.test_ids):
        raise TunerError(f"{len(labels)} predictions for {len(data.test_ids)} test images")
    if len(set(data.test_ids)) != len(data.test_ids):
        raise TunerError("the test split has duplicate filenames")
    if labels.min() < 0 or labels.max() >= data.n_classes:
        raise TunerError(f"a predicted label lies outside 0..{data.n_classes - 1}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pd.DataFrame({"filename": list(data.test_ids), "label": labels.astype(int)}).to_csv(tmp, index=False)
    os.replace(tmp, path)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        result = export(cfg)
    except TunerError as err:
        log.error("%s", err)
        sys.exit(2)
    accuracy = f"{result.test_accuracy:.4f}" if result.test_accuracy is not None else "unknown (no test labels)"
    print(f"wrote {result.path} ({result.rows} rows) from trial {result.trial}; test accuracy {accuracy}")


if __name__ == "__main__":
    main()
