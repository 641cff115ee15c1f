"""``python -m tuner.export +experiment=<name>``: the best model's predictions on the
task's test split, as a leaderboard submission CSV (``filename,label``).

Example::

    from tuner.config import compose
    path = export(compose(["+experiment=digits_cnn"]))
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
from omegaconf import DictConfig

from tuner.config import experiment_dir, objectives, validate
from tuner.data import Dataset, load_dataset
from tuner.errors import TunerError
from tuner.export.refit import REFIT_ARTIFACT, refit_best, refit_epochs
from tuner.tracking.report import log_study_plots
from tuner.study import best_completed, open_study
from tuner.tracking.tracker import Tracker

log = logging.getLogger("tuner.export")
PREDICT_BATCH = 1024
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


def registry_name(experiment: str) -> str:
    """The registered model that collects an experiment's exports: ``tuner-<experiment>``."""
    return f"tuner-{experiment}"


def export(cfg: DictConfig) -> Submission:
    """Predict the test split with the best completed trial's model (or, with ``export.refit=true``, that
    trial's configuration retrained on train + validation) and write the submission CSV.

    ``export.ensemble=k`` averages the probabilities of the best k such models (logged on the parent run
    as one Keras model, ``ensemble_model/``); ``export.tta=true`` averages in the mirrored test images."""
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
        members, refit_tags = _members(cfg, candidates, data, tracker, parent, Path(tmp))
        trial = members[0][0]
        trials = tuple(t.number for t, _ in members)
        if len(members) == 1:
            model = members[0][1]
            model_run, model_artifact = ((parent, REFIT_ARTIFACT) if cfg.export.refit
                                         else (trial.user_attrs.get("mlflow_run_id"), "model"))
        else:
            model = ensemble([m for _, m in members], trials)
            model_run, model_artifact = parent, ENSEMBLE_ARTIFACT
            if parent:
                from tuner.training.fit import save

                tracker.log_file(parent, save(model, Path(tmp) / "ensemble"), ENSEMBLE_ARTIFACT)
        labels = np.argmax(predict(model, data.x_test, cfg.export.tta), axis=1)
        path = Path(cfg.export.path) if cfg.export.path else experiment_dir(cfg) / "submission.csv"
        write_submission(path, data, labels)
        accuracy = float(np.mean(labels == data.y_test)) if data.y_test is not None else None
        tags = {"tuner.submission_trial": str(trial.number), "tuner.submission_trials": ",".join(map(str, trials)),
                "tuner.submission_tta": str(bool(cfg.export.tta)).lower(),
                "tuner.submission_refit": str(bool(cfg.export.refit)).lower(), **refit_tags}
        version, insight = None, ()
        if parent:
            tracker.log_file(parent, path)
            tracker.set_tags(parent, tags)
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
                "tuner.test_accuracy": str(accuracy), **tags})
            log.info("registered trial%s %s as %s version %d", "s" if len(trials) > 1 else "",
                     ", ".join(map(str, trials)), registry_name(cfg.name), version)
    refit = refit_epochs(cfg, trial.user_attrs["hparams"]) if refit_tags else None
    return Submission(path, trial.number, len(labels), accuracy, version, insight, refit, trials, bool(cfg.export.tta))


