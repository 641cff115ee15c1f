"""``python -m tuner.export +experiment=<name>``: the best model's predictions on the
task's test split, as a leaderboard submission CSV (``filename,label``).

Example::

    submission = export(app.export_plan(compose(["+experiment=digits_cnn"])))
    submission.path, submission.test_accuracy
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from tuner.data import Dataset, load_dataset
from tuner.errors import DiskFull, TunerError, disk_full
from tuner.models.custom import shipped
from tuner.models.hyperparameters import value
from tuner.study import best_completed, check_export, open_study, trained_on
from tuner.study.records import MLFLOW_RUN_ID, PARENT_RUN_ID, hparams
from tuner.submission.members import ensemble, members
from tuner.submission.plan import ExportPlan
from tuner.submission.refit import REFIT_ARTIFACT, refit_epochs
from tuner.tracking import Tracker
from tuner.tracking.logged_model import ModelCard, card_for
from tuner.tracking.registry import register_model
from tuner.tracking.report import log_study_plots
from tuner.training.predict import predict

log = logging.getLogger("tuner.export")
INSIGHT_DIR = "best_model"
ENSEMBLE_ARTIFACT = "ensemble_model"


@dataclass(frozen=True)
class Submission:
    path: Path
    trial: int
    rows: int
    test_accuracy: float | None
    model_version: int | None = None
    insight: tuple[str, ...] = ()
    refit_epochs: int | None = None  # set when the submitted model (its best member) was refit
    trials: tuple[int, ...] = ()  # every trial whose model the submission averages (export.ensemble), best first
    tta: bool = False  # the predictions averaged each test image with its mirror (export.tta)
    link: str = ""  # the MLflow UI page of the experiment's runs (model-training view)


def registry_name(experiment: str) -> str:
    """The registered model that collects an experiment's exports: ``tuner-<experiment>``."""
    return f"tuner-{experiment}"


def export(plan: ExportPlan) -> Submission:
    """Predict the test split with the best completed trial's model (or, with ``export.refit=true``, that
    trial's configuration retrained on train + validation) and write the submission CSV.

    ``export.ensemble=k`` averages the probabilities of the best k such models (logged on the parent run
    as one MLflow Keras model named ``ensemble_model``); ``export.tta=true`` averages in the mirrored test images.
    With ``export.register`` the submitted model, an MLflow model, becomes a new version of ``tuner-<name>``."""
    name, options = plan.study.name, plan.options
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(plan.study)
    candidates = best_completed(study)
    if not candidates:
        raise TunerError(f"study '{name}' has no completed trial yet: run `python -m tuner +experiment={name}` first")
    tracker = Tracker(plan.tracking_uri, name, spool=plan.study.spool)  # sends what a run left in the spool
    data = load_dataset(plan.data, plan.seed)
    check_export(study, plan.study, trained_on(plan.data, plan.seed, plan.model, data))
    parent = study.user_attrs.get(PARENT_RUN_ID)
    with tempfile.TemporaryDirectory(prefix="tuner-export-") as tmp:
        found, refit_tags = members(plan, candidates, data, tracker, parent, Path(tmp))
        for member, model in found:
            check_fits(model, data, name, member.number)
        trial = found[0][0]
        trials = tuple(t.number for t, _ in found)
        model = found[0][1] if len(found) == 1 else ensemble([m for _, m in found], trials)
        card = card_for(data, ",".join(str(value(hparams(t), "preprocess")) for t, _ in found), *shipped(plan.model))
        labels = np.argmax(predict(model, data.x_test, options.tta), axis=1)
        path = Path(options.path) if options.path else plan.study.folder / "submission.csv"
        write_submission(path, data, labels)
        accuracy = float(np.mean(labels == data.y_test)) if data.y_test is not None else None
        tags = {"tuner.submission_trial": str(trial.number), "tuner.submission_trials": ",".join(map(str, trials)),
                "tuner.submission_tta": str(bool(options.tta)).lower(),
                "tuner.submission_refit": str(bool(options.refit)).lower(), **refit_tags}
        version, insight = None, ()
        if parent:
            tracker.log_file(parent, path)
            tracker.set_tags(parent, tags)
            if accuracy is not None:
                tracker.log_metrics(parent, {"test_accuracy": accuracy})
            if options.insight:
                try:
                    insight = _log_insight(model, data, tracker, parent, Path(tmp) / "insight")
                except Exception as err:  # noqa: BLE001 - the submission is written; say what is missing
                    log.warning("best-model insight not logged (%s: %s); the submission is written",
                                type(err).__name__, str(err).splitlines()[0][:300])
            log_study_plots(study, tracker, parent, plan.metric)
        model_run, model_id = None, None
        metrics = {"test_accuracy": accuracy} if accuracy is not None else {}
        if parent and len(found) > 1:  # the ensemble is one MLflow model of the parent run, registered or not
            model_run, model_id = parent, tracker.log_model(parent, model, card, metrics, name=ENSEMBLE_ARTIFACT)
        elif len(found) == 1 and options.register:
            model_run, model_id = _registrable(options.refit, trial, model, card, metrics, tracker, parent)
        if options.register and model_id is not None and model_run is not None:
            version = register_model(tracker, registry_name(name), model_id, model_run, {
                "tuner.experiment": name, "tuner.trial": str(trial.number), "tuner.value": str(trial.values[0]),
                "tuner.test_accuracy": str(accuracy), **tags})
            log.info("registered trial%s %s as %s version %d", "s" if len(trials) > 1 else "",
                     ", ".join(map(str, trials)), registry_name(name), version)
    tracker.finish(plan.flush_timeout)
    refit = refit_epochs(options.refit_epochs, hparams(trial)) if refit_tags else None
    return Submission(path, trial.number, len(labels), accuracy, version, insight, refit, trials, bool(options.tta),
                      tracker.ui_link())


