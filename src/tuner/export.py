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
from typing import Any

import hydra
import numpy as np
import optuna
import pandas as pd
from omegaconf import DictConfig

import tuner  # noqa: F401 - quiets TensorFlow before anything imports it
from tuner.config import CONF_DIR, experiment_dir, objectives, validate
from tuner.data import Dataset, load_dataset
from tuner.errors import TunerError
from tuner.report import log_study_plots
from tuner.study import best_completed, open_study
from tuner.track import Tracker

log = logging.getLogger("tuner.export")
PREDICT_BATCH = 1024
INSIGHT_DIR = "best_model"


@dataclass(frozen=True)
class Submission:
    path: Path
    trial: int
    rows: int
    test_accuracy: float | None
    model_version: int | None = None
    insight: tuple[str, ...] = ()
    refit_epochs: int | None = None  # set when the submitted model was refit on train + validation


def registry_name(experiment: str) -> str:
    """The registered model that collects an experiment's exports: ``tuner-<experiment>``."""
    return f"tuner-{experiment}"


def export(cfg: DictConfig) -> Submission:
    """Predict the test split with the best completed trial's model (or, with ``export.refit=true``, that
    trial's configuration retrained on train + validation) and write the submission CSV."""
    validate(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(cfg, create=False)
    candidates = best_completed(study)
    if not candidates:
        raise TunerError(f"study '{cfg.name}' has no completed trial yet: run `python -m tuner +experiment={cfg.name}` first")
    tracker = Tracker(cfg.tracking.uri, cfg.name)
    data = load_dataset(cfg.data, cfg.seed)
    parent = study.user_attrs.get("mlflow_parent_run_id")
    with tempfile.TemporaryDirectory(prefix="tuner-export-") as tmp:
        refit_tags: dict[str, str] = {}
        if cfg.export.refit:
            from tuner.refit import REFIT_ARTIFACT, refit_best

            trial = candidates[0]
            model, refit_tags = refit_best(cfg, trial, data, tracker, parent, Path(tmp) / "refit")
            model_run, model_artifact = parent, REFIT_ARTIFACT
        else:
            trial, model = _loadable_best(cfg.name, candidates, tracker, Path(tmp))
            model_run, model_artifact = trial.user_attrs.get("mlflow_run_id"), "model"
        labels = np.argmax(model.predict(data.x_test, batch_size=PREDICT_BATCH, verbose=0), axis=1)
        path = Path(cfg.export.path) if cfg.export.path else experiment_dir(cfg) / "submission.csv"
        write_submission(path, data, labels)
        accuracy = float(np.mean(labels == data.y_test)) if data.y_test is not None else None
        version, insight = None, ()
        if parent:
            tracker.log_file(parent, path)
            tracker.set_tags(parent, {"tuner.submission_trial": str(trial.number),
                                      "tuner.submission_refit": str(bool(cfg.export.refit)).lower()})
            if accuracy is not None:
                tracker.log_metrics(parent, {"test_accuracy": accuracy})
            if cfg.export.insight:
                try:
                    insight = _log_insight(model, data, tracker, parent, Path(tmp) / "insight")
                except Exception as err:  # noqa: BLE001 - the submission is written; say what is missing
                    log.warning("best-model insight not logged (%s: %s); the submission is written",
                                type(err).__name__, str(err).splitlines()[0][:300])
            log_study_plots(study, tracker, parent, objectives(cfg)[0][0])
        if cfg.export.register and model_run:
            version = tracker.register_model(registry_name(cfg.name), model_run, model_artifact, {
                "tuner.experiment": cfg.name, "tuner.trial": str(trial.number), "tuner.value": str(trial.values[0]),
                "tuner.test_accuracy": str(accuracy), **refit_tags})
            log.info("registered trial %d as %s version %d", trial.number, registry_name(cfg.name), version)
    refit = int(refit_tags["tuner.refit_epochs"]) if refit_tags else None
    return Submission(path, trial.number, len(labels), accuracy, version, insight, refit)


def _loadable_best(name: str, candidates: list[optuna.trial.FrozenTrial], tracker: Tracker,
                   tmp: Path) -> tuple[optuna.trial.FrozenTrial, Any]:
    """The best completed trial whose saved model loads, and that model (next-best ones when it does not)."""
    import keras

    for trial in candidates:
        run_id = trial.user_attrs.get("mlflow_run_id")
        try:
            local = tracker.download(run_id, "model/model.keras", tmp / str(trial.number))
            model = keras.saving.load_model(local, safe_mode=True)
        except Exception as err:  # noqa: BLE001 - missing or corrupt artifact: try the next-best trial
            log.warning("trial %d: its model cannot be loaded (%s); trying the next-best trial",
                        trial.number, str(err).splitlines()[0])
            continue
        if trial is not candidates[0]:
            log.warning("exporting trial %d instead of the best trial %d, whose model could not be loaded",
                        trial.number, candidates[0].number)
        return trial, model
    raise TunerError(f"none of the {len(candidates)} completed trials of '{name}' has a loadable model "
                     "(tracking.log_models=false, or the artifacts under mlruns/ were removed)")


def _log_insight(model: Any, data: Dataset, tracker: Tracker, parent: str, out: Path) -> tuple[str, ...]:
    """The best model's insight figures, on the test split when its labels are known, else validation,
    logged under ``best_model/`` of the parent run."""
    from tuner.insight import explain

    split, x, y = ("test", data.x_test, data.y_test) if data.y_test is not None else ("validation", data.x_val,
                                                                                         data.y_val)
    files = explain(model, x, y, data.n_classes, out, split)
    tracker.log_folder(parent, out, INSIGHT_DIR)
    return tuple(f"{INSIGHT_DIR}/{f.name}" for f in files)


def write_submission(path: Path, data: Dataset, labels: np.ndarray) -> None:
    """Check the rows against the test split, then write ``filename,label`` atomically: a temporary
    file in the same folder, flushed to disk, renamed over ``path``. A failure at any point leaves
    the previous ``path`` (if any) as it was and no temporary file behind."""
    labels = np.asarray(labels)
    if len(labels) != len(data.test_ids):
        raise TunerError(f"{len(labels)} predictions for {len(data.test_ids)} test images: not writing {path}")
    if len(set(data.test_ids)) != len(data.test_ids):
        raise TunerError(f"the test split has duplicate filenames: not writing {path}")
    if len(labels) and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0
                        or labels.max() >= data.n_classes):
        raise TunerError(f"a predicted label lies outside the label set 0..{data.n_classes - 1}: not writing {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as out:
            pd.DataFrame({"filename": list(data.test_ids), "label": labels.astype(int)}).to_csv(out, index=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        result = export(cfg)
    except TunerError as err:
        log.error("%s", err)
        sys.exit(2)
    accuracy = f"{result.test_accuracy:.4f}" if result.test_accuracy is not None else "unknown (no test labels)"
    refit = f" refit on train + validation for {result.refit_epochs} epochs" if result.refit_epochs else ""
    print(f"wrote {result.path} ({result.rows} rows) from trial {result.trial}{refit}; test accuracy {accuracy}")
    if result.model_version is not None:
        print(f"registered as model '{registry_name(cfg.name)}' version {result.model_version}")


if __name__ == "__main__":
    main()