def _members(cfg: DictConfig, candidates: list[optuna.trial.FrozenTrial], data: Dataset, tracker: Tracker,
             parent: str | None, tmp: Path) -> tuple[list[tuple[optuna.trial.FrozenTrial, Any]], dict[str, str]]:
    """The models to submit, best first: the best ``export.ensemble`` completed trials' saved models, or
    their configurations refit on train + validation (``export.refit``), with the refit's tags."""
    k = cfg.export.ensemble
    if not cfg.export.refit:
        members = _loadable_best(cfg.name, candidates, tracker, tmp, k)
        if len(members) < k:
            log.warning("export.ensemble=%d, but only %d completed trial%s with a loadable model: averaging those",
                        k, len(members), "s" if len(members) > 1 else "")
        return members, {}
    chosen = candidates[:k]
    if len(chosen) < k:
        log.warning("export.ensemble=%d, but the study has only %d completed trials: refitting those", k, len(chosen))
    members, tags, seconds = [], [], 0.0
    for t in chosen:
        artifact = REFIT_ARTIFACT if len(chosen) == 1 else f"{REFIT_ARTIFACT}/trial_{t.number}"
        model, member_tags, took = refit_best(cfg, t, data, tracker, parent, tmp / f"refit_{t.number}", artifact)
        members.append((t, model))
        tags.append(member_tags)
        seconds += took
    if parent:
        tracker.log_metrics(parent, {"refit_seconds": seconds})
    # one value where the members agree (epochs, images), else theirs in member order (trial, seed)
    return members, {key: tags[0][key] if len({d[key] for d in tags}) == 1 else ",".join(d[key] for d in tags)
                     for key in tags[0]}


def ensemble(models: list[Any], trials: tuple[int, ...]) -> Any:
    """One Keras model that averages ``models``' predicted probabilities; member ``i`` is named after
    ``trials[i]`` (``trial_<n>``), so the saved model says which trials it holds.

    Example::

        model = ensemble([a, b], (3, 0))   # layers: input, trial_3, trial_0, average
    """
    import keras

    inputs = keras.Input(shape=models[0].input_shape[1:])
    outputs = []
    for model, number in zip(models, trials):
        model.name = f"trial_{number}"
        outputs.append(model(inputs))
    return keras.Model(inputs, keras.layers.Average(name="average")(outputs), name="ensemble")


def predict(model: Any, x: np.ndarray, tta: bool = False) -> np.ndarray:
    """``model``'s class probabilities for ``x``; with ``tta``, the mean of those for ``x`` and for ``x``
    mirrored left to right (images are height × width × channels)."""
    probabilities = model.predict(x, batch_size=PREDICT_BATCH, verbose=0)
    if tta:
        probabilities = (probabilities + model.predict(mirror(x), batch_size=PREDICT_BATCH, verbose=0)) / 2
    return probabilities


def mirror(x: np.ndarray) -> np.ndarray:
    """Images (N × height × width × channels) mirrored left to right."""
    return x[:, :, ::-1]


def _loadable_best(name: str, candidates: list[optuna.trial.FrozenTrial], tracker: Tracker, tmp: Path,
                   k: int = 1) -> list[tuple[optuna.trial.FrozenTrial, Any]]:
    """The best ``k`` completed trials whose saved models load, with those models (next-best ones standing in
    for any that do not)."""
    import keras

    found: list[tuple[optuna.trial.FrozenTrial, Any]] = []
    for trial in candidates:
        if len(found) == k:
            break
        run_id = trial.user_attrs.get("mlflow_run_id")
        try:
            local = tracker.download(run_id, "model/model.keras", tmp / str(trial.number))
            model = keras.saving.load_model(local, safe_mode=True)
        except Exception as err:  # noqa: BLE001 - missing or corrupt artifact: try the next-best trial
            log.warning("trial %d: its model cannot be loaded (%s); trying the next-best trial",
                        trial.number, str(err).splitlines()[0])
            continue
        found.append((trial, model))
    if not found:
        raise TunerError(f"none of the {len(candidates)} completed trials of '{name}' has a loadable model "
                         "(tracking.log_models=false, or the artifacts under mlruns/ were removed)")
    if found[0][0] is not candidates[0]:
        log.warning("exporting trial %d instead of the best trial %d, whose model could not be loaded",
                    found[0][0].number, candidates[0].number)
    return found


def _log_insight(model: Any, data: Dataset, tracker: Tracker, parent: str, out: Path) -> tuple[str, ...]:
    """The best model's insight figures, on the test split when its labels are known, else validation,
    logged under ``best_model/`` of the parent run."""
    from tuner.export.insight import explain

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