def _registrable(refit: bool, trial: optuna.trial.FrozenTrial, model: Any, card: ModelCard,
                 metrics: dict[str, float], tracker: Tracker, parent: str | None) -> tuple[str | None, str | None]:
    """The run and the MLflow model to register for a one-model submission: the trial's own logged model, or
    (a refit, or a trial tracked before trials' models were MLflow models) ``model`` logged now with ``metrics``,
    on the parent run or the trial's run. (None, None) without a run to log it on."""
    if refit:
        if not parent:
            return None, None
        return parent, tracker.log_model(parent, model, card, metrics, name=REFIT_ARTIFACT)
    run_id = trial.user_attrs.get(MLFLOW_RUN_ID)
    if not run_id:
        return None, None
    run_id = tracker.run_of(run_id)
    model_id = tracker.trial_model(run_id)
    if model_id is None:
        log.info("trial %d has only a bare model/model.keras: logging it as an MLflow model to register it",
                 trial.number)
        model_id = tracker.log_model(run_id, model, card, metrics)
    return run_id, model_id


def check_fits(model: Any, data: Dataset, name: str, trial: int) -> None:
    """A TunerError naming the trial and both shapes when ``model`` does not take ``data``'s images (a study
    trained on other data, made before studies recorded their data)."""
    expected = tuple(model.input_shape[1:])
    if len(expected) != len(data.input_shape) or any(e not in (None, d) for e, d in zip(expected, data.input_shape)):
        raise TunerError(
            f"trial {trial} of study '{name}' has a model for images of shape {expected}, but the data configured "
            f"now has shape {data.input_shape}: the study was trained on other data; export it with the data.* "
            "settings it was run with, or run a fresh study on this data with name=<new name> and export that")


def _log_insight(model: Any, data: Dataset, tracker: Tracker, parent: str, out: Path) -> tuple[str, ...]:
    """The best model's insight figures, on the test split when its labels are known, else validation,
    logged under ``best_model/`` of the parent run."""
    from tuner.submission.insight import explain

    split, x, y = ("test", data.x_test, data.y_test) if data.y_test is not None else ("validation", data.x_val,
                                                                                         data.y_val)
    files = explain(model, x, y, data.class_names, out, split)
    tracker.log_folder(parent, out, INSIGHT_DIR)
    return tuple(f"{INSIGHT_DIR}/{f.name}" for f in files)


def write_submission(path: Path, data: Dataset, labels: np.ndarray) -> None:
    """Check the rows against the test split, then write ``filename,label`` (each label by its class name,
    ``data.class_names``: the digit itself for the built-in tasks) atomically: a temporary
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
            names = np.asarray(data.class_names)[labels.astype(int)] if len(labels) else np.array([], dtype=str)
            pd.DataFrame({"filename": list(data.test_ids), "label": names}).to_csv(out, index=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and disk_full(err) is not None:
            kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} was written"
            raise DiskFull(f"disk full: cannot write {path} ({kept}); free space on its disk, then rerun the "
                           "export") from err
        raise
